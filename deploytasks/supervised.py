"""A deploy's server side after prepare, run by a supervisor on the server (server/supervisor.py) that owns
the outcome: this client starts it and waits for its answer in one SSH command. Ctrl-C asks it to stop and
undo; a lost connection is reported with what the server side did (read on a new connection)."""
import posixpath
import time

from . import __version__
from .hooks import for_server
from .connection import host_name
from .errors import ConnectionLost, DeployTasksError
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
        "predeploy_command": project.django_script_command(),
        "unapply_command": project.django_script_command(),
        "predeploy": {"database": settings.database, "collectstatic": settings.collectstatic, "release": release,
                      "backup_dest": posixpath.join(settings.path, "backups"), "keep": settings.keep_backups,
                      "version": __version__, "host": host_name(c), "force": force,
                      "strict_migrations": settings.strict_migrations, "safe_migrations": settings.safe_migrations,
                      "hooks": hooks},
        "hooks": hooks, "undo_on_hook_failure": settings.undo_on_hook_failure,
        "meta": {"revision": prep["revision"], "deployed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                 "by": log["by"], "venv": prep["venv"]},
        "log": log, "client_seconds": round(time.monotonic() - started, 2),
    }
    try:
        with console.status("checks, collectstatic, migrations, switch, reload, health check …"):
            done = script(c, settings, "deploy_supervised", params, what=f"the deploy of {release}", changes=True)
    except KeyboardInterrupt:
        raise DeployTasksError(interrupted(c, settings, release, script)) from None
    except ConnectionLost:
        raise DeployTasksError(lost(c, settings, release, script)) from None
    for problem in (done or {}).get("hook_failures") or []:
        console.print(f"[yellow]![/] {problem} (after the switch: {release} stays live)", highlight=False)
    return done


def interrupted(c, settings, release, script) -> str:
    """Ask the supervisor to stop and undo, wait for it, say what was stopped and what state it left."""
    console.print(f"[yellow]interrupted: asking the server to stop the deploy of {release} and undo it …[/]")
    try:
        seen = script(c, settings, "deploy_outcome", {"release": release, "cancel": True, "wait": WAIT_AFTER_INTERRUPT},
                      what="stopping the deploy")
    except KeyboardInterrupt:
        return (f"interrupted (Ctrl-C) twice: the deploy of {release} goes on being stopped on the server by itself "
                "(it undoes itself and frees the lock); `fab releases` shows the outcome")
    except DeployTasksError as exc:
        return f"interrupted (Ctrl-C), and asking the server to stop the deploy of {release} failed: {exc}"
    return "interrupted (Ctrl-C): " + described(release, seen)


def lost(c, settings, release, script) -> str:
    """Reconnect and report what the server side did with the deploy (it goes on by itself either way)."""
    head = f"the connection to {host_name(c)} was lost (closed or dropped) during the deploy of {release}"
    try:
        c.close()
        seen = script(c, settings, "deploy_outcome", {"release": release, "wait": WAIT_AFTER_INTERRUPT},
                      what="reading the deploy's outcome")
    except Exception:  # noqa: BLE001 - no new connection either: say what the server does on its own
        return (head + "; the server side goes on by itself (it finishes or undoes the deploy, then frees the "
                "lock): `fab releases` shows the outcome")
    return head + "; reconnected: " + described(release, seen)


def described(release, seen) -> str:
    """One clause for an outcome from the deploy_outcome entry."""
    if seen["state"] == "running":
        return (f"the server is still at the {seen['phase']} step of {release} (it finishes or undoes it by itself, "
                "then frees the lock)")
    if seen["state"] == "dead":
        return (f"the process running the deploy of {release} died during {seen['phase']}: the next `fab deploy` "
                "or `fab unlock --force` recovers it (switch back, unapply, remove)")
    entry = seen.get("entry") or {}
    if entry.get("result") == "ok":
        return f"the server side finished the deploy: {release} is live"
    return entry.get("summary") or entry.get("error") or f"the deploy of {release} ended; {seen.get('current')} is live"
