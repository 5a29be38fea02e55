"""A deploy's supervisor started early: prepare_release starts it once the release is ready, while the client
reads prepare's answer; it loads its code and starts the new release's pre-deploy Django meanwhile, then waits
for its request on stdin, which `follow` (supervisor.py) writes. Neither start-up waits for the client any more.
Without a request (the client went away and the deploy's command ended: stdin's end) both end at once; the lock
guard removes the release and frees the lock as before.

Only the process that prepared the release (the deploy's one SSH command) holds a standby; `take` hands it over."""
import json
import os
import subprocess
import sys
from typing import Union

from .results import SupervisedDeploy, SupervisedRollback
from .runner import NO_SITE
from .subprocess_entry import end_fed

RELEASE_SLOT = "@RELEASE@"  # in the client's pre-deploy command: the release's name, which only prepare knows
ENTRY = "supervisor_standby"

_held = {}


def start(layout, release, command_template):
    """Start the standby supervisor for `release`, its pre-deploy Django being `command_template` with the
    release's name in RELEASE_SLOT (None: no pre-deploy Django started early)."""
    warm = command_template.replace(RELEASE_SLOT, release) if command_template and release_name_ok(release) else None
    try:
        with open(os.path.join(layout.lock, "supervisor.log"), "ab") as log:
            process = subprocess.Popen([sys.executable, NO_SITE, os.environ["DEPLOYTASKS_PYZ"]], stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, stderr=log, cwd=layout.path, start_new_session=True,
                                       close_fds=True)
        process.stdin.write((json.dumps({"entry": ENTRY, "params": {"warm": warm}}) + "\n").encode())
        process.stdin.flush()
    except OSError:  # no standby (it could not start, or died at once): follow starts a supervisor as before
        return
    _held["process"] = process


def release_name_ok(name):
    return bool(name) and all(char.isalnum() or char in "._-" for char in name)


def take():
    """The standby supervisor this process started, still waiting for its request; else None."""
    process = _held.pop("process", None)
    if process is None or process.poll() is not None:
        return None
    return process


def supervise_when_asked(params) -> Union[SupervisedDeploy, SupervisedRollback]:
    """Entry supervisor_standby: start the pre-deploy Django (params["warm"]) first, then load the supervisor
    and wait for its request: the supervisor's answer; at stdin's end, end both without one."""
    warm = None
    if params.get("warm"):
        warm = subprocess.Popen(params["warm"], shell=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, universal_newlines=True)
    try:
        from .supervisor import supervise_with
    except BaseException:
        end(warm)
        raise
    line = sys.stdin.readline()
    if not line.strip():
        end(warm)
        os._exit(0)  # nobody reads an answer: the command that started this one has ended
    return supervise_with(json.loads(line), warm)


def end(warm):
    """Stop a pre-deploy Django that will not be asked anything: its stdin's end makes it exit."""
    end_fed(warm, timeout=60)
