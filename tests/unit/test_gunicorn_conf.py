"""The example's gunicorn.conf.py (what `deploytasks init` writes): its master-side import of Django's framework
loads every module it lists without settings and leaves settings unconfigured, so nothing of the project (or of
the environment the workers will read) is fixed in the master; a reload after Django's files changed (an upgrade
in place, which a reload does not load) says to restart."""
import json
import subprocess
import sys

from tests._util import EXAMPLE

PROBE = """
import runpy, sys
conf = runpy.run_path(sys.argv[1])
class Log:
    def info(self, message, *args):
        print(message % args)
    warning = info
class Server:
    log = Log()
server = Server()
conf["on_starting"](server)
conf["on_reload"](server)
from django.conf import settings
print("configured", settings.configured, len(conf["FRAMEWORK"]))
server.django_files = (0, 0)  # as if Django had been upgraded in place since the start
runpy.run_path(sys.argv[1])["on_reload"](server)  # gunicorn reads the file again on a reload
"""


def framework_import(python):
    """What the master logs on start, on a reload, whether settings got configured (and how many modules are
    listed), then on a reload after Django's files changed; with `python` (a venv's)."""
    done = subprocess.run([python, "-c", PROBE, str(EXAMPLE / "gunicorn.conf.py")], capture_output=True, text=True,
                          timeout=120, env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_the_master_imports_every_listed_module_and_configures_no_settings():
    first, again, configured, *changed = framework_import(sys.executable)
    listed = int(configured.split()[-1])
    assert first == again == f"gunicorn.conf.py: Django's framework imported in the master ({listed} modules)"
    assert configured.startswith("configured False")
    assert changed[0] == first and "Django's files changed since gunicorn started" in changed[1], changed


HANDOVER = """
import json, os, runpy, sys
conf = runpy.run_path(sys.argv[1])
class Cfg:
    pidfile = sys.argv[2]
    env_orig = {"SECRET_KEY": "old", "REMOVED": "yes", "PATH": "/usr/bin"}
class Server:
    cfg = Cfg()
    START_CTX = {0: "/old/venv/bin/python", "args": ["/old/venv/bin/python", "gunicorn"], "cwd": sys.argv[3]}
server = Server()
conf["pre_exec"](server)
print(json.dumps([server.cfg.env_orig, server.START_CTX[0], os.path.exists(sys.argv[2] + ".environ")]))
"""


def pre_exec(tmp_path, handed):
    """gunicorn.conf.py's pre_exec as USR2 runs it in the new master before exec: the environment it leaves for the
    exec, the Python it execs, and whether the file deploy/gunicorn.sh handed over is still there."""
    release = tmp_path / "release"
    (release / ".venv" / "bin").mkdir(parents=True)
    (release / ".venv" / "bin" / "python").write_text("")
    pidfile = tmp_path / "gunicorn.pid"
    if handed is not None:
        (tmp_path / "gunicorn.pid.environ").write_bytes(handed)
    done = subprocess.run([sys.executable, "-c", HANDOVER, str(EXAMPLE / "gunicorn.conf.py"), str(pidfile),
                           str(release)], capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_new_master_gets_the_environment_handed_over_and_none_of_gunicorns_own(tmp_path):
    """deploy/gunicorn.sh hands over `env -0` of shared/.env exported now: it replaces the old master's environment
    (a changed value in, a removed one out); variables gunicorn sets itself are its to set, not carried over."""
    handed = b"PATH=/usr/bin\0SECRET_KEY=new\0MULTI=a\nb=c\0GUNICORN_FD=3\0GUNICORN_PID=1\0LISTEN_FDS=1\0"
    environ, python, left = pre_exec(tmp_path, handed)
    assert environ == {"PATH": "/usr/bin", "SECRET_KEY": "new", "MULTI": "a\nb=c"}
    assert python == str(tmp_path / "release" / ".venv" / "bin" / "python") and left is False


def test_without_a_handed_over_environment_the_new_master_keeps_the_old_ones(tmp_path):
    """A USR2 sent by hand (no file beside the pid file): gunicorn's own behaviour, the master's environment."""
    environ, _, left = pre_exec(tmp_path, None)
    assert environ == {"SECRET_KEY": "old", "REMOVED": "yes", "PATH": "/usr/bin"} and left is False
