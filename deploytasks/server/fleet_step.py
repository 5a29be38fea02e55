"""Entry fleet_step: one host's part of a deploy to several hosts (deploytasks/fleet_deploy.py coordinates):
`ready` (the lock and the release are there; answered at once, so the client can time the round trip),
`commit` (the migrate host only, before any host is asked to switch: from now on it goes forward alone if the
client goes away, see fleet_host.py), `switch` (switch, reload, health-check, nothing finalized), `complete`
(record, prune, log, unlock), `undo` (switch back if switched, unapply on the host that migrated, remove the
release, log, unlock); for a fleet rollback `hold` (the command takes over the lock), `unapply` (the migrate host:
the schema back to the target's state) and `back` (a rollback that did not go through: switch back, log, unlock).
Each runs under the lock the host's prepare_release (or the rollback's lock) took."""
import os
import subprocess
import time
from typing import Union

from . import fleet_host
from . import journal as journals
from .errors import ServerError
from .finalize_release import complete, switch_and_check, switch_back
from .layout import ServerLayout
from .recovery import reapply, undo
from .lock import release_lock
from .lock_guard import detached_work, wait_for_loads
from .releases import append_log, current_release
from .results import Completed, Ready, Reapplied, SchemaRollback, SwitchBack, SwitchResult, Undone
from .subprocess_entry import run_entry

MAX_WAIT = 10  # seconds a host waits for the agreed switching moment (a client clock far ahead is not obeyed)


def held(layout, release):
    if not os.path.isdir(layout.lock) or not os.path.isdir(layout.release(release)):
        raise ServerError("the deploy lock of %s or release %s is gone: another client removed it (`fab unlock "
                          "--force`?)" % (layout.path, release))


def ready(layout, params) -> Ready:
    held(layout, params["release"])
    return {"time": time.time()}


def hold(layout, params) -> Ready:
    """A fleet rollback's host command takes over its lock (see fleet_host.py)."""
    held(layout, params["release"])
    fleet_host.begin_rollback(layout, params)
    return {"time": time.time()}


def unapply(layout, params) -> SchemaRollback:
    """The migrate host's part of a fleet rollback: the schema back to the target's state, with the live release's
    code (backed up first)."""
    held(layout, params["release"])
    fleet_host.unapplying()
    request = dict(params["request"], journal=layout.path)
    # marked under the lock: should this command be killed, the unapply it started goes on, and whoever takes this
    # host back (`reapply`, an abort) waits for its end before changing the schema or freeing the lock
    process = subprocess.Popen(params["unapply_command"], shell=True, cwd=layout.path, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    with detached_work(layout.lock, process.pid):
        try:
            return run_entry(None, "migrate_to_state", request, "unapplying migrations", started=process)
        except ServerError as exc:
            # it may have stopped after unapplying some: the live code gets its schema back before any host moves
            done = live_schema_back(layout, params)
            fleet_host.unapply_failed()
            raise ServerError("%s; %s" % (exc.message, done), exc.code) from None


def live_schema_back(layout, params):
    """The live release's migrations applied again after an unapply that stopped (recovery.reapply): one phrase."""
    return reapply(layout, params["reapply_command"], params["unapply_command"], params.get("database", "default"),
                   current_release(layout), (journals.read(layout) or {}).get("backup"), half_way=True)


def reapply_left(layout, params) -> Reapplied:
    """A fleet rollback whose migrate host's command died while it unapplied: once the unapply it had started ends
    (it goes on by itself), the schema back to the live release's code (migrated forward again)."""
    held(layout, params["release"])
    if not wait_for_loads(layout.lock):
        raise ServerError("the unapply under the lock %s is still running after an hour" % layout.lock)
    return {"summary": live_schema_back(layout, params)}


def commit(layout, params) -> Ready:
    held(layout, params["release"])
    fleet_host.committed(params)
    return {"time": time.time()}


def switch(layout, params) -> SwitchResult:
    release = params["release"]
    held(layout, release)
    previous = current_release(layout)
    wait = params.get("at", 0) - time.time()  # every host switches at the moment the client named (clocks in sync)
    if wait > 0:
        time.sleep(min(wait, MAX_WAIT))
    switched_at = time.time()
    problem = switch_and_check(layout, params, release, previous)
    fleet_host.switched(params, problem)
    return {"previous": previous, "problem": problem, "switched_at": switched_at, "checked_at": time.time()}


def finish(layout, params) -> Completed:
    fleet_host.ended()
    release = params["release"]
    held(layout, release)
    return complete(layout, params, release, params.get("previous"))


def take_back(layout, params) -> Undone:
    """The deploy of params["release"] undone on this host (the journal predeploy kept says what it migrated)."""
    fleet_host.ended()
    journal = dict(journals.read(layout) or {})
    # where `current` points decides, not whether the client heard the switch answered (it may have failed after)
    switched = params.get("switched", False) or current_release(layout) == params["release"]
    journal.update(release=params["release"], previous=params.get("previous"), switched=switched,
                   unapply_command=params["unapply_command"], database=params.get("database", "default"),
                   log=params.get("log"))
    if not params.get("migrated"):
        journal["migrate_started"] = False
    return undo(layout, journal, params, params["reason"], params.get("result", "failed"))


def back(layout, params) -> Union[SwitchBack, dict]:
    """A rollback that did not go through: `current` back to params["previous"], logged, unlocked (the release
    switched to stays: it is an older one)."""
    fleet_host.ended()
    done = switch_back(layout, params, params["previous"]) if params.get("switched") else {}
    append_log(layout, dict(params.get("log") or {}, result="failed", error=params["reason"]))
    release_lock(layout)
    return done


ACTIONS = {"ready": ready, "hold": hold, "unapply": unapply, "reapply": reapply_left, "commit": commit,
           "switch": switch, "complete": finish, "undo": take_back, "back": back}


def main(params):
    layout = ServerLayout(params["path"])
    os.chdir(layout.path)  # as the one-host deploy's supervisor: commands and hooks never work in a release
    return ACTIONS[params["action"]](layout, params)
