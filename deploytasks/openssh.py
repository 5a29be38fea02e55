"""Bulk transfers through the OpenSSH client, when there is one: its C ciphers move a large dump about
twice as fast as paramiko's SFTP here. Same host, user, port, keys and host-key rules as the Fabric
connection; anything it cannot mirror (a gateway, no `ssh` binary) falls back to SFTP."""
import os
import shutil
import subprocess
import time

from .connection import known_hosts_files
from .shell import q

def ssh_argv(c, settings):
    """argv prefix for `ssh` equivalent to connection `c`, or None when it cannot be mirrored."""
    ssh = shutil.which("ssh")
    if not ssh or c.gateway:
        return None
    strict = "accept-new" if settings.accept_new_hosts else "yes"
    argv = [ssh, "-T", "-x", "-o", "BatchMode=yes", "-o", f"StrictHostKeyChecking={strict}",
            "-o", f"ConnectTimeout={int(c.connect_timeout or 15)}", "-p", str(c.port), "-l", c.user]
    config_path = getattr(c.config, "_runtime_ssh_path", None) or c.config.get("ssh_config_path")
    if config_path:
        argv += ["-F", config_path]
    files = known_hosts_files(c, settings)
    if files:
        argv += ["-o", "UserKnownHostsFile=" + " ".join(f'"{path}"' for path in files)]
    keys = c.connect_kwargs.get("key_filename") or []
    for key in [keys] if isinstance(keys, str) else keys:
        argv += ["-i", key]
    return argv + [c.host, "--"]


def _watch(process, position, progress):
    """Report position() to progress while the process runs; returns its exit status."""
    while process.poll() is None:
        progress(position())
        time.sleep(0.1)
    return process.returncode


def _stdin_position(pid):
    """How far a process has read its stdin file (Linux /proc), for the progress bar."""
    try:
        with open(f"/proc/{pid}/fdinfo/0") as info:
            for line in info:
                if line.startswith("pos:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _failure(process, what):
    stderr = process.stderr.read().decode(errors="replace").strip()
    return OSError(f"{what} failed: {stderr.splitlines()[-1] if stderr else process.returncode}")


def fetch(c, settings, remote, handle, progress):
    """Copy the remote file into the open local file `handle` with `ssh … cat` writing straight into it
    (no Python in the data path). False, with nothing written, when ssh cannot be used."""
    argv = ssh_argv(c, settings)
    if argv is None:
        return False
    process = subprocess.Popen(argv + [f"cat -- {q(remote)}"], stdin=subprocess.DEVNULL, stdout=handle,
                               stderr=subprocess.PIPE)
    code = _watch(process, lambda: os.fstat(handle.fileno()).st_size, progress)
    if code == 255:  # ssh itself failed (auth, host key, connection): start again over SFTP, which reports it
        handle.seek(0)
        handle.truncate()
        return False
    if code != 0:
        raise _failure(process, f"ssh cat {remote}")
    progress(os.fstat(handle.fileno()).st_size)
    return True


def send(c, settings, local, remote, progress):
    """Send a local file to `remote` (mode 0600) with `ssh … cat >` reading it straight from disk;
    False when ssh cannot be used."""
    argv = ssh_argv(c, settings)
    if argv is None:
        return False
    with open(local, "rb") as source:
        process = subprocess.Popen(argv + [f"umask 077 && cat > {q(remote)}"], stdin=source,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        code = _watch(process, lambda: _stdin_position(process.pid), progress)
    if code == 255:  # ssh itself failed: the caller sends the file over SFTP instead
        return False
    if code != 0:
        raise _failure(process, f"ssh upload to {remote}")
    progress(os.path.getsize(local))
    return True
