"""Entry: verify a backup (and, with apply, take a safety backup and restore it into the live database)."""

import errno
import os

from . import squashes
from .django_info import engine_for_alias, load_migrations, migration_files, other_aliases, set_up_apps
from .engines import SUPPORTED
from .errors import ServerError
from .files import fingerprint as fingerprint_of
from .lock_guard import register_worker
from .manifests import compare_migrations, finish_restore, prune_backups, read_manifest
from .results import Loaded, RestoreResult

UNSUPPORTED = "restores into %%s databases are not supported (%s are)" % SUPPORTED


def backup_vs_code(loader, recorded):
    """compare_migrations on a backup's django_migrations rows read as Django reads them (squashes)."""
    keys = squashes.recorded_keys(recorded)
    unknown = {}
    for app, name in squashes.unknown(loader, keys):
        unknown.setdefault(app, []).append(name)
    have = squashes.state(loader, keys)
    for app, names in unknown.items():
        have.setdefault(app, []).extend(names)
    files = migration_files(loader)
    for app, names in recorded.items():
        if app not in files:  # an app the code no longer has: all its names are unknown
            have[app] = unknown[app] = list(names)
    return compare_migrations(files, have, unknown)


def warm(params) -> Loaded:
    """Entry restore_warm, the first request of a server restore's command, sent while the upload arrives: load
    what the restore request (sent once the upload is in) would load first, the project's settings and apps, the
    database engine and the migration files (read offline), and take no lock."""
    engine_for_alias(params.get("database", "default"), UNSUPPORTED)
    set_up_apps()
    load_migrations(None)  # imports the migration files, which the restore compares the backup with
    return {"loaded": True}


def main(params) -> RestoreResult:
    alias = params.get("database", "default")
    database, engine = engine_for_alias(
        alias, UNSUPPORTED)
    path = params["file"]
    manifest = read_manifest(path, params.get("unverified"))
    engine.check_kind(path, manifest)
    fingerprint = fingerprint_of(path)
    marker = register_worker(params["lock"]) if params.get("apply") and params.get("lock") else None  # a lock guard waits for it
    try:
        early = params.get("apply") and hasattr(engine, "prepare_restore")
        if early:  # the safety dump runs while Django loads its apps and the upload is checked (PostgreSQL)
            engine.prepare_restore(params)
        try:
            set_up_apps()  # started with settings only, so that the safety dump starts first
            deferred = False
            if params.get("verified") != fingerprint:  # apply right after a check of this very file: not read again
                deferred = engine.check_backup(path, manifest, params, fingerprint)
            loader = load_migrations(None)  # offline: verifying must not open (or create) the live file
            result: RestoreResult = {"file": path, "size": fingerprint[0], "fingerprint": fingerprint, "manifest": manifest,
                      "database": database, "migrations": backup_vs_code(loader, engine.migrations_in(path))}
        except BaseException:
            if early:
                engine.abandon_restore()
            raise
        if engine.verified:
            result["verified"] = engine.verified
        others = other_aliases(alias)
        if others:
            result["other_databases"] = others
        if params.get("apply"):
            engine.lock_dir = params.get("lock")  # a load that outlives this process is waited for under it
            try:
                result.update(engine.restore_backup(path, params, deferred))
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                raise ServerError("no space left on a disk the restore writes to (its safety backup in %s, a "
                                  "staged copy beside the database): free some, then restore again" % (
                                      params.get("safety_dest") or os.path.dirname(path))) from None
            result["restored"] = True
            if params.get("media"):
                from .media_archive import swap_staged

                result["media"] = swap_staged(params["media"])
            if result.get("safety_backup") and params.get("keep"):
                safety = result["safety_backup"]  # the kind a restore adds to: its older ones beyond keep go
                result["pruned"] = prune_backups(os.path.dirname(safety), params["keep"],
                                                 protect={os.path.basename(safety)}, kind="pre-restore")
            finish_restore(params, path, result)
    finally:
        if marker and os.path.exists(marker):
            os.unlink(marker)
    return result
