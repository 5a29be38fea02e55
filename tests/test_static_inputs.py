"""A release whose collectstatic would read exactly what the live release's read takes the live release's
collected files as they are (hard links), without running collectstatic; anything else collects as before.
Real files: the example project as two releases of a deploy path, collected by the server's own code with
Django set up in each release (no sshd needed)."""
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests._util import ROOT, clean_env, copy_example

COLLECT = """
import json, os, sys
sys.path.insert(0, os.getcwd())
import django
django.setup()
from deploytasks.server import static_files
print(json.dumps(static_files.collect(json.loads(sys.argv[1]))))
"""

MANIFEST_SETTINGS = """from .settings import *  # noqa: F401,F403
STORAGES = {"default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
            "staticfiles": {"BACKEND": "mysite.storage.Storage"}}
"""
PROJECT_STORAGE = """from django.contrib.staticfiles.storage import ManifestStaticFilesStorage


class Storage(ManifestStaticFilesStorage):
    manifest_strict = False
"""


def release(path, name, settings="mysite.settings"):
    """releases/<name>: the example project, with a settings module using a storage class of the project's own."""
    root = copy_example(path / "releases" / name)
    (root / "mysite" / "settings_manifest.py").write_text(MANIFEST_SETTINGS)
    (root / "mysite" / "storage.py").write_text(PROJECT_STORAGE)
    return root


def go_live(path, name):
    link = path / "current.tmp"
    link.symlink_to(Path("releases") / name)
    link.rename(path / "current")


def collect(path, name, settings="mysite.settings", hooks=None, **env):
    done = subprocess.run(
        [sys.executable, "-c", COLLECT, json.dumps({"path": str(path), "release": name, "hooks": hooks or {}})],
        cwd=path / "releases" / name, capture_output=True, text=True,
        env=clean_env(DJANGO_SETTINGS_MODULE=settings, PYTHONPATH=str(ROOT), **env))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def collected_files(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def all_shared(new, live):
    return all(os.path.samefile(new / f, live / f) for f in collected_files(new))


@pytest.mark.parametrize("settings", ["mysite.settings", "mysite.settings_manifest"])
def test_unchanged_static_inputs_take_the_live_collected_files_and_collectstatic_does_not_run(tmp_path, settings):
    path = tmp_path / "site"
    release(path, "A")
    first = collect(path, "A", settings)
    assert "static files copied" in first["collectstatic"], first
    go_live(path, "A")
    release(path, "B")  # the same sources in another directory: what a code change without static changes makes
    second = collect(path, "B", settings)
    assert "collectstatic not run" in second["collectstatic"], second
    live, new = path / "releases" / "A" / "staticfiles", path / "releases" / "B" / "staticfiles"
    assert collected_files(new) == collected_files(live) and len(collected_files(new)) == second["linked"] > 100
    assert all_shared(new, live)
    if settings.endswith("manifest"):
        assert (new / "staticfiles.json").is_file() and any(".css" in f and f.count(".") > 1 for f in collected_files(new))
    inputs = path / "releases" / "B" / ".deploytasks-static-inputs"
    assert stat.S_IMODE(inputs.stat().st_mode) == 0o600
    assert inputs.read_text() == (path / "releases" / "A" / ".deploytasks-static-inputs").read_text()


def test_a_changed_static_file_runs_collectstatic_and_links_only_the_unchanged_files(tmp_path):
    path = tmp_path / "site"
    release(path, "A")
    collect(path, "A")
    go_live(path, "A")
    changed = release(path, "B") / "static" / "css" / "site.css"
    changed.write_text(changed.read_text() + "\n/* changed */\n")
    result = collect(path, "B")
    assert "static files copied" in result["collectstatic"], result
    live, new = path / "releases" / "A" / "staticfiles", path / "releases" / "B" / "staticfiles"
    assert "changed" in (new / "css" / "site.css").read_text()
    assert not os.path.samefile(new / "css" / "site.css", live / "css" / "site.css")
    assert os.path.samefile(new / "js" / "site.js", live / "js" / "site.js")


def test_a_changed_setting_storage_class_or_an_after_collectstatic_hook_runs_collectstatic(tmp_path):
    path = tmp_path / "site"
    release(path, "A")
    collect(path, "A", "mysite.settings_manifest")
    go_live(path, "A")
    release(path, "B")
    assert "static files copied" in collect(path, "B", "mysite.settings_manifest", TIME_ZONE="Europe/Paris")["collectstatic"]
    release(path, "C")
    storage = path / "releases" / "C" / "mysite" / "storage.py"
    storage.write_text(storage.read_text() + "    # changed\n")
    assert "static files copied" in collect(path, "C", "mysite.settings_manifest")["collectstatic"]
    release(path, "D")
    hooks = {"after": {"collectstatic": [["compress", "true"]]}}
    assert "static files copied" in collect(path, "D", "mysite.settings_manifest", hooks=hooks)["collectstatic"]
    release(path, "E")  # and with none of that, the live files again
    assert "collectstatic not run" in collect(path, "E", "mysite.settings_manifest")["collectstatic"]


def test_a_live_release_without_a_record_of_its_inputs_means_collectstatic_runs(tmp_path):
    path = tmp_path / "site"
    release(path, "A")
    collect(path, "A")
    (path / "releases" / "A" / ".deploytasks-static-inputs").unlink()  # a release an earlier version deployed
    go_live(path, "A")
    release(path, "B")
    assert "static files copied" in collect(path, "B")["collectstatic"]
    assert (path / "releases" / "B" / ".deploytasks-static-inputs").is_file()
