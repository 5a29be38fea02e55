"""A uv project on this machine: whether its uv.lock still matches pyproject.toml (`inv check`)."""
import os
import subprocess
from typing import Optional

from .installer import local_uv
from .server.uv_lock import is_lock


def lock_state(lock, installer) -> Optional[dict]:
    """{"ok", "detail"} of `uv lock --check --offline` for the project of `lock`; None when the requirements are no
    uv lock, there is no uv (`installer`: deploytasks.installer), or uv cannot tell without the network (its cache
    lacks what the check needs). uv is looked for only for a lock: other projects' checks never need it."""
    if not is_lock(lock) or not os.path.isfile(lock):
        return None
    uv = local_uv(installer)  # installer: uv with no uv is local_uv's one-line error, as for `inv install`
    if not uv:
        return None
    try:
        done = subprocess.run([uv, "lock", "--check", "--offline", "-q", "--project", os.path.dirname(lock)],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode == 0:
        return {"ok": True, "detail": "uv.lock matches pyproject.toml"}
    if "needs to be updated" not in done.stderr:
        return None
    cause = next((line.strip()[len("cause:"):].strip() for line in done.stderr.splitlines()
                  if line.strip().startswith("cause:")), "")
    return {"ok": False, "detail": "uv.lock does not match pyproject.toml" + (f" ({cause})" if cause else "")
                                   + ": run `uv lock` and commit uv.lock (servers install the lock as committed)"}
