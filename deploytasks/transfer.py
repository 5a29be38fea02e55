"""File transfers with a progress bar and sha256 verification (OpenSSH client when possible, else SFTP)."""
import base64
import hashlib
import json
import os
import posixpath
import re

from . import bundle, openssh
from .backups import sha256_of
from .errors import ConnectionLost, DeployTasksError
from .host_names import host_label
from .output import console
from .server.files import Writeback, fsync_path, write_private
from .shell import parse_marked_text, q, run


def _progress():
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn, TimeRemainingColumn

    from .output import console

    # off a terminal a bar draws nothing useful, and a transient one left an empty line at the top of a log
    return Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                    TimeRemainingColumn(), transient=True, console=console, disable=not console.is_terminal)


class HashingWriter:
    """A file wrapper that hashes what passes through, so a download is checked without a second read."""

    def __init__(self, handle):
        self.handle = handle
        self.digest = hashlib.sha256()

    def write(self, data):
        self.digest.update(data)
        return self.handle.write(data)


def incoming_path(local_dir) -> str:
    """Where this process receives a backup: a hidden name carrying its PID (how a later run knows it is stale)."""
    return os.path.join(local_dir, f".incoming-{os.getpid()}.partial")


def remove_stale_partials(local_dir) -> list:
    """Remove the partial downloads of `fab` processes that are gone (killed mid-transfer); returns their names."""
    removed = []
    for name in os.listdir(local_dir):
        match = re.fullmatch(r"\.incoming-(\d+)\.partial", name)
        if match and not _running(int(match.group(1))):
            try:
                os.unlink(os.path.join(local_dir, name))
            except FileNotFoundError:
                continue
            removed.append(name)
    return removed


def _running(pid) -> bool:
    if pid == os.getpid():
        return False  # an earlier run of this very PID (reused): its transfer is long over
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def download(c, remote, local_dir, manifest, settings=None) -> str:
    """Fetch a backup and its manifest into local_dir; the copy must match the manifest's sha256.
    With settings, the bytes travel through the OpenSSH client when possible, else over SFTP."""
    os.makedirs(local_dir, mode=0o700, exist_ok=True)
    remove_stale_partials(local_dir)
    local = os.path.join(local_dir, posixpath.basename(remote))
    partial = incoming_path(local_dir)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with _progress() as progress, os.fdopen(fd, "wb") as handle:
        bar = progress.add_task(f"download {posixpath.basename(remote)}", total=manifest.get("size") or None)
        try:
            fetched = settings is not None and openssh.fetch(
                c, settings, remote, handle, arrived(handle, lambda done: progress.update(bar, completed=done)))
        except OSError as exc:
            os.unlink(partial)
            raise DeployTasksError(f"downloading {remote} failed: {exc}") from None
        if fetched:
            handle.close()
            digest = sha256_of(partial)  # the file is in the page cache: hashing it now is cheap
        else:
            writer = HashingWriter(handle)
            sftp_fallback(c, f"the download of {remote}").getfo(remote, writer, callback=lambda done, total: progress.update(bar, completed=done, total=total))
            digest = writer.digest.hexdigest()
    if digest != manifest["sha256"]:
        os.unlink(partial)
        raise DeployTasksError(f"the downloaded copy of {remote} does not match its sha256: try again")
    os.chmod(partial, 0o600)
    keep(partial, local, manifest)
    return local


def arrived(handle, progress):
    """The progress callback of a download into `handle` that also starts the disk writes of what arrived."""
    writeback = Writeback(handle.fileno())

    def update(done):
        progress(done)
        writeback.at(done)
    return update


def keep(partial, local, manifest):
    """The downloaded copy named `local` with its manifest beside it, both on disk before the backup is reported
    done (the copy's disk writes were started as it arrived, so its fsync has little left to wait for)."""
    fsync_path(partial)
    os.replace(partial, local)
    _write_manifest(local, manifest)
    fsync_path(os.path.dirname(os.path.abspath(local)), directory=True)


def _write_manifest(local, manifest):
    clean = {k: v for k, v in manifest.items() if k not in ("path", "pruned", "sent")}
    write_private(local + ".json", json.dumps(clean, indent=2, sort_keys=True) + "\n")


def stream_backup(c, settings, command, document, local_dir, ship):
    """Run the backup (`document` on the command's stdin) through the OpenSSH client, its copy's bytes landing
    in local_dir as the server writes them (one connection, no second pass over the file: SSH authenticates every byte, and the manifest
    carries the sha256 the server computed, checked before any restore); the manifest (with local_path when
    its bytes came along), or None when ssh cannot be used. ship(): uploads the server code when the command
    says it is missing (then it runs once more)."""
    os.makedirs(local_dir, mode=0o700, exist_ok=True)
    remove_stale_partials(local_dir)
    partial = incoming_path(local_dir)
    fd = os.open(partial, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with _progress() as progress, os.fdopen(fd, "wb") as handle:
            bar = []

            def receive():
                try:
                    return stream()
                except OSError as exc:
                    raise DeployTasksError(f"backup download failed: {exc}; try again") from None

            def stream():
                return openssh.receive_stream(
                    c, settings, command, document, handle,
                    lambda header: bar.append(progress.add_task(f"download {header['file']}", total=header.get("size"))),
                    arrived(handle, lambda done: progress.update(bar[0], completed=done)))
            received = receive()
            if received is not None and received[0] is None and received[3] == bundle.MISSING:
                ship()
                received = receive()
        if received is None:
            os.unlink(partial)
            return None
        header, text, stderr, code = received
        manifest = parse_marked_text(text, stderr, code, "backup")
        if header is None:  # an engine whose dump is not streamed: the caller downloads it
            os.unlink(partial)
            return manifest
        if os.path.getsize(partial) != manifest["size"]:
            raise DeployTasksError("backup failed: the server did not send the whole copy; try again")
        if header.get("sha256") and header["sha256"] != manifest["sha256"]:
            raise DeployTasksError("backup failed: the copy received does not match the sha256 the server computed; "
                                   "try again")
    except BaseException as exc:
        if os.path.exists(partial):
            os.unlink(partial)
        if isinstance(exc, KeyboardInterrupt):
            raise DeployTasksError("interrupted (Ctrl-C) during the backup's download: no local copy kept; the server "
                                   "kept its copy only if it had finished it (`fab backups`)") from None
        raise
    local = os.path.join(local_dir, posixpath.basename(manifest["path"]))
    keep(partial, local, manifest)
    manifest["local_path"] = local
    if header.get("compression"):
        manifest["sent"] = {"compression": header["compression"], "bytes": header["sent_bytes"]}
    return manifest


def upload(c, local, remote, manifest, settings=None, writeback=False):
    """Send a backup (and its manifest, if any) to the server, mode 0600 (through OpenSSH when possible).
    Returns {"sha256", "fingerprint"} when the server hashed it as it arrived, else None."""
    received = None
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n" if manifest else ""
    in_place = f"mv -f {q(remote + '.partial')} {q(remote)}" + (
        f" && printf %s {q(base64.b64encode(text.encode()).decode())} | base64 -d > {q(remote + '.json')}" if text else "")
    with _progress() as progress:
        bar = progress.add_task(f"upload {os.path.basename(local)}", total=os.path.getsize(local))
        try:
            received = settings is not None and openssh.send(
                c, settings, local, remote + ".partial", lambda done: progress.update(bar, completed=done),
                compress=None if settings.compress_transfers else False, then=in_place, writeback=writeback)
        except OSError as exc:
            raise DeployTasksError(f"uploading {local} failed: {exc}") from None
        if not received:
            received = None
            sftp = sftp_fallback(c, f"the upload of {local}")
            sftp.put(local, remote + ".partial", callback=lambda done, total: progress.update(bar, completed=done, total=total))
            sftp.chmod(remote + ".partial", 0o600)
    sent = (received or {}).pop("sent", None)
    if sent:
        console.print(f"  {os.path.basename(local)}: {sent['compression']} on the way, {sent['bytes']:,} of "
                      f"{os.path.getsize(local):,} bytes sent", highlight=False)
    if not received:  # sent over SFTP: put it in place now (through ssh, the command did as it ended)
        run(c, f"umask 077 && {in_place}", what=f"putting the upload in place as {remote}")
    return received


def sftp_fallback(c, what):
    """SFTP for a transfer that `ssh` could not make; ConnectionLost when the reason is that the connection to the
    server dropped (Fabric would open a new one and start the transfer, and what followed it, all over again)."""
    lost = ConnectionLost(f"the connection to the server was lost (closed or dropped) during {what}")
    if c.transport is not None and not c.is_connected:
        raise lost
    try:
        return sftp_of(c)
    except (EOFError, ConnectionError) as exc:  # it dropped as the SFTP session opened: not seen as closed yet
        raise lost from exc
    except Exception as exc:  # paramiko's SSHException ("SSH session not active"), imported on use only
        if type(exc).__name__ == "SSHException" and c.transport is not None and not c.is_connected:
            raise lost from exc
        raise


def sftp_of(c):
    """The connection's SFTP session, or a one-line error when the server's shell start-up prints text, which
    breaks SFTP where the sftp server is a program the shell starts (Debian's default)."""
    from paramiko import SFTPError

    try:
        return c.sftp()
    except SFTPError as exc:
        raise DeployTasksError(
            f"SFTP to {host_label(c)} failed ({exc}): the SSH user's shell prints text when it starts (~/.bashrc?); "
            "make it print nothing for non-interactive shells (e.g. put `case $- in *i*) ;; *) return;; esac` "
            "first in ~/.bashrc)") from None
