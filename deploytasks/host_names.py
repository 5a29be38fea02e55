"""How a host is named in messages, and where its keys are looked up: what the OpenSSH client and Fabric's
connection (connection.py) share, without importing paramiko (`inv`, which never connects, does not need it)."""
import os
import shlex


def known_hosts_files(c, settings) -> list:
    files = [os.path.expanduser(path) for path in settings.known_hosts]
    from_ssh_config = c.ssh_config.get("userknownhostsfile")
    if from_ssh_config:
        files = [os.path.expanduser(path) for path in shlex.split(from_ssh_config)] + files
    return files


def host_name(c) -> str:
    """The host as the user named it (`fab -H prod`: "prod"), not what ssh_config resolved it to."""
    return getattr(c, "original_host", None) or c.host


def host_label(c) -> str:
    """The host as typed, and the address its key is looked up under when that differs: `prod ([10.0.0.5]:2222)`."""
    address = c.host if c.port == 22 else f"[{c.host}]:{c.port}"
    return address if address == host_name(c) else f"{host_name(c)} ({address})"
