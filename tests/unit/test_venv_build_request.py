"""A deploy asks prepare to build the venv in the same round trip: the command is written before the release
exists, with placeholders that the server replaces by the venv's path and the requirements hash."""
import shlex
from types import SimpleNamespace

import pytest

from deploytasks.installer import server_build_command
from deploytasks.releases import build_request
from deploytasks.server.prepare_release import build_venv


@pytest.mark.parametrize("installer", ["auto", "uv", "pip"])
@pytest.mark.parametrize("path", ["/srv/site", "/srv/my site's"])
def test_the_placeholders_replaced_give_the_command_built_with_the_real_values(path, installer, monkeypatch):
    settings = SimpleNamespace(path=path, python="python3", installer=installer, requirements="requirements/prod.txt")
    venv, digest = f"{path}/shared/venvs/0123456789abcdef", "0123456789abcdef" + "9" * 48
    seen = {}
    monkeypatch.setattr("deploytasks.server.venv_build.build", lambda layout, params: seen.update(params) or {})
    prepared = {"venv": venv, "requirements_hash": digest, "release": "20261204T000000Z",
                "release_dir": f"{path}/releases/20261204T000000Z", "revision": "abc"}
    build_venv(None, build_request(settings, {"action": "deploy"}), prepared)
    expected = server_build_command(settings, path, venv, "requirements/prod.txt", digest)
    assert shlex.split(seen["command"]) == shlex.split(expected)  # the same words, quoted alike or not
    assert seen["cwd"] == prepared["release_dir"] and seen["log"] == {"action": "deploy", "revision": "abc"}
    assert "@@" not in seen["command"]
