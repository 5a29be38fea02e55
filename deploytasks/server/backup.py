"""Entry: back up the project's database, verify it, write its manifest, prune. With params["stream"] (SQLite)
the copy's bytes also go to stdout as they are written, framed by a STREAM_MARKER line."""
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
    if params.get("server_path"):  # a server's deploy path: what killed uploads left there goes too
        manifest["leftovers"] = remove_uploads_if_unlocked(ServerLayout(params["server_path"]), params.get("host"))
    manifest["pruned"] = prune_backups(params["dest"], params.get("keep"), protect=(manifest["file"],))
    return manifest
