"""Backup files and the manifests beside them: naming, publishing, reading, listing, pruning."""
import json
import os
import re
import shutil
import time

from .errors import ServerError
from .files import fsync_path, sha256_of, write_private
from .results import BackupListing


def read_manifest(path, unverified=False):
    """The backup's manifest beside it (None, with unverified, when there is none); fails on a missing file."""
    if not os.path.isfile(path):
        raise ServerError("backup file %s not found" % path)
    manifest_path = path + ".json"
    if os.path.isfile(manifest_path):
        try:
            with open(manifest_path) as handle:
                return json.load(handle)
        except ValueError:
            raise ServerError("manifest %s is not valid JSON: the backup cannot be verified" % manifest_path) from None
    if not unverified:
        raise ServerError("no manifest %s beside the backup, so its checksum cannot be verified: pass --unverified "
                          "to restore it anyway" % manifest_path)
    return None


def compare_migrations(files, restored, unknown=None):
    """Per app: how the backup's applied migrations stand against the code's migration files (the latest is the
    last in the code's order). `unknown` ({app: [names]}, squashes.unknown's answer) replaces the plain "not a
    file" test, so that names a squashed migration replaced are not called unknown."""
    comparison = {}
    for app in sorted(set(files) | set(restored)):
        known = files.get(app, [])
        have = restored.get(app, [])
        known_have = [n for n in known if n in have]
        comparison[app] = {
            "backup_applied": len(known_have),
            "backup_latest": known_have[-1] if known_have else (have[-1] if have else None),
            "code_latest": known[-1] if known else None,
            "code_total": len(known),
            "missing": [n for n in known if n not in have],
            "unknown": [n for n in have if n not in known] if unknown is None else unknown.get(app, []),
        }
    return comparison


def backup_name(dest_dir, database_name, label, suffix):
    """<database>-<UTC stamp>[-label]<suffix>, never an existing name."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", os.path.basename(database_name.rstrip("/"))).strip("._") or "db"
    base = "%s-%s%s" % (stem, stamp, "-" + label if label else "")
    name = base + suffix
    counter = 1
    while os.path.exists(os.path.join(dest_dir, name)) or os.path.exists(os.path.join(dest_dir, name + ".partial")):
        counter += 1
        name = "%s-%d%s" % (base, counter, suffix)
    return name


# In a backups directory: the sha256 of the backups this machine verified whole as it made them (a PostgreSQL dump read
# back by pg_restore, an SQLite copy whose snapshot passed integrity_check).
READ_BACK_LIST = ".read-back-sha256"
READ_BACK_KEEP = 1000


def remember_read_back(directory, sha256):
    """Note in `directory` that the backup with this sha256 was verified whole when it was made here, so that a
    restore of the very same bytes (their sha256 matches) need not verify them again. The newest
    READ_BACK_KEEP are kept; one lost to a concurrent rewrite only means that restore reads the file again."""
    path = os.path.join(directory, READ_BACK_LIST)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, (sha256 + "\n").encode())
        size = os.fstat(fd).st_size
    finally:
        os.close(fd)
    if size > 2 * READ_BACK_KEEP * 65:
        with open(path) as handle:
            write_private(path, "".join(line + "\n" for line in handle.read().split()[-READ_BACK_KEEP:]))


def read_back_here(directory, sha256):
    """Whether the backup with this sha256 was verified whole when it was made in `directory`."""
    if not directory or not re.fullmatch(r"[0-9a-f]{64}", str(sha256)):
        return False
    try:
        with open(os.path.join(directory, READ_BACK_LIST)) as handle:
            return sha256 in handle.read().split()
    except OSError:
        return False


def publish_backup(partial, final, manifest):
    """Give a verified backup its name (mode 0600) and write its manifest beside it; manifest["path"] is set."""
    os.chmod(partial, 0o600)
    os.replace(partial, final)
    write_private(final + ".json", json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    fsync_path(os.path.dirname(os.path.abspath(final)), directory=True)  # both names survive a crash
    manifest["path"] = final


def finish_restore(params, path, result):
    """After a restore that succeeded: an upload made for it is removed (consume), and the deploy lock the
    caller took is released here (lock), saving it a round trip."""
    if params.get("consume"):
        for leftover in (path, path + ".json"):
            if os.path.exists(leftover):
                os.unlink(leftover)
    if params.get("lock"):
        if params.get("log"):  # a server's restore: in releases.log beside deploys and rollbacks
            from .layout import ServerLayout
            from .releases import append_log

            try:
                failed = (result.get("media") or {}).get("failed")
                append_log(ServerLayout(os.path.dirname(params["lock"].rstrip("/"))), dict(
                    params["log"], result="failed" if failed else "ok", safety_backup=result.get("safety_backup"),
                    **({"error": "the media was not swapped in: " + failed} if failed else {})))
            except OSError:  # a full disk: the restore is done all the same
                pass
        shutil.rmtree(params["lock"], ignore_errors=True)
        result["unlocked"] = True


SAFETY_LABEL = re.compile(r"-\d{8}T\d{6}Z-(pre-[a-z]+)(?:-\d+)?\.")  # backup_name's -<label>[-<n>] before the suffix


def backup_kind(name) -> str:
    """'pre-deploy', 'pre-restore', … for a safety backup a task took before it changed the database; '' for the
    user's own backups (`backup`, with or without a --label)."""
    found = SAFETY_LABEL.search(name)
    return found.group(1) if found else ""


def prune_backups(dest_dir, keep, protect=(), kind=None):
    """Delete the oldest backups (with a manifest) beyond `keep` of each kind (backup_kind: the user's own, and
    each kind of safety backup, so that routine backups never push out the one a deploy took); returns removed
    names. `protect`: names kept whatever their age; `kind`: that kind alone (backup_kind's names)."""
    if not keep or not os.path.isdir(dest_dir):
        return []
    entries = []
    for entry in os.listdir(dest_dir):
        if entry.endswith(".json"):
            dump = os.path.join(dest_dir, entry[:-5])
            if os.path.exists(dump):
                try:
                    with open(os.path.join(dest_dir, entry)) as handle:
                        created = json.load(handle).get("created", "")
                    written = os.stat(os.path.join(dest_dir, entry)).st_mtime_ns  # orders same-second backups
                except (OSError, ValueError):
                    continue
                entries.append((created, written, entry[:-5]))
    entries.sort(reverse=True)
    removed, seen = [], {}
    for _, _, name in entries:
        its = backup_kind(name)
        seen[its] = seen.get(its, 0) + 1
        if seen[its] <= keep or name in protect or (kind is not None and its != kind):
            continue
        for path in (os.path.join(dest_dir, name), os.path.join(dest_dir, name + ".json"),
                     os.path.join(dest_dir, name + ".media.tar"),  # media_archive.SUFFIX
                     os.path.join(dest_dir, name + ".media.tar.contents"),  # media_archive.CONTENTS
                     os.path.join(dest_dir, name + ".media.tar.delta")):  # media_delta.DELTA, if interrupted
            if os.path.exists(path):
                os.unlink(path)
        removed.append(name)
    return removed


def list_backups(params) -> BackupListing:
    """Entry: the backups (dump + manifest pairs) in params["dir"], newest first."""
    rows = []
    directory = params["dir"]
    if os.path.isdir(directory):
        for entry in sorted(os.listdir(directory)):
            if not entry.endswith(".json"):
                continue
            dump = os.path.join(directory, entry[:-5])
            try:
                with open(os.path.join(directory, entry)) as handle:
                    manifest = json.load(handle)
                written = os.stat(os.path.join(directory, entry)).st_mtime_ns  # orders same-second backups
            except (OSError, ValueError):
                continue
            manifest["path"] = dump
            manifest["present"] = os.path.exists(dump)
            if manifest["present"] and params.get("verify"):
                manifest["sha256_ok"] = sha256_of(dump) == manifest.get("sha256")
            rows.append((manifest.get("created", ""), written, manifest))
    rows.sort(key=lambda row: row[:2], reverse=True)
    return {"dir": directory, "backups": [manifest for _, _, manifest in rows]}


def latest_without(directory, database, app, name):
    """The newest backup in `directory` of the database named `database` taken before migration app.name was
    applied (its manifest's migrations lack it; the dump is there), or None."""
    for manifest in list_backups({"dir": directory})["backups"]:
        migrations = manifest.get("migrations")
        if (manifest.get("present") and manifest.get("database") == database and isinstance(migrations, dict)
                and migrations and name not in (migrations.get(app) or [])):
            return manifest
    return None
