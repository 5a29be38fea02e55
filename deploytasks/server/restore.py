"""Entry: verify a backup (and, with apply, take a safety backup and restore it into the live database)."""

import os

from .django_info import engine_for_alias, load_migrations, migration_files
from .engines import SUPPORTED
from .files import fingerprint as fingerprint_of
from .lock_guard import register_worker
from .manifests import compare_migrations, finish_restore, read_manifest


def main(params):
    alias = params.get("database", "default")
    database, engine = engine_for_alias(
        alias, "restores into %%s databases are not supported (%s are)" % SUPPORTED)
    path = params["file"]
    manifest = read_manifest(path, params.get("unverified"))
    engine.check_kind(path, manifest)
    fingerprint = fingerprint_of(path)
    deferred = False
    if params.get("verified") != fingerprint:  # apply right after a check of this very file: not read again
        deferred = engine.check_backup(path, manifest, params, fingerprint)
    files = migration_files(load_migrations(None))  # offline: verifying must not open (or create) the live file
    result = {"file": path, "size": fingerprint[0], "fingerprint": fingerprint, "manifest": manifest,
              "database": database, "migrations": compare_migrations(files, engine.migrations_in(path))}
    if engine.verified:
        result["verified"] = engine.verified
    if params.get("apply"):
        marker = register_worker(params["lock"]) if params.get("lock") else None  # a lock guard waits for it
        try:
            result.update(engine.restore_backup(path, params, deferred))
            result["restored"] = True
            finish_restore(params, path, result)
        finally:
            if marker and os.path.exists(marker):
                os.unlink(marker)
    return result
