"""What a fleet host does alone when `fab` goes away in the middle of a deploy to several hosts (killed, its
connection lost, silent past the limit): its command, waiting between phases, finishes or undoes its own part and
frees its lock, so no host stays locked by a process that is gone.

The migrate host's `commit` (the moment before any host is asked to switch) is the fleet's point of no return:
- before it, every host removes its staged release and unlocks, the migrate host unapplying what it migrated
  (no host was asked to switch);
- after it, the migrate host switches at the agreed moment and records the release; a host that was asked to
  switch and is healthy records it too; a host that was not asked, or is unhealthy, goes back to its previous
  release, and the schema stays migrated.
A loss inside the few milliseconds of the switch round can leave hosts on two releases over the new schema
(`fab releases` shows the drift); it never leaves new code over the old schema.

A rollback's point of no return is the migrate host's `unapply` (the schema goes back first): after it every host
switches to the target alone; before it each stays. A host that never hears whether it came looks at the shared
schema: moved towards the target's state (within ROLLBACK_GRACE seconds) means it came."""
import os
import time

from . import client_link
from . import journal as journals
from .layout import ServerLayout
from .lock import hold_as, release_lock
from .releases import append_log, current_release
from .subprocess_entry import run_entry

HOST = {}
ROLLBACK_GRACE = 15  # seconds a rollback host waits to see the migrate host's unapply start


def begin_rollback(layout, params):
    """A fleet rollback reached its hosts' commands (locks held, confirmed): this process holds the lock (the
    lock's guard ends); losing fab from now on switches to the target or leaves the host as it is."""
    HOST.clear()
    HOST.update(path=layout.path, release=params["release"], kind="rollback", phase="held", migrates=False,
                switch=dict(params, **dict(params["forward"], path=layout.path, release=params["release"], at=0)),
                plan=params.get("plan") or [], state=params.get("state") or {},
                check_command=params["check_command"], database=params.get("database", "default"),
                log=params.get("log") or {})
    hold_as(layout, os.getpid())
    client_link.when_lost(client_lost)


def unapplying():
    """The migrate host was asked to unapply: the rollback goes forward from now on."""
    HOST.update(phase="committed", migrates=True)


def unapply_failed():
    HOST["phase"] = "held"


def begin(params):
    """Staging starts on this host: this process holds the lock from now on (the prepare's guard ends) and the
    journal names it, so the next deploy undoes this one if the process dies; losing fab undoes it at once."""
    layout = ServerLayout(params["path"])
    undo = dict(params.get("undo") or {})
    HOST.clear()
    HOST.update(path=layout.path, release=params["release"], undo=undo, phase="staged", migrates=False)
    if os.path.isdir(layout.lock):
        hold_as(layout, os.getpid())
        journals.update(layout, release=params["release"], previous=current_release(layout), kind="deploy",
                        phase="staged", unapply_command=undo.get("unapply_command"),
                        database=params.get("database", "default"), log=undo.get("log"), **journals.me())
    client_link.when_lost(client_lost)


def migrating():
    HOST["migrates"] = True


def committed(params):
    HOST.update(phase="committed", switch=params)


def switched(params, problem):
    if not HOST:  # neither staging nor a rollback's hold began in this command
        return
    HOST.update(phase="switched", switch=dict(HOST.get("switch") or {}, **params), problem=problem)
    layout = ServerLayout(HOST["path"])
    if HOST.get("kind") != "rollback" and os.path.isdir(layout.lock):  # the journal is a deploy's
        journals.update(layout, switched=True, phase="switched")


def ended():
    """The client asked for the last step (record or undo): nothing is left to do alone."""
    client_link.when_lost(None)


def client_lost(reason):
    layout = ServerLayout(HOST["path"])
    if not os.path.isdir(layout.lock):
        return
    try:
        go_on_alone(layout, reason)
    except Exception as exc:  # noqa: BLE001 - nobody reads this command's stderr any more: the deploy log says it
        log = HOST.get("log") or (HOST.get("undo") or {}).get("log") or {}
        append_log(layout, dict(log, release=HOST["release"], result="failed",
                                error="%s; finishing or undoing on this host failed: %s: %s" % (
                                    reason, type(exc).__name__, exc)))


def forward(layout, phase, note):
    """Past the point of no return: switch (unless done), and record the release when healthy. True when recorded."""
    from . import fleet_step

    if phase == "committed":
        HOST["problem"] = fleet_step.switch(layout, HOST["switch"])["problem"]
    if HOST["problem"] is not None:
        return False
    finish = dict(HOST["switch"]["complete"], path=layout.path, release=HOST["release"])
    finish["log"] = dict(finish.get("log") or {}, note=note)
    fleet_step.finish(layout, finish)
    return True


def go_on_alone(layout, reason):
    from . import fleet_step

    if HOST.get("kind") == "rollback":
        return rollback_alone(layout, reason)
    phase = HOST["phase"]
    if phase in ("committed", "switched"):
        if forward(layout, phase, "%s after the switch; this host recorded the release alone" % reason):
            return
        phase = "switched"
    back = "this host switched back" if phase == "switched" else "nothing was switched here"
    params = dict(HOST["undo"])
    params.update(HOST.get("switch") or {})
    params.update(path=layout.path, release=HOST["release"], previous=HOST["undo"].get("previous"),
                  switched=phase == "switched", migrated=HOST["migrates"] and phase == "staged",
                  reason="%s during the deploy to several hosts; %s" % (reason, back))
    fleet_step.take_back(layout, params)


def schema_moved():
    """Whether the shared schema left the live release's state towards the rollback's target (fewer of the planned
    migrations left to unapply), waiting up to ROLLBACK_GRACE seconds for the migrate host to start."""
    deadline = time.monotonic() + ROLLBACK_GRACE
    while True:
        left = run_entry(HOST["check_command"], "migrate_to_state",
                         {"state": HOST["state"], "check_only": True, "database": HOST["database"]},
                         "checking the shared schema", cwd=HOST["path"])["unapply"]
        if len(left) < len(HOST["plan"]):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(1)


def rollback_alone(layout, reason):
    phase = HOST["phase"]
    if phase == "held":
        if HOST["migrates"] or not HOST["plan"] or not schema_moved():
            append_log(layout, dict(HOST["log"], release=HOST["release"], result="failed",
                                    error="%s before the rollback changed anything; nothing was switched" % reason))
            release_lock(layout)
            return
        phase = "committed"
    if forward(layout, phase, "%s after the schema went back; this host switched and recorded the rollback alone"
               % reason):
        return
    append_log(layout, dict(HOST["log"], release=HOST["release"], result="failed",
                            error="%s; %s stays live (its schema is back) but fails its health check (%s)" % (
                                reason, HOST["release"], HOST["problem"])))
    release_lock(layout)
