"""Entries: a deploy's server side after prepare, owned by the server. `deploy_supervised` (the SSH command)
starts `supervisor` as its own session (setsid; stderr to {lock}/supervisor.log) and relays its answer; the
supervisor runs predeploy, then switch/reload/health/prune/unlock, or undoes all of it (recovery.undo), so
losing the client (killed, disconnected) changes nothing. `deploy_outcome` asks to cancel and/or waits for
the end, for a client that was interrupted or reconnects."""
import json
import os
import subprocess
import sys
import time
from functools import partial
from typing import Union

from . import health_diagnosis, hooks, standby
from . import journal as journals
from .errors import ServerError
from .finalize_release import complete, switch_and_check
from .layout import ServerLayout
from .lock import hold_as
from .recovery import recover, undo
from .releases import current_release, read_log
from .results import DeployOutcome, SupervisedDeploy, SupervisedRollback
from .runner import MARKER, NO_SITE
from .subprocess_entry import answer, run_entry

CANCELLED = 130  # exit status of a deploy stopped by Ctrl-C
DEAD_GRACE = 30  # seconds a journal whose process is gone may wait for its follower to undo it


class Unhealthy(Exception):
    pass


def follow(params) -> Union[SupervisedDeploy, SupervisedRollback]:
    """Entry deploy_supervised: start the supervisor, wait for it, return its answer."""
    layout = ServerLayout(params["path"])
    if not os.path.isdir(layout.lock):
        raise ServerError("the deploy lock of %s is gone: another client removed it (`fab unlock --force`?)" % layout.path)
    journals.update(layout, release=params["release"], previous=current_release(layout), phase="starting",
                    kind=params.get("kind", "deploy"), unapply_command=params["unapply_command"],
                    reapply_command=params.get("reapply_command"), database=params.get("database", "default"),
                    log=params.get("log"), **journals.me())
    process = standby.take()  # started by prepare_release in this command: it is waiting for this request
    if process is not None:
        try:
            process.stdin.write((json.dumps(params) + "\n").encode())
        except OSError:  # it is gone (it died waiting): what it answered, if anything, is read below
            pass
        out, _ = process.communicate()
    else:
        with open(os.path.join(layout.lock, "supervisor.log"), "ab") as log:
            process = subprocess.Popen([sys.executable, NO_SITE, os.environ["DEPLOYTASKS_PYZ"]], stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, stderr=log, cwd=layout.path, start_new_session=True,
                                       close_fds=True)
        out, _ = process.communicate(json.dumps({"entry": "supervisor", "params": params}).encode())
    text = out.decode("utf-8", "replace")
    if MARKER not in text:  # it died without answering (killed, say): undo what its journal says it did
        phase = (journals.read(layout) or {}).get("phase", "?")
        summary = recover(layout, params)
        raise ServerError("the deploy's server side (process %d) ended during %s without a result (exit %d)%s" % (
            process.pid, phase, process.returncode, "; " + summary if summary else ""))
    return answer(text, "", process.returncode, "the deploy's server side")


def supervise(params) -> Union[SupervisedDeploy, SupervisedRollback]:
    """Entry supervisor: the deploy from predeploy to unlock, or its undo."""
    return supervise_with(params)


def supervise_with(params, warm=None) -> Union[SupervisedDeploy, SupervisedRollback]:
    """supervise, with the new release's pre-deploy Django already started by the standby (standby.py) and
    waiting for its request (`warm`), or not (None)."""
    layout = ServerLayout(params["path"])
    journals.update(layout, **journals.me())
    hold_as(layout, os.getpid())
    try:
        if params.get("kind") == "rollback":
            return rollback(layout, params)
        return deploy(layout, params, warm)
    except BaseException as exc:  # noqa: BLE001 - whatever stopped it, the server goes back to before
        reason, result, code = why(layout, params, exc)
        standby.end(warm)  # out of the release before it goes: a Django still starting would write bytecode there
        explain = (partial(health_diagnosis.explain, params, str(exc))
                   if isinstance(exc, Unhealthy) and not journals.cancelled(layout) else None)
        outcome = undo(layout, journals.read(layout) or {}, params, reason, result, explain)
        raise ServerError(outcome["summary"], code) from None
    finally:
        standby.end(warm)


def why(layout, params, exc):
    """(reason, releases.log result, exit status) of a deploy that stopped."""
    journal = journals.read(layout) or {}
    cancelled = isinstance(exc, journals.Cancelled) or journals.cancelled(layout)
    kind = params.get("kind", "deploy")
    label = journals.label(kind, params["release"])
    if cancelled and journal.get("stopped_before"):  # honoured at a step's start: the steps before it had finished
        return ("%s was interrupted (Ctrl-C) and stopped before %s" % (label, journal["stopped_before"]), "cancelled",
                CANCELLED)
    if cancelled:
        return ("%s was interrupted (Ctrl-C) during %s and stopped" % (label, journal.get("phase", "?")), "cancelled",
                CANCELLED)
    if isinstance(exc, Unhealthy) and kind == "rollback":
        return "%s failed its health check (%s)" % (params["release"], exc), "unhealthy", 3
    if isinstance(exc, Unhealthy):
        if str(exc).startswith(("reload command", "start command", "hook ")):
            return "the new release was not taken live: %s" % exc, "unhealthy", 3
        return "the new release failed its health check (%s)" % exc, "unhealthy", 3
    if isinstance(exc, ServerError):
        return exc.message, "failed", 3
    return ("the deploy's server side failed during %s: %s: %s" % (journal.get("phase", "?"), type(exc).__name__, exc),
            "failed", 3)


def deploy(layout, params, warm=None) -> SupervisedDeploy:
    release, started = params["release"], time.monotonic()
    journals.checkpoint(layout, "predeploy")
    ready = warm if warm is not None and warm.args == params["predeploy_command"] else None
    pre = run_entry(params["predeploy_command"], "predeploy", dict(params["predeploy"], path=layout.path, journaled=True),
                    "pre-deploy checks", started=ready)
    meta = dict(params.get("meta") or {}, migrations=pre["state_after"], migrations_before=pre["state_before"],
                migrations_changed=bool(pre["pending"]), backup=pre.get("backup"))
    if hooks.listed(params, "before", "switch"):
        journals.checkpoint(layout, "hooks before switch")
        hooks.run(params, "before", "switch")
    journals.checkpoint(layout, "switch")
    previous = current_release(layout)
    journals.update(layout, previous=previous, switched=True, phase="reload and health check")
    problem = switch_and_check(layout, params, release, previous)
    if problem:
        raise Unhealthy(problem)
    if journals.cancelled(layout):  # healthy, but the client asked to stop meanwhile: undo it all the same
        raise journals.Cancelled("finalize")
    journals.update(layout, phase="finalize")
    log = dict(params.get("log") or {}, seconds=round(params.get("client_seconds", 0) + time.monotonic() - started, 2),
               **({"hook_failures": params["hook_failures"]} if params.get("hook_failures") else {}))
    fin = complete(layout, dict(params, meta=meta, log=log), release, previous)
    return {"predeploy": pre, "finalize": fin, "hook_failures": params.get("hook_failures") or []}


def rollback(layout, params) -> SupervisedRollback:
    """Collect the target's static files if it has none of its own (static_files.ensure), unapply down to its
    recorded state with the live code, then switch to it (marking the live one bad); its undo switches back and
    re-applies (recovery.undo)."""
    target, current = params["release"], current_release(layout)
    if params.get("static_command"):
        journals.checkpoint(layout, "collectstatic")
        run_entry(params["static_command"], "collect_static", {"path": layout.path, "release": target},
                  "collecting the static files of %s" % target)
    if params["migrate"].get("switch_first"):  # the target serves over the newer schema (migrate.target_code_fits)
        switch_back_to(layout, params, target, current)
        done = unapply_to_target(layout, params)
    else:
        done = unapply_to_target(layout, params)
        switch_back_to(layout, params, target, current)
    if journals.cancelled(layout):
        raise journals.Cancelled("finalize")
    journals.update(layout, phase="finalize")
    return {"migrate": done, "finalize": complete(layout, params, target, current)}


def unapply_to_target(layout, params):
    """The rollback's unapply, with the live release's code (it has the migration files)."""
    journals.checkpoint(layout, "unapply")
    # unapply_done: whether an undo's re-apply follows an unapply that may have stopped half-way (a journal of an
    # older version, which always unapplied before the switch, has none: the switch tells)
    journals.update(layout, migrate_started=True, unapply_done=False)
    done = run_entry(params["unapply_command"], "migrate_to_state", dict(params["migrate"], journal=layout.path),
                     "unapplying migrations")
    journals.update(layout, backup=done.get("backup"), unapply_done=True)
    return done


def switch_back_to(layout, params, target, current):
    """The rollback's switch to `target`, reloaded and health-checked (Unhealthy when it does not serve)."""
    journals.checkpoint(layout, "switch")
    journals.update(layout, previous=current, switched=True, phase="reload and health check")
    problem = switch_and_check(layout, params, target, current)
    if problem:
        raise Unhealthy(problem)


def outcome(params) -> DeployOutcome:
    """Entry deploy_outcome: cancel (if asked) the deploy of params["release"], wait up to params["wait"]
    seconds for it to end, and say how it ended (its releases.log entry) or where it is."""
    layout, release = ServerLayout(params["path"]), params["release"]
    if params.get("cancel") and (journals.read(layout) or {}).get("release") == release:
        journals.cancel(layout)
    deadline = time.monotonic() + params.get("wait", 0)
    dead_since = None
    while True:
        journal = journals.read(layout)
        if not journal or journal.get("release") != release:
            break
        now = time.monotonic()
        dead_since = None if journals.running(journal) else dead_since or now
        if dead_since is not None and (now - dead_since > DEAD_GRACE or now > deadline):  # nobody recovers it now
            return {"state": "dead", "phase": journal.get("phase")}
        if now > deadline:
            return {"state": "running", "phase": journal.get("phase")}
        time.sleep(0.2)
    entries = [entry for entry in read_log(layout) if entry.get("release") == release]
    return {"state": "done", "entry": entries[-1] if entries else None, "current": current_release(layout)}
