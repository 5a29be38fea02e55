"""What a killed transfer leaves on the server: uploads (whole or `.partial`) in backups/uploaded/. Nobody else
uploads while the caller holds the deploy lock (restores upload under it), so everything there is stale."""
import os

from .lock import release_lock, try_lock


def remove_uploads(layout):
    """Remove every file in backups/uploaded/ (call it holding the lock); returns their names."""
    try:
        names = sorted(os.listdir(layout.uploaded))
    except OSError:
        return []
    removed = []
    for name in names:
        path = os.path.join(layout.uploaded, name)
        if os.path.isfile(path) or os.path.islink(path):
            try:
                os.unlink(path)
            except FileNotFoundError:
                continue
            removed.append(name)
    return removed


def remove_uploads_if_unlocked(layout, who=None):
    """remove_uploads under the lock taken for the moment; nothing when someone holds it (their upload may
    be on its way). Returns the names removed."""
    if not try_lock(layout, "cleanup", who):
        return []
    try:
        return remove_uploads(layout)
    finally:
        release_lock(layout)
