"""The example's gunicorn.conf.py (what `deploytasks init` writes): its master-side import of Django's framework
loads every module it lists without settings and leaves settings unconfigured, so nothing of the project (or of
the environment the workers will read) is fixed in the master."""
import subprocess
import sys

from tests._util import EXAMPLE

PROBE = """
import runpy, sys
conf = runpy.run_path(sys.argv[1])
class Log:
    def info(self, message, *args):
        print(message % args)
class Server:
    log = Log()
conf["on_starting"](Server())
conf["on_reload"](Server())
from django.conf import settings
print("configured", settings.configured, len(conf["FRAMEWORK"]))
"""


def framework_import(python):
    """What the master prints and whether settings got configured, with `python` (a venv's)."""
    done = subprocess.run([python, "-c", PROBE, str(EXAMPLE / "gunicorn.conf.py")], capture_output=True, text=True,
                          timeout=120, env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_the_master_imports_every_listed_module_and_configures_no_settings():
    first, again, last = framework_import(sys.executable)
    listed = int(last.split()[-1])
    assert first == again == f"gunicorn.conf.py: Django's framework imported in the master ({listed} modules)"
    assert last.startswith("configured False")
