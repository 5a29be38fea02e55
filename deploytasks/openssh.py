"""Bulk transfers through the OpenSSH client, when there is one: its C ciphers move a large dump about
twice as fast as paramiko's SFTP here. Same host, user, port, keys and host-key rules as the Fabric
connection; anything it cannot mirror (a gateway, no `ssh` binary) falls back to SFTP."""
import shutil
import subprocess

from .connection import known_hosts_files
from .shell import q

CHUNK = 1 << 20


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


def stream_from(c, settings, remote, sink, progress):
    """Write the remote file's bytes into sink(data); False (nothing written) when ssh cannot be used."""
    argv = ssh_argv(c, settings)
    if argv is None:
        return False
    process = subprocess.Popen(argv + [f"cat -- {q(remote)}"], stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    done = 0
    first = process.stdout.read(CHUNK)
    if not first:
        process.wait()
        if process.returncode == 255:  # ssh itself failed (auth, host key): let SFTP try and report
            return False
    data = first
    while data:
        sink(data)
        done += len(data)
        progress(done)
        data = process.stdout.read(CHUNK)
    stderr = process.stderr.read().decode(errors="replace").strip()
    if process.wait() != 0:
        raise OSError(f"ssh cat {remote} failed: {stderr.splitlines()[-1] if stderr else process.returncode}")
    return True


def stream_to(c, settings, local, remote, progress):
    """Send a local file to `remote` (mode 0600); False when ssh cannot be used."""
    argv = ssh_argv(c, settings)
    if argv is None:
        return False
    command = f"umask 077 && cat > {q(remote)}"
    process = subprocess.Popen(argv + [command], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    done = 0
    try:
        with open(local, "rb") as handle:
            for block in iter(lambda: handle.read(CHUNK), b""):
                process.stdin.write(block)
                done += len(block)
                progress(done)
        process.stdin.close()
    except BrokenPipeError:
        pass
    stderr = process.stderr.read().decode(errors="replace").strip()
    code = process.wait()
    if code == 255 and done <= CHUNK:
        return False
    if code != 0:
        raise OSError(f"ssh upload to {remote} failed: {stderr.splitlines()[-1] if stderr else code}")
    return True
