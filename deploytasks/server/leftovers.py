"""What a killed transfer leaves on the server: uploads (whole or `.partial`) in backups/uploaded/ (nobody else
uploads while the caller holds the deploy lock: restores upload under it, so everything there is stale, a
restore's early safety dump included), and
backups/*.partial of a backup killed mid-dump (backups take no lock: only those nobody has open and nobody
wrote to for a while)."""
import os
import shutil
import time

from .lock import release_lock, try_lock
from .procscan import files_open

EARLY_SAFETY_PREFIX = "early-safety-"  # backups/uploaded/<this><pid>/: a restore's early safety dump (early_safety)
IDLE_SECONDS = 600  # a partial backup untouched this long, and open nowhere, was left by a killed backup


def remove_uploads(layout):
    """Remove every file in backups/uploaded/ and the stale backups/*.partial (call it holding the lock);
    returns their names (relative to backups/)."""
    removed = []
    for name in _files(layout.uploaded):
        if _unlink(os.path.join(layout.uploaded, name)):
            removed.append(os.path.join("uploaded", name))
    for name in _early_dumps(layout.uploaded):
        shutil.rmtree(os.path.join(layout.uploaded, name), ignore_errors=True)
        removed.append(os.path.join("uploaded", name))
    return removed + remove_idle_partials(layout.backups)


def remove_idle_partials(directory):
    """The `*.partial` backups in `directory` no process has open and nothing wrote to for IDLE_SECONDS (a backup
    or a safety dump killed mid-way) removed; returns their names."""
    partials = [os.path.join(directory, name) for name in _files(directory) if name.endswith(".partial")]
    idle = [path for path in partials if _idle(path)]
    busy = files_open(idle) if idle else set()
    return [os.path.basename(path) for path in idle if path not in busy and _unlink(path)]


def _early_dumps(directory):
    try:
        return sorted(name for name in os.listdir(directory) if name.startswith(EARLY_SAFETY_PREFIX)
                      and os.path.isdir(os.path.join(directory, name)) and not os.path.islink(os.path.join(directory, name)))
    except OSError:
        return []


def _files(directory):
    try:
        return sorted(name for name in os.listdir(directory)
                      if os.path.isfile(os.path.join(directory, name)) or os.path.islink(os.path.join(directory, name)))
    except OSError:
        return []


def _idle(path):
    try:
        return time.time() - os.stat(path).st_mtime > IDLE_SECONDS
    except OSError:
        return False


def _unlink(path):
    try:
        os.unlink(path)
        return True
    except FileNotFoundError:
        return False


def remove_uploads_if_unlocked(layout, who=None):
    """remove_uploads under the lock taken for the moment; nothing when someone holds it (their upload may
    be on its way). Returns the names removed."""
    if not try_lock(layout, "cleanup", who):
        return []
    try:
        return remove_uploads(layout)
    finally:
        release_lock(layout)
