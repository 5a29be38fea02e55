"""`fab migrate`: the live release's pending migrations applied under the deploy lock (no deploy, rollback or
restore runs meanwhile), after a `-pre-migrate` backup of the live database, and recorded in releases.log."""
import posixpath

from . import __version__, releases, steps
from . import backups as backup_store
from .django import introspect
from .flows import show_held_deploy
from .errors import ConnectionLost, DeployTasksError
from .host_names import host_name
from .output import console
from .step_result import StepResult, kept


def migrate_live(c, settings, project) -> StepResult:
    """Lock, look for pending migrations, back up when there are some, migrate, log, unlock (on every way out)."""
    locked = releases.admin(c, settings, "lock", what="migrate", guard=True)
    show_held_deploy(None, locked.get("recovered"))
    log = {"action": "migrate", "by": releases.who(), "tool": __version__, "live": locked.get("current")}
    host, started = host_name(c), []
    try:
        pending = pending_migrations(c, settings, project)
        if not pending:
            outcome = kept("no migrations to apply")
        else:
            manifest = backup_store.take(c, project, settings, dest=posixpath.join(settings.path, "backups"),
                                         label="pre-migrate", host=host, server_path=settings.path)
            if manifest:
                log["backup"] = manifest["path"]
                console.print(f"[green]✓[/] backup {manifest['path']} (restore with `fab -H {host} restore "
                              f"{manifest['file']}`)", highlight=False, soft_wrap=True)
            started.append(True)
            outcome = steps.migrate(c, project, database=settings.database, under_lock=releases.lock_dir(settings))
    except ConnectionLost:  # the lock's guard frees the lock once the server's work has ended, and logs it
        if not started:
            raise ConnectionLost(f"the connection to {host} was lost before the migrate started: nothing was "
                                 "applied; the server frees the lock by itself") from None
        raise ConnectionLost(f"the connection to {host} was lost while it migrated: the migrate on the server goes "
                             "on to its end under the lock, which is freed then (`fab history` logs it as "
                             f"abandoned); `fab -H {host} migrations.status` shows what is applied") from None
    except BaseException as exc:
        ctrl_c = isinstance(exc, KeyboardInterrupt)
        went_on = ctrl_c and started  # the command on the server is not stopped by it (half a migration on MySQL
        # would stay half): the abort waits for it
        error = ("interrupted (Ctrl-C) while the server migrated: the migrate went on to its end" if went_on
                 else "interrupted (Ctrl-C) before the migrate started: nothing was applied" if ctrl_c
                 else str(exc) or type(exc).__name__)
        if went_on:
            console.print("[yellow]Ctrl-C[/]: the migrate on the server goes on to its end; the lock is freed then "
                          "(Ctrl-C again leaves that to the server)", highlight=False, soft_wrap=True)
        releases.admin(c, settings, "abort", release=None, log=dict(log, error=error),
                       result="interrupted" if ctrl_c else "failed", taking=locked.get("taking"))
        if went_on:  # what it applied is for the database to say
            raise DeployTasksError(f"{error} on the server; `fab -H {host} migrations.status` shows what is "
                                   "applied") from None
        if ctrl_c:
            raise DeployTasksError(error) from None
        raise
    freed = releases.admin(c, settings, "abort", release=None, log=dict(log, migrations=pending), result="ok",
                           taking=locked.get("taking"))
    if freed.get("lost_lock"):  # its holder on the server was killed and another task took the lock meanwhile
        console.print(f"[yellow]WARN[/] the deploy lock was taken over while this migrated ({freed['lost_lock']}): "
                      "left to that task", highlight=False, soft_wrap=True)
    return outcome


def pending_migrations(c, settings, project) -> list:
    """`app.name` of each migration `migrate` would apply (an unplannable state: the migrate's own error says why,
    so it is treated as pending)."""
    info = introspect(c, project, settings, plan=True, changes=False, checks=False)
    if "plan" not in info:
        return ["(unknown: the plan could not be made)"]
    return steps.planned_forwards(info)
