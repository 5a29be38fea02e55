"""SSH connections with host keys verified (Fabric auto-adds unknown keys; we do not)."""
import logging
import os
import shlex
import socket

import paramiko
from fabric.runners import Remote
from paramiko.ssh_exception import NoValidConnectionsError

from .errors import DeployTasksError
from .host_names import host_label, host_name, known_hosts_files

SYSTEM_KNOWN_HOSTS = ("/etc/ssh/ssh_known_hosts",)
# paramiko logs a dropped connection (`Socket exception: Connection reset by peer`) from its transport thread;
# with no handler, Python's last-resort one printed it beside the task's own one-line error
logging.getLogger("paramiko").addHandler(logging.NullHandler())


class FastTransport(paramiko.Transport):
    """Prefers AES-GCM: one OpenSSL call per packet instead of CTR plus a separate HMAC (1 GiB over SFTP:
    8.2 s instead of 10.2 s here). Servers without GCM still negotiate the usual ciphers."""

    _preferred_ciphers = tuple(n for n in paramiko.Transport._preferred_ciphers if "gcm" in n) + tuple(
        n for n in paramiko.Transport._preferred_ciphers if "gcm" not in n
    )


class EarlyExitRemote(Remote):
    """Fabric's runner, except that a command which ends before reading all its stdin (a server-side error found
    at once, a dropped connection) leaves its exit status and output to tell what happened. Fabric's stdin thread
    would die writing into the closed channel, and the command's result would be lost in a traceback."""

    def read_our_stdin(self, input_):
        if self.channel.closed:
            return ""  # the command is gone: the rest of its stdin is not sent (as at EOF)
        return super().read_our_stdin(input_)

    def _write_proc_stdin(self, data):
        try:
            return super()._write_proc_stdin(data)
        except OSError:
            if not self.channel.closed:
                raise
        return None

    def close_proc_stdin(self):
        try:
            return super().close_proc_stdin()
        except OSError:
            if not self.channel.closed:
                raise
        return None


class AcceptNewPolicy(paramiko.MissingHostKeyPolicy):
    """Trust an unknown host on first use and record its key (OpenSSH's accept-new)."""

    def __init__(self, save_to):
        self.save_to = save_to

    def missing_host_key(self, client, hostname, key):
        client.get_host_keys().add(hostname, key.get_name(), key)
        os.makedirs(os.path.dirname(self.save_to) or ".", mode=0o700, exist_ok=True)
        with open(self.save_to, "a") as handle:
            handle.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")


def secure(c, settings) -> None:
    """Load known_hosts and refuse unknown keys (or accept them on first use when configured)."""
    if getattr(c, "_deploytasks_secured", False):
        return
    client = c.client
    for path in SYSTEM_KNOWN_HOSTS:
        if os.path.exists(path):
            client.load_system_host_keys(path)
    files = known_hosts_files(c, settings)
    for path in files:
        if os.path.exists(path):
            client.load_host_keys(path)
    strict = str(c.ssh_config.get("stricthostkeychecking", "")).lower()
    if settings.accept_new_hosts or strict in ("accept-new", "no", "off"):
        client.set_missing_host_key_policy(AcceptNewPolicy(files[0] if files else os.path.expanduser("~/.ssh/known_hosts")))
    else:
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
    c.connect_kwargs.setdefault("transport_factory", FastTransport)
    if c.config.runners.remote is Remote:
        c.config.runners.remote = EarlyExitRemote
    if c.connect_timeout is None:
        c.connect_timeout = 15
    c._deploytasks_secured = True


def connect(c, settings) -> None:
    """Open the connection with verified host keys; SSH failures become one-line errors."""
    secure(c, settings)
    if c.is_connected:
        return
    where = f"{c.user}@{host_label(c)}"
    files = known_hosts_files(c, settings) or [os.path.expanduser("~/.ssh/known_hosts")]
    try:
        c.open()
    except paramiko.BadHostKeyException:
        raise DeployTasksError(
            f"the host key of {host_label(c)} does not match known_hosts: it changed, or someone is in the middle; "
            "check with the server's admin before removing the old key (ssh-keygen -R)"
        ) from None
    except paramiko.AuthenticationException:
        raise DeployTasksError(
            f"authentication failed for {where}: check the user and key "
            f"(`ssh -p {c.port} {shlex.quote(c.user + '@' + host_name(c))}` should log in)"
        ) from None
    except paramiko.SSHException as exc:
        if "known_hosts" in str(exc):
            raise DeployTasksError(
                f"unknown host key for {host_label(c)}: verify it and add it with "
                f"`ssh-keyscan -p {c.port} {shlex.quote(c.host)} >> {shlex.quote(files[0])}`, "
                "or set deploytasks.accept_new_hosts: true "
                "to trust new hosts on first use"
            ) from None
        raise DeployTasksError(f"SSH to {where} failed: {exc}") from None
    except (NoValidConnectionsError, socket.timeout, socket.gaierror, OSError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise DeployTasksError(f"cannot reach {host_label(c)}: {reason}") from None
