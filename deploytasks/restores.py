"""Restore orchestration, beside deploy and rollback (releases.py): the verify-confirm-restore flow both sides
share, a local restore, and a restore on the server (upload under the deploy lock, restore, reload); each from
a file named as the user typed it, or from an off-site backup fetched verified first."""
import os
import posixpath
import threading
from typing import Optional

from . import __version__, bundle
from . import media as media_dir
from . import releases, steps, tables, transfer
from . import backups as backup_store
from . import offsite as offsite_copies
from .backups import restore as restore_backup, verify_local
from .server.results import RestoreResult
from .host_names import host_name
from .conversation import Conversation
from .flows import checked, show_held_deploy
from .errors import ConnectionLost, DeployTasksError
from .output import console
from .prompt import confirm
from .shell import is_dry, q, run, was_killed
from .target import require_live


def named_in_project(c, project, settings, file, *, from_offsite, yes, unverified, media, migrate=False):
    """`inv restore FILE`: a path, or a file name in deploytasks.backups (`from_offsite`: an off-site backup's
    name, fetched verified into deploytasks.backups first), restored into the local project."""
    path = os.path.abspath(file) if os.path.exists(file) else backup_store.resolve_path(project, settings, file)
    directory = backup_store.backup_dir(project, settings)
    with backup_store.ignored_by_git(*([] if is_dry(c) else [directory])):
        if from_offsite:
            path, _ = offsite_copies.fetch_for_restore(offsite_copies.Rclone(c, settings, "local"), file, directory,
                                                       media, unverified)
            if path is None:  # --dry
                return
        in_project(c, project, settings, path, yes=yes, unverified=unverified, media=media, migrate=migrate)


def named_on_server(c, settings, project, file, *, from_offsite, yes, unverified, media, migrate=False):
    """`fab restore FILE`: a local backup file, or the name of one in backups/<host>/ or on the server (downloaded
    into backups/<host>/ first; `from_offsite`: an off-site backup's name, fetched verified there first), restored
    on the server."""
    from . import server_backups  # Fabric's side: `inv` does not import it

    local = os.path.abspath(os.path.expanduser(file))
    if from_offsite:
        local = server_backups.fetch_offsite(c, settings, file, media, unverified)
    elif not os.path.exists(local):
        local = server_backups.copy_of_named(c, settings, project, file)
    if local is None:  # --dry
        return
    on_server(c, settings, project, local, yes=yes, unverified=unverified, media=media, migrate=migrate)


def in_project(c, project, settings, path, *, yes, unverified, media, migrate=False):
    """Restore `path` into the local project's database (and MEDIA_ROOT with `media`)."""
    prepared = media_dir.prepare(c, project, path) if media else None
    done = media_dir.restored_with(c, project, prepared, lambda swap: verify_then_restore(
        c, project, settings, path, yes=yes, unverified=unverified, migrate=migrate, media=swap,
        what_is_replaced=f"the {settings.database!r} database" + (" and MEDIA_ROOT" if prepared else "")),
        settings.keep_backups)  # safety backups there
    if failure := media_dir.swap_failure(done):
        raise DeployTasksError(failure)


def on_server(c, settings, project, local, *, yes, unverified, media, migrate=False):
    """Restore the local backup `local` on the server: verify it here, upload it under the deploy lock (which
    no deploy migrates past), verify it there, take a safety backup, restore, reload; the lock is released on
    every way out."""
    manifest = verify_local(local, unverified, full=False)  # the server hashes what it receives
    if media:
        media_dir.local_archive(local, manifest)
    remote_dir = posixpath.join(settings.path, "backups", "uploaded")
    remote = posixpath.join(remote_dir, os.path.basename(local))
    if is_dry(c):  # the server-side checks need the upload, which a dry run does not make
        require_live(c, project)
        console.print(f"[dim]dry-run:[/] upload {local} to {remote_dir}/, verify it there, back up the live database,"
                      f" restore{', reload' if settings.reload else ''}", highlight=False, soft_wrap=True)
        return
    # The same round trip checks for the live release and picks a name no earlier upload has.
    locked = releases.admin(c, settings, "lock", what="restore", upload=remote, code_fallback=True,
                            require=[project.python, f"{project.missing} (restore needs the project's code, and no "
                                                     f"release on the server has a venv)"],
                            early_safety=early_safety(c, settings, project, manifest))
    show_held_deploy(None, locked.get("recovered"))
    project = releases.code_of(settings, project, locked.get("code_from"))
    done, failed = None, None
    log = {"action": "restore", "by": releases.who(), "tool": __version__, "file": os.path.basename(local),
           "media": bool(media)}
    try:
        done = _upload_and_restore(c, settings, project, local, manifest, locked["upload"], yes=yes,
                                   unverified=unverified, media=media, migrate=migrate, log=log)
        if done:
            releases.reload(c, settings)
            say_rollback_next(c, locked, local, done, migrate)
        if failure := media_dir.swap_failure(done):
            raise DeployTasksError(failure)
    except BaseException as exc:
        failed = exc
        raise
    finally:
        if not (done and done.get("unlocked")):  # the server script releases the lock (and logs) when it restored
            error = ("interrupted (Ctrl-C)" if isinstance(failed, KeyboardInterrupt)
                     else str(failed) or type(failed).__name__) if failed else None
            releases.admin(c, settings, "abort", release=None, taking=locked.get("taking"),
                           result="interrupted" if error and error.startswith("interrupted (Ctrl-C)") else "failed",
                           **({"log": dict(log, error=error)} if error else {}))


def say_rollback_next(c, locked, local, done, migrate):
    """After a restore that leaves the data behind the live release's code, at the schema of the release a rollback
    goes to (none of the migrations the data lacks were applied when that release was live: the backup a rollback
    refused across an irreversible migration names, say): the way on is the rollback, not `fab migrate`. It was said
    only for the live release's own pre-deploy backup, not for an earlier one (a failed deploy's, a `fab backup`)."""
    from .fleet_releases import target_of

    current, target, _ = target_of(locked, None)
    state = next((row.get("migrations") for row in locked.get("releases") or [] if row.get("release") == target), None)
    lacking = [(app, name) for app, s in (done.get("migrations") or {}).items() for name in s["missing"]]
    if migrate or not lacking or not isinstance(state, dict) or any(name in (state.get(app) or [])
                                                                    for app, name in lacking):
        return
    console.print(f"  {os.path.basename(local)} holds the schema {target} went live with, the release before "
                  f"{current}: to go back to it, `fab -H {host_name(c)} rollback` now (`fab migrate` would apply "
                  f"{current}'s migrations again)", highlight=False, soft_wrap=True)


def early_safety(c, settings, project, manifest):
    """What the `lock` starts for a PostgreSQL backup: the live database's safety dump, taken while the upload
    arrives; the restore keeps it when nothing wrote before its write locks (server/early_safety.py)."""
    if (manifest or {}).get("engine") != "postgresql":
        return None
    return {"command": bundle.locator(project.tools) + project.settings_script_command(),
            "params": {"database": settings.database, "version": __version__, "host": host_name(c)}}


def _upload_and_restore(c, settings, project, local, manifest, remote, *, yes, unverified, media, migrate=False,
                        log=None):
    """Upload, verify, confirm and restore; a rejected (or unconfirmed) upload does not stay on the server."""
    warm = WarmRestore(c, settings, project)
    try:
        # an SQLite upload becomes the live database file (fsynced first): its disk writes start as it arrives
        sqlite = (manifest or {}).get("engine") == "sqlite"
        as_it_was = "the live database and media are as they were" if media else "the live database is as it was"
        try:
            received = transfer.upload(c, local, remote, manifest, settings, writeback=sqlite)
            prepared = media_dir.send(c, project, settings, local, manifest, remote) if media else None
        except KeyboardInterrupt:
            what = f"{local} and its media" if media else local
            raise DeployTasksError(f"interrupted (Ctrl-C) during the upload of {what}: nothing was restored, "
                                   f"{as_it_was}") from None
        except ConnectionLost as exc:  # the restore's request was never sent
            raise ConnectionLost(f"{exc}: nothing was restored, {as_it_was}") from None
        try:
            started = warm.ready()  # the project's Django on the server, loaded while the file travelled
        except KeyboardInterrupt:
            raise DeployTasksError(f"interrupted (Ctrl-C) after the upload of {local}, before the restore started: "
                                   f"nothing was restored, {as_it_was}") from None
        return media_dir.restored_with(c, project, prepared, lambda swap: verify_then_restore(
            c, project, settings, remote, yes=yes, unverified=unverified, received=received, consume=True, media=swap,
            what_is_replaced=f"the live {settings.database!r} database on {host_name(c)}"
                             + (" and its media" if prepared else ""),
            safety_dest=posixpath.join(settings.path, "backups"), lock=releases.lock_dir(settings),
            started=started, migrate=migrate, log=log,
        ), settings.keep_backups)
    except RestoreUnderWay:
        raise  # removing the upload here made a load that had not opened it yet fail: the safety was loaded back
    except BaseException:
        try:
            run(c, f"rm -f {q(remote)} {q(remote + '.partial')} {q(remote + '.json')}"
                + media_dir.uploaded_files(manifest, remote, media), what="removing the upload", check=False)
        except Exception:  # noqa: BLE001 - the connection went too: the next task's lock removes it (leftovers)
            pass  # and the error that stopped the restore is the one to report
        raise
    finally:
        warm.end()


class RestoreUnderWay(DeployTasksError):
    """The client stopped (Ctrl-C, a lost connection) or the server's restore process was killed after the restore
    had started: the server goes on with it and reads the upload, so the upload stays (the server's restore removes
    it, or the next task's lock does: leftovers)."""


class WarmRestore:
    """The restore's server command, started beside the upload: its Django loads the project's settings and apps
    while the file travels (entry restore_warm), then waits for the restore request, which costs no new session,
    shell or Django start-up once the upload is in (nor after the user confirms the restore a check showed). It takes
    no lock and changes nothing; a client that vanishes ends its stdin, and the command ends."""

    def __init__(self, c, settings, project):
        self.conversation = Conversation(c, bundle.locator(project.tools) + project.settings_script_command(),
                                         "loading the project on the server", silence_limit=settings.client_timeout)
        self.loaded = self.ended = False
        self.thread = threading.Thread(target=self._load, args=(settings.database,), daemon=True)
        self.thread.start()

    def _load(self, database):
        try:
            self.conversation.ask("restore_warm", {"database": database}, then=True)
            self.loaded = True
        except Exception:  # noqa: BLE001 - the restore request, run as its own command, then says what is wrong
            pass
        if self.ended:  # ended while it loaded
            self.conversation.abandon()

    def ready(self):
        """This waiting command (None when it could not load: the restore then runs as a command of its own)."""
        self.thread.join()
        return self if self.loaded and self.conversation.can_ask else None

    @property
    def can_ask(self) -> bool:
        return self.conversation.can_ask

    def ask(self, entry, params, what=None):
        """One request (shell.run_script): a check without apply leaves the command waiting for the restore that
        follows it once the user confirms; the restore ends it."""
        return self.conversation.ask(entry, params, then=not params.get("apply"), what=what)

    def end(self):
        """Stop it waiting, if it still does (the restore did not happen)."""
        self.ended = True
        self.conversation.abandon()


def verify_then_restore(c, project, settings, path, *, yes, unverified, what_is_replaced, safety_dest=None,
                        received=None, consume=False, lock=None, started=None,
                        migrate=False, media=None, log=None) -> Optional[RestoreResult]:
    """The restore flow of both sides: verify, describe, confirm, safety-backup + restore, report. With --yes the
    verification and the restore are one script run (one Django start-up). started: the restore's server command,
    already running (WarmRestore), which answers both."""
    shown = posixpath.basename(path) if consume else path  # an upload, removed once restored: its name says it
    if not yes or is_dry(c):
        report = restore_backup(c, project, settings, path, apply=False, unverified=unverified, received=received,
                                started=started)
        report_verified(shown, report)
        if (report.get("database") or {}).get("vendor") == "mysql":
            warn_mysql_writes(before=True)
        taken = ((report.get("manifest") or {}).get("created") or "").replace("T", " ").rstrip("Z")
        confirm(f"Replace {what_is_replaced} with {shown}"
                + (f" (what was written since {taken} UTC goes, kept in the safety backup)" if taken else "") + "?",
                yes, is_dry(c))
    try:
        done = restore_backup(c, project, settings, path, apply=True, unverified=unverified, safety_dest=safety_dest,
                              verified=None if yes else report.get("fingerprint"), received=received, consume=consume,
                              lock=lock, started=started, media=media, log=log)
    except (KeyboardInterrupt, DeployTasksError) as exc:
        killed = isinstance(exc, DeployTasksError) and was_killed(str(exc))
        if not getattr(c, "host", None) or not (killed or isinstance(exc, (KeyboardInterrupt, ConnectionLost))):
            raise
        raise RestoreUnderWay(stopped_mid_restore(exc, host_name(c), posixpath.basename(path), killed)) from None
    if done is None:
        return None
    if yes:
        report_verified(shown, done)
    how = f" ({done['method']})" if done.get("method") else ""
    console.print(f"[green]✓[/] restored {shown} into {done['database']['name']}{how}", soft_wrap=True)
    if done.get("safety_backup"):
        console.print(f"  safety backup of what was there: {done['safety_backup']}", soft_wrap=True)
    if yes and (done.get("database") or {}).get("vendor") == "mysql":  # no question came before it to say so
        warn_mysql_writes(before=False)
    ahead = {app: s["unknown"] for app, s in done["migrations"].items() if s["unknown"]}
    if ahead:
        console.print(f"[yellow]WARN[/] the restored data records migrations this code does not have "
                      f"({', '.join(f'{app}.{names[-1]}' for app, names in ahead.items())}): the schema of a newer "
                      "release, which the live code may fail on (deploy the release that has them), or names of "
                      "migrations a squash replaced and that were deleted since (harmless: `manage.py migrate --prune`)",
                      highlight=False, soft_wrap=True)
    behind = [app for app, s in done["migrations"].items() if s["missing"]]
    if behind and migrate:
        console.print(f"[green]✓[/] migrated the restored data to the code: {steps.migrate(c, project)}",
                      highlight=False)
    elif behind:
        on_server = getattr(c, "host", None)
        command = f"fab -H {host_name(c)} migrate" if on_server else "inv migrate"
        console.print(f"[yellow]WARN[/] the restored data is behind the code in {', '.join(behind)}"
                      + (": the site fails where it uses what the missing migrations make until they are applied"
                         if on_server else ": apply them")
                      + f": `{command}` now (`restore --migrate` applies them at once)",
                      highlight=False, soft_wrap=True)
    return done


def warn_mysql_writes(before):
    """MySQL/MariaDB's restore loses the writes made during its load (README: Restores under writes): said before
    the question, or after a restore with --yes."""
    can, load, then = ("cannot", "is", "; stop the writers first (a maintenance page, or the app server)") if before \
        else ("could not", "was", " (stop the writers first next time)")
    console.print(f"[yellow]WARN[/] MySQL/MariaDB {can} hold the app's writes off while the dump {load} loaded: a row "
                  f"written meanwhile is in neither the restored database nor the safety backup{then}",
                  highlight=False, soft_wrap=True)


def stopped_mid_restore(exc, host, name, killed) -> str:
    """What to say when the client stopped hearing from a server restore under way, or its process was killed:
    whether it finished is for the server to tell."""
    if killed:
        head = (f"the restore's process on the server was killed while it restored {name}: it may or may not have "
                "finished")
    else:
        what = "interrupted (Ctrl-C)" if isinstance(exc, KeyboardInterrupt) else f"the connection to {host} was lost"
        head = (f"{what} while the server restored {name}: the restore may have finished there (it goes on without "
                "this client)")
    return (f"{head}; `fab -H {host} check --live-only` shows the live database, `fab -H {host} backups` the safety "
            "backup taken before it")


def report_verified(path, report):
    manifest = report.get("manifest") or {}
    console.print(
        f"[green]✓[/] {path} verified: {report['size']:,} bytes"
        + (f", sha256 {manifest['sha256'][:12]}… matches its manifest" if manifest else ", no manifest (unverified)")
        + f", {checked(report)} ok"
        + (f"; taken {manifest.get('created')} from {manifest.get('host')}" if manifest else ""),
        soft_wrap=True,
    )
    tables.describe_restore(report)
