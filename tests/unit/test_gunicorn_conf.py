"""The example's gunicorn.conf.py (what `deploytasks init` writes): its master-side import of Django's framework
loads every module it lists without settings and leaves settings unconfigured, so nothing of the project (or of
the environment the workers will read) is fixed in the master; a reload after Django's files changed (an upgrade
in place, which a reload does not load) says to restart."""
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
