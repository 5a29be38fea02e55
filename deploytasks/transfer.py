"""File transfers over SFTP with a progress bar and sha256 verification."""
import hashlib
import json
import os
import posixpath

from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn, TimeRemainingColumn

from .errors import DeployTasksError


def _progress():
    return Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                    TimeRemainingColumn(), transient=True)


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download(c, remote, local_dir, manifest) -> str:
    """Fetch a backup and its manifest into local_dir; the copy must match the manifest's sha256."""
    os.makedirs(local_dir, mode=0o700, exist_ok=True)
    local = os.path.join(local_dir, posixpath.basename(remote))
    partial = local + ".partial"
    sftp = c.sftp()
    with _progress() as progress:
        bar = progress.add_task(f"download {posixpath.basename(remote)}", total=manifest.get("size") or None)
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.close(fd)
        sftp.get(remote, partial, callback=lambda done, total: progress.update(bar, completed=done, total=total))
    if _sha256(partial) != manifest["sha256"]:
        os.unlink(partial)
        raise DeployTasksError(f"the downloaded copy of {remote} does not match its sha256: try again")
    os.chmod(partial, 0o600)
    os.replace(partial, local)
    clean = {k: v for k, v in manifest.items() if k not in ("path", "pruned")}
    fd = os.open(local + ".json", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(clean, handle, indent=2, sort_keys=True)
        handle.write("\n")
    return local


def upload(c, local, remote, manifest) -> None:
    """Send a backup (and its manifest, if any) to the server, mode 0600."""
    sftp = c.sftp()
    with _progress() as progress:
        bar = progress.add_task(f"upload {os.path.basename(local)}", total=os.path.getsize(local))
        sftp.put(local, remote + ".partial", callback=lambda done, total: progress.update(bar, completed=done, total=total))
    sftp.chmod(remote + ".partial", 0o600)
    sftp.posix_rename(remote + ".partial", remote)
    if manifest:
        with sftp.open(remote + ".json", "w") as handle:
            handle.write(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        sftp.chmod(remote + ".json", 0o600)
