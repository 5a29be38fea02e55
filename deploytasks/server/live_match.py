"""Whether a deploy would rebuild the release that already serves: same commit, same deploy settings, same
shared files (the .env a release links), and the live site answering with that commit. Such a deploy is
skipped (`fab deploy --again` does it anyway)."""
import hashlib
import os

from .releases import current_release, health, release_meta, release_revision


def deploy_digest(layout, params) -> str:
    """sha256 of what shapes a release besides its commit: the client's settings digest and the content of
    every shared file it links (a changed .env reaches the app only through a new start)."""
    digest = hashlib.sha256(params["settings_digest"].encode())
    for name in sorted(params["shared_files"]):
        digest.update(b"\0" + name.encode() + b"\0")
        try:
            with open(os.path.join(layout.shared, name), "rb") as handle:
                digest.update(hashlib.sha256(handle.read()).digest())
        except OSError:
            digest.update(b"absent")
    return digest.hexdigest()


def serving_unchanged(layout, params, revision, digest):
    """The live release's name when deploying `revision` would rebuild it; None when the deploy should run."""
    if params.get("again") or not digest or not params.get("healthcheck"):
        return None  # no health check: nothing proves the live release serves, so deploy
    current = current_release(layout)
    if not current or release_revision(layout, current) != revision:
        return None
    meta = release_meta(layout, current)
    if meta.get("status") != "live" or meta.get("deploy_digest") != digest:
        return None
    if health(params["healthcheck"], revision, 1, 0) is not None:
        return None  # down or serving something else: a deploy starts it again
    return current
