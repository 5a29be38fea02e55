"""Entry: back up the project's database, verify it, write its manifest, prune. With params["stream"] (SQLite)
the copy's bytes also go to stdout as they are written, framed by a STREAM_MARKER line."""
import errno
import os
import sys

from .django_info import engine_for_alias, other_aliases
from .engines import SUPPORTED
from .errors import ServerError
from .layout import ServerLayout
from .leftovers import remove_idle_partials, remove_uploads_if_unlocked
from .manifests import prune_backups
from .results import BackupManifest


def main(params) -> BackupManifest:
    if params.get("server_path"):
        refuse_while_restoring(ServerLayout(params["server_path"]))
    alias = params.get("database", "default")
    database, engine = engine_for_alias(
        alias, "backups of %%s databases are not supported (%s are)" % SUPPORTED, settings_only=True)
    stream = None
    if params.get("stream"):
        sys.stdout.flush()
        stream = sys.stdout.buffer
    try:
        manifest = engine.backup(params["dest"], params, described(alias), stream=stream)
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
        raise ServerError("no space left on the disk of %s for the backup: free some (older backups are listed by "
                          "`backups`; keep_backups prunes them), then back up again; nothing was kept of this one"
                          % params["dest"]) from None
    protect = {manifest["file"]}
    if params.get("server_path"):  # a server's deploy path: what killed uploads left there goes too
        layout = ServerLayout(params["server_path"])
        manifest["leftovers"] = remove_uploads_if_unlocked(layout, params.get("host"))
        protect |= backups_of_releases(layout)
    else:  # a laptop's: what a backup or a restore's safety dump killed mid-way left
        manifest["leftovers"] = remove_idle_partials(params["dest"])
    manifest["pruned"] = prune_backups(params["dest"], params.get("keep"), protect=protect)
    return manifest


def described(alias) -> dict:
    """The manifest's fields on what was dumped: the alias, and DATABASES' other aliases, which were not."""
    others = other_aliases(alias)
    return dict({"database_alias": alias}, **({"other_databases": others} if others else {}))


def refuse_while_restoring(layout):
    """A backup is refused, before anything is dumped or pruned, while a restore replaces the database: on MySQL
    its load drops and fills table after table, each committed, so a dump then holds half the rows (and its
    retention would remove a whole backup for it)."""
    from .lock import holder_gone, lock_info
    from .lock_guard import LOAD_PREFIX, workers_alive

    info = lock_info(layout)
    if info and info.get("action") == "restore" and (not holder_gone(info) or workers_alive(layout.lock, (LOAD_PREFIX,))):
        raise ServerError("a restore is replacing the database on the server (by %s since %s): a backup now would "
                          "dump it half replaced; back up once it has ended (`fab history` shows it)" % (
                              info.get("who", "someone"), info.get("since", "?")))


def backups_of_releases(layout) -> set:
    """The pre-deploy backups the releases still on the server were deployed after (the copy a rollback across
    an irreversible migration restores): kept whatever their age."""
    from .releases import release_meta, release_names  # a server's backup only: not on a laptop's backup path

    backups = (release_meta(layout, name).get("backup") for name in release_names(layout))
    return {os.path.basename(backup) for backup in backups if isinstance(backup, str) and backup}
