"""deploytasks.hooks: read and validated once (settings.py), turned into quoted shell commands (hooks.py)."""
import pytest

from deploytasks.errors import DeployTasksError
from deploytasks.hooks import command, described, for_server
from deploytasks.project import Project
from deploytasks.settings import _coerce
from deploytasks.server.hooks import failure, first_error

PROJECT = Project(root="/srv/site/releases/r1", base_python="python3", venv="/srv/site/releases/r1/.venv")


def test_hooks_are_read_from_a_mapping_or_json_text():
    hooks = {"after": {"install": ["manage.py compilemessages"]}, "before": {"switch": ["true"]}}
    assert _coerce("hooks", hooks, {}) == hooks
    assert _coerce("hooks", '{"after": {"install": ["manage.py check"]}}', {}) == {"after": {"install": ["manage.py check"]}}
    assert _coerce("hooks", {"after": {"install": None}}, {}) == {}


@pytest.mark.parametrize("value, fragment", [
    ({"after": {"deploy": ["x"]}}, "unknown step 'deploy'"),
    ({"after": {"migrat": ["x"]}}, "did you mean migrate?"),
    ({"during": {"migrate": ["x"]}}, "unknown moment 'during'"),
    ({"after": {"migrate": "x"}}, "after.migrate must be a list of commands"),
    ({"after": {"migrate": [1]}}, "after.migrate must be a list of commands"),
    ({"after": ["migrate"]}, "must map step names to lists of commands"),
    ({"after": {"migrate": ["manage.py 'unclosed"]}}, "cannot read"),
    ("{not json", "must be JSON"),
    (["x"], "must be a mapping"),
])
def test_bad_hooks_are_one_clear_error(value, fragment):
    with pytest.raises(DeployTasksError, match=None) as caught:
        _coerce("hooks", value, {})
    assert fragment in str(caught.value) and "\n" not in str(caught.value)


def test_manage_py_hooks_run_with_the_release_python_and_env_file_others_through_sh():
    manage = command(PROJECT, "manage.py compilemessages --ignore 'site packages'")
    assert manage.startswith("cd /srv/site/releases/r1 && if [ -f ./.env ]")
    assert manage.endswith("/srv/site/releases/r1/.venv/bin/python manage.py compilemessages --ignore 'site packages'")
    shell = command(PROJECT, "npm run build; echo 'done'")
    assert shell.endswith("""PATH=/srv/site/releases/r1/.venv/bin:"$PATH" sh -c 'npm run build; echo '"'"'done'"'"''""")


def test_the_server_gets_only_its_steps_with_their_commands():
    hooks = {"after": {"install": ["manage.py check"], "collectstatic": ["true"]}, "before": {"switch": ["false"]}}
    built = for_server(PROJECT, hooks)
    assert built["after"] == {"collectstatic": [["true", command(PROJECT, "true")]]}
    assert built["before"]["switch"][0][0] == "false"
    assert described(hooks, ("install", "collectstatic", "switch")) == [
        "after install: manage.py check", "after collectstatic: true", "before switch: false"]


def test_a_failure_names_the_hook_and_its_telling_line():
    assert first_error("Traceback (most recent call last):\n  x\nValueError: bad\n", "") == "ValueError: bad"
    assert first_error("", "out first\nout second") == "out first"
    assert failure("npm run build", "before", "switch", 2, "npm ERR! missing script\nmore", "") == (
        "hook 'npm run build' before switch failed (exit 2): npm ERR! missing script")
