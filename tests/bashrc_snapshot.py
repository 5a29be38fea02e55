"""What the SSH user's ~/.bashrc leaves in the environment, given to the tests' sshd sessions without running it.

bash sources ~/.bashrc for every command sshd runs. On a machine whose .bashrc runs `pyenv init` that costs about
0.15 CPU-seconds a session, and the test suite opens about a thousand sessions. The tests' sshd "servers" (not the
benchmarks') set the variables the file sets (sshd_config SetEnv) and SHLVL=1, which makes bash a nested shell that
does not read the file. The snapshot is taken once per process from the real file, so the machine's own .bashrc
still decides what the servers' commands find.
"""
from __future__ import annotations

import functools
import getpass
import os
import pwd
import subprocess
from pathlib import Path

SSHD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"  # what sshd gives root's sessions
BASH_OWN = {"_", "SHLVL", "PWD", "OLDPWD"}
UNSAFE = ('"', "\n", "\\")  # characters an sshd_config value cannot hold


def bashrc() -> Path:
    return Path.home() / ".bashrc"


def _environment(source: bool) -> dict:
    user = getpass.getuser()
    start = {"HOME": str(Path.home()), "USER": user, "LOGNAME": user, "SHELL": "/bin/bash", "PATH": SSHD_PATH}
    script = (". ~/.bashrc >/dev/null 2>&1; " if source else "") + "env -0"
    out = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], env=start, cwd=start["HOME"],
                         stdin=subprocess.DEVNULL, capture_output=True, check=True, timeout=60).stdout
    return dict(item.split("=", 1) for item in out.decode().split("\0") if "=" in item)


@functools.lru_cache(maxsize=None)
def snapshot() -> dict | None:
    """The variables ~/.bashrc sets or changes; None when there is no file or it cannot be given as SetEnv (it
    unsets a variable, or a value holds a quote, a backslash or a newline), or the user's shell is not bash."""
    if not bashrc().is_file() or os.path.basename(pwd.getpwuid(os.getuid()).pw_shell) != "bash":
        return None
    before, after = _environment(source=False), _environment(source=True)
    if set(before) - set(after) - BASH_OWN:
        return None
    changed = {name: value for name, value in after.items() if name not in BASH_OWN and before.get(name) != value}
    if any(mark in value for value in changed.values() for mark in UNSAFE):
        return None
    return changed


def session_environment(extra: dict) -> dict:
    """What a session gets: the snapshot, `extra` over it (a PATH in `extra` gets what ~/.bashrc puts before
    sshd's PATH in front of it, as the file would), and SHLVL=1 so bash does not read ~/.bashrc itself. Without
    a snapshot, `extra` alone (bash reads the file)."""
    if snapshot() is None:
        return dict(extra)
    variables = dict(snapshot())
    path = variables.get("PATH")
    variables.update(extra)
    if "PATH" in extra and path:
        variables["PATH"] = path[:-len(SSHD_PATH)] + extra["PATH"] if path.endswith(":" + SSHD_PATH) else path
    variables["SHLVL"] = "1"
    return variables
