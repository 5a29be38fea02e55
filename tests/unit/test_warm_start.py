"""The pre-deploy Django started before its release exists (server/warm_start.py), run for real: a Python of the
venv imports Django's framework, then becomes `manage.py shell` in the new release when the venv and the
environment are the same, and execs the command itself otherwise. Either way the release's code sees what a
plain start would give it: its directory on sys.path, its argv, its .env, the request on stdin."""
import json
import os
import shlex
import sys
import textwrap
from pathlib import Path

import pytest

from deploytasks.project import Project
from deploytasks.server import warm_start
from deploytasks.shell import join

REPO = Path(__file__).resolve().parents[2]
BOOT = f"import sys; sys.path.insert(0, {str(REPO)!r}); from deploytasks.server.warm_start import main; main()"
PROBE = ("import json, os, sys; from deploytasks.server import warm_start; print(json.dumps({"
         "'early': warm_start.started_early, 'secret': os.environ.get('SECRET'), 'path0': sys.path[0], "
         "'argv': sys.argv, 'cwd': os.getcwd(), 'request': sys.stdin.readline(), "
         "'settings': sys.modules['sitesettings'].__file__}))")
ARGS = ["shell", "-v", "0", "-c", PROBE]
VENV = os.path.realpath(sys.prefix)


def release(root: Path, secret: str, manage="manage.py") -> Path:
    (root / manage).parent.mkdir(parents=True, exist_ok=True)
    (root / manage).write_text(textwrap.dedent("""\
        import os
        import sys

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sitesettings")
        from django.core.management import execute_from_command_line

        execute_from_command_line(sys.argv)
    """))
    ((root / manage).parent / "sitesettings.py").write_text('import os\nSECRET_KEY = os.environ["SECRET"]\nINSTALLED_APPS = []\n'
                                          'DATABASES = {}\nUSE_TZ = True\n')
    (root / ".env").write_text(f"SECRET={secret}\n")
    return root


def zygote_in(live: Path, boot=BOOT):
    prefix = Project(root=str(live), base_python=sys.executable).shell("exec")
    return warm_start.spawn({"command": f"{prefix} {shlex.quote(sys.executable)} -c {shlex.quote(boot)}",
                             "venv": VENV})


def order_for(root: Path, venv=VENV, manage="manage.py") -> dict:
    project = Project(root=str(root), base_python=sys.executable, manage=manage)
    return {"command": project.shell(join(sys.executable, manage, *ARGS)), "venv": venv,
            "exec_prefix": project.shell("exec"), "root": str(root), "manage": manage, "args": ARGS}


def seen(process) -> dict:
    out, err = process.communicate("the request\n", timeout=60)
    assert process.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture
def releases(tmp_path):
    return release(tmp_path / "releases" / "live", "s3cret"), release(tmp_path / "releases" / "new", "s3cret")


def test_the_python_of_the_live_venv_becomes_manage_py_shell_in_the_new_release(releases):
    live, new = releases
    order = order_for(new)
    django = warm_start.commission(zygote_in(live), order)
    assert django.args == order["command"]  # what the supervisor compares with the command it runs
    assert seen(django) == {"early": True, "secret": "s3cret", "path0": str(new), "argv": ["manage.py"] + ARGS,
                            "cwd": str(new), "request": "the request\n", "settings": str(new / "sitesettings.py")}


def test_a_manage_py_in_a_subdirectory_puts_that_directory_first_on_sys_path(tmp_path):
    live = release(tmp_path / "releases" / "live", "s3cret", manage="src/manage.py")
    new = release(tmp_path / "releases" / "new", "s3cret", manage="src/manage.py")
    answer = seen(warm_start.commission(zygote_in(live), order_for(new, manage="src/manage.py")))
    assert answer["early"] is True and answer["argv"][0] == "src/manage.py" and answer["cwd"] == str(new)
    assert answer["path0"] == str(new / "src") and answer["settings"] == str(new / "src" / "sitesettings.py")


def test_a_release_whose_environment_differs_gets_the_command_itself(releases):
    live, new = releases
    (new / ".env").write_text("SECRET=rotated\n")
    django = warm_start.commission(zygote_in(live), order_for(new))
    assert seen(django) == {"early": False, "secret": "rotated", "path0": str(new), "argv": ["manage.py"] + ARGS,
                            "cwd": str(new), "request": "the request\n", "settings": str(new / "sitesettings.py")}


def test_a_release_on_another_venv_gets_the_command_itself_and_the_zygote_ends(releases):
    live, new = releases
    zygote = zygote_in(live)
    django = warm_start.commission(zygote, order_for(new, venv="/srv/site/shared/venvs/0123456789abcdef"))
    assert django is not zygote and zygote.returncode is not None
    assert seen(django)["early"] is False


def test_a_framework_import_that_fails_gives_the_command_itself(releases):
    """A module that needs the apps loaded cannot be imported early: the shortcut is given up, not half taken."""
    live, new = releases
    boot = BOOT.replace("from deploytasks.server.warm_start import main; main()",
                        "from deploytasks.server import warm_start; warm_start.FRAMEWORK += "
                        "('django.contrib.auth.models',); warm_start.main()")
    answer = seen(warm_start.commission(zygote_in(live, boot), order_for(new)))
    assert answer["early"] is False and answer["secret"] == "s3cret" and answer["request"] == "the request\n"


def test_an_order_without_a_command_ends_the_zygote(releases):
    live, _ = releases
    zygote = zygote_in(live)
    assert warm_start.commission(zygote, {"command": None}) is None
    assert zygote.returncode is not None


def test_a_zygote_never_ordered_ends_at_its_input_s_end(releases):
    live, _ = releases
    zygote = zygote_in(live)
    out, err = zygote.communicate("", timeout=60)
    assert (zygote.returncode, out, err) == (0, "", "")
