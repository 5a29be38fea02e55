"""A deploy's server side after prepare, run by a supervisor on the server (server/supervisor.py) that owns
the outcome: this client starts it and waits for its answer in one SSH command. Ctrl-C asks it to stop and
undo; a lost connection is reported with what the server side did (read on a new connection)."""
import os
import posixpath
import signal
import sys
import threading
import time

from . import __version__
from .hooks import for_server
from .errors import ConnectionLost, DeployTasksError
from .deploy_report import venv_changed
from .host_names import host_name
from .output import console

WAIT_AFTER_INTERRUPT = 600  # seconds to wait for the undo after Ctrl-C (one phase: a slow migration, a reload)


def on_server(c, settings, prep, project, log, started, script, force=False) -> dict:
    """{"predeploy", "finalize"} of a deploy that went live; DeployTasksError saying what the server did
    otherwise. `script` is releases.server_script."""
    release = prep["release"]
    hooks = for_server(project, settings.hooks)
    params = {
        "release": release, "revision": prep["revision"], "database": settings.database,
        "healthcheck": settings.healthcheck, "healthcheck_retries": settings.healthcheck_retries,
        "healthcheck_delay": settings.healthcheck_delay, "keep_releases": settings.releases_kept,
        "prune_uv_cache": settings.prune_uv_cache, "predeploy_command": project.django_script_command(),
        "unapply_command": project.django_script_command(),
        "predeploy": {"database": settings.database, "collectstatic": settings.collectstatic, "release": release,
                      "backup_dest": posixpath.join(settings.path, "backups"), "keep": settings.keep_backups,
                      "version": __version__, "host": host_name(c), "force": force,
                      "strict_migrations": settings.strict_migrations, "safe_migrations": settings.safe_migrations,
                      "path": settings.path, "shared_dirs": settings.shared_dirs, "hooks": hooks},
        "hooks": hooks, "undo_on_hook_failure": settings.undo_on_hook_failure,
        "meta": {"revision": prep["revision"], "deployed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                 "by": log["by"], "venv": prep["venv"], "deploy_digest": prep.get("deploy_digest")},
        "log": log, "client_seconds": round(time.monotonic() - started, 2), "venv_changed": venv_changed(prep),
    }
    return supervised(c, settings, params, f"the deploy of {release}", script)


def rollback_on_server(c, settings, target, current, names, meta, migrate, by, script) -> dict:
    """{"migrate", "finalize"} of a rollback to `target` run by the server's supervisor (None under --dry). Its
    unapply and an undo's re-apply run in the release it leaves (named: `current` may already be the target)."""
    from .releases import release_project

    project = release_project(settings, posixpath.join(settings.path, "releases", current))
    params = {
        "kind": "rollback", "release": target, "revision": meta[target]["revision"], "database": settings.database,
        "healthcheck": settings.healthcheck, "healthcheck_retries": settings.healthcheck_retries,
        "healthcheck_delay": settings.healthcheck_delay, "keep_releases": max(settings.releases_kept, len(names)),
        "prune_uv_cache": settings.prune_uv_cache, "mark_bad": [current], "migrate": migrate,
        "venv_changed": meta[target].get("venv") != meta[current].get("venv"),
        "unapply_command": project.django_script_command(),
        "reapply_command": project.manage_command("migrate", "--noinput"),
        "static_command": static_command(settings, target),
        "log": {"action": "rollback", "from": current, "by": by, "revision": meta[target]["revision"]},
    }
    return supervised(c, settings, params, f"the rollback to {target}", script)


def static_command(settings, release):
    """The command that runs an entry in `release`'s own Django (its code, its venv), for its static files;
    None when collectstatic is off."""
    if not settings.collectstatic:
        return None
    from .releases import release_project

    return release_project(settings, posixpath.join(settings.path, "releases", release)).django_script_command()


def supervised(c, settings, params, label, script):
    """Run the deploy_supervised entry for `params`: its answer; Ctrl-C and a lost connection reported with
    what the server did."""
    release = params["release"]
    ctrl_c = CtrlC(lambda: script(c, settings, "deploy_outcome", {"release": release, "cancel": True},
                                  what=f"stopping {label}"), label)
    try:
        with ctrl_c, console.status("on the server: " + label.replace("the ", "", 1) + " …"):
            done = script(c, settings, "deploy_supervised", params, what=label, changes=True)
    except KeyboardInterrupt:
        raise DeployTasksError(interrupted(c, settings, release, label, script)) from None
    except ConnectionLost:
        raise DeployTasksError(lost(c, settings, release, label, script)) from None
    except DeployTasksError as exc:
        if ctrl_c.pressed and "interrupted (Ctrl-C)" not in str(exc):
            raise DeployTasksError(f"interrupted (Ctrl-C): {exc}") from None
        raise
    if ctrl_c.pressed:
        raise DeployTasksError(f"interrupted (Ctrl-C) too late to stop it: {label} had finished: {release} is live")
    for problem in (done or {}).get("hook_failures") or []:
        console.print(f"[yellow]![/] {problem} (after the switch: {release} stays live)", highlight=False)
    return done


class CtrlC:
    """While the supervised deploy runs, Ctrl-C asks the server to stop and undo it (over a second channel
    of the same connection) while this client keeps waiting for the answer, which then says what was undone.
    A second Ctrl-C stops waiting: the server goes on undoing by itself."""

    def __init__(self, cancel, label):
        self.cancel, self.label, self.pressed, self._previous = cancel, label, False, None

    def __enter__(self):
        try:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread: Ctrl-C keeps its usual meaning
            self._previous = None
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)

    def _handle(self, signum, frame):
        if self.pressed:
            sys.stderr.write(f"deploytasks: error: interrupted (Ctrl-C) twice: stopped waiting; the server stops and "
                             f"undoes {self.label} by itself and frees the lock (`fab releases` shows "
                             "the outcome)\n")
            sys.stderr.flush()
            os._exit(1)
        self.pressed = True
        console.print(f"[yellow]interrupted: asking the server to stop {self.label} and undo it …[/]")
        threading.Thread(target=self._send, daemon=True).start()

    def _send(self):
        try:
            self.cancel()
        except Exception as exc:  # noqa: BLE001 - the main wait reports the outcome either way
            console.print(f"[red]asking the server to stop failed: {exc}[/]")


def interrupted(c, settings, release, label, script) -> str:
    """Ask the supervisor to stop and undo, wait for it, say what was stopped and what state it left."""
    console.print(f"[yellow]interrupted: asking the server to stop {label} and undo it …[/]")
    try:
        seen = script(c, settings, "deploy_outcome", {"release": release, "cancel": True, "wait": WAIT_AFTER_INTERRUPT},
                      what=f"stopping {label}")
    except KeyboardInterrupt:
        return (f"interrupted (Ctrl-C) twice: {label} goes on being stopped on the server by itself "
                "(it undoes itself and frees the lock); `fab releases` shows the outcome")
    except DeployTasksError as exc:
        return f"interrupted (Ctrl-C), and asking the server to stop {label} failed: {exc}"
    return "interrupted (Ctrl-C): " + described(release, label, seen)


def lost(c, settings, release, label, script) -> str:
    """Reconnect and report what the server side did (it goes on by itself either way)."""
    head = f"the connection to {host_name(c)} was lost (closed or dropped) during {label}"
    try:
        c.close()
        seen = script(c, settings, "deploy_outcome", {"release": release, "wait": WAIT_AFTER_INTERRUPT},
                      what="reading the outcome")
    except Exception:  # noqa: BLE001 - no new connection either: say what the server does on its own
        return (head + "; the server side goes on by itself (it finishes or undoes it, then frees the "
                "lock): `fab releases` shows the outcome")
    return head + "; reconnected: " + described(release, label, seen)


def described(release, label, seen) -> str:
    """One clause for an outcome from the deploy_outcome entry."""
    if seen["state"] == "running":
        return (f"the server is still at the {seen['phase']} step of {label} (it finishes or undoes it by itself, "
                "then frees the lock)")
    if seen["state"] == "dead":
        return (f"the process running {label} died during {seen['phase']}: the next `fab deploy` "
                "or `fab unlock --force` recovers it (switch back, unapply, remove)")
    entry = seen.get("entry") or {}
    if entry.get("result") == "ok":
        return f"the server side finished {label}: {release} is live"
    return entry.get("summary") or entry.get("error") or f"{label} ended; {seen.get('current')} is live"
