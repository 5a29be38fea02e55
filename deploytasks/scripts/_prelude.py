# Prepended to every script deploytasks runs on the target side (local or server).
# PARAMS is injected above this line as a JSON literal.
import hashlib
import json
import os
import re
import sys
import time

MARKER = "@@DEPLOYTASKS@@"


def emit(result):
    sys.stdout.write("\n" + MARKER + json.dumps(result, default=str) + "\n")
    sys.stdout.flush()


def fail(message, code=3):
    sys.stdout.write("\n" + MARKER + json.dumps({"error": message}) + "\n")
    sys.stdout.flush()
    raise SystemExit(code)


def sha256_of(path, blocksize=1 << 20):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(blocksize), b""):
            digest.update(block)
    return digest.hexdigest()


def write_private(path, data):
    """Write bytes/str to path with mode 0600, atomically (temp file + rename)."""
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data.encode() if isinstance(data, str) else data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def read_manifest(path, unverified=False):
    """The backup's manifest beside it (None, with unverified, when there is none); fails on a missing file."""
    if not os.path.isfile(path):
        fail("backup file %s not found" % path)
    manifest_path = path + ".json"
    if os.path.isfile(manifest_path):
        try:
            with open(manifest_path) as handle:
                return json.load(handle)
        except ValueError:
            fail("manifest %s is not valid JSON: the backup cannot be verified" % manifest_path)
    if not unverified:
        fail("no manifest %s beside the backup, so its checksum cannot be verified: pass --unverified to restore it anyway" % manifest_path)
    return None


def compare_migrations(files, restored):
    """Per app: how the backup's applied migrations stand against the code's migration files."""
    comparison = {}
    for app in sorted(set(files) | set(restored)):
        known = files.get(app, [])
        have = restored.get(app, [])
        comparison[app] = {
            "backup_applied": len([n for n in have if n in known]),
            "backup_latest": have[-1] if have else None,
            "code_latest": known[-1] if known else None,
            "code_total": len(known),
            "missing": [n for n in known if n not in have],
            "unknown": [n for n in have if n not in known],
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


def publish_backup(partial, final, manifest):
    """Give a verified backup its name (mode 0600) and write its manifest beside it; manifest["path"] is set."""
    os.chmod(partial, 0o600)
    os.replace(partial, final)
    write_private(final + ".json", json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    manifest["path"] = final


def finish_restore(params, path, result):
    """After a restore that succeeded: an upload made for it is removed (consume), and the deploy lock the
    caller took is released here (lock), saving it a round trip."""
    if params.get("consume"):
        for leftover in (path, path + ".json"):
            if os.path.exists(leftover):
                os.unlink(leftover)
    if params.get("lock"):
        import shutil
        shutil.rmtree(params["lock"], ignore_errors=True)
        result["unlocked"] = True
