"""Entry: back up the project's database, verify it, write its manifest, prune. With params["stream"] (SQLite)
the copy's bytes also go to stdout as they are written, framed by a STREAM_MARKER line."""
import os
import sys

from .django_info import engine_for_alias
from .engines import SUPPORTED
from .layout import ServerLayout
from .leftovers import remove_uploads_if_unlocked
from .manifests import prune_backups
from .results import BackupManifest


def main(params) -> BackupManifest:
    alias = params.get("database", "default")
    database, engine = engine_for_alias(
        alias, "backups of %%s databases are not supported (%s are)" % SUPPORTED, settings_only=True)
    stream = None
    if params.get("stream"):
        sys.stdout.flush()
        stream = sys.stdout.buffer
    manifest = engine.backup(params["dest"], params, {"database_alias": alias}, stream=stream)
    protect = {manifest["file"]}
    if params.get("server_path"):  # a server's deploy path: what killed uploads left there goes too
        layout = ServerLayout(params["server_path"])
        manifest["leftovers"] = remove_uploads_if_unlocked(layout, params.get("host"))
        protect |= backups_of_releases(layout)
    manifest["pruned"] = prune_backups(params["dest"], params.get("keep"), protect=protect)
    return manifest


def backups_of_releases(layout) -> set:
    """The pre-deploy backups the releases still on the server were deployed after (the copy a rollback across
    an irreversible migration restores): kept whatever their age."""
    from .releases import release_meta, release_names  # a server's backup only: not on a laptop's backup path

    backups = (release_meta(layout, name).get("backup") for name in release_names(layout))
    return {os.path.basename(backup) for backup in backups if isinstance(backup, str) and backup}
