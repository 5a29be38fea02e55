"""What the SSH user's ~/.bashrc leaves in the environment, as a file that sets just that.

bash sources ~/.bashrc for every command sshd runs. On a machine whose .bashrc runs `pyenv init` that costs about
0.15 CPU-seconds a session, and the test suite opens about a thousand sessions. The tests' sshd "servers" (not the
benchmarks') source this snapshot in its place: the same variables and PATH, none of the work. The snapshot is taken
once per process, from the real file, so a machine's own .bashrc still decides what the servers' commands find.
"""
from __future__ import annotations

import functools
import getpass
import os
import shlex
import subprocess
from pathlib import Path

SSHD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"  # what sshd gives root's sessions
BASH_OWN = {"_", "SHLVL", "PWD", "OLDPWD"}


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
def snapshot() -> str | None:
    """The text of a .bashrc exporting what the user's .bashrc sets, None when there is none."""
    if not bashrc().is_file():
        return None
    before, after = _environment(source=False), _environment(source=True)
    lines = ["# tests/bashrc_snapshot.py: the variables ~/.bashrc sets, without running it"]
    for name in sorted(set(before) | set(after)):
        if name in BASH_OWN or before.get(name) == after.get(name):
            continue
        if name not in after:
            lines.append(f"unset {name}")
        elif name == "PATH" and after[name].endswith(":" + SSHD_PATH):
            lines.append(f'export PATH={shlex.quote(after[name][:-len(SSHD_PATH)])}"$PATH"')
        else:
            lines.append(f"export {name}={shlex.quote(after[name])}")
    return "\n".join(lines) + "\n"


def bind_over_bashrc(workdir: Path) -> list:
    """A command prefix running the rest in a mount namespace where ~/.bashrc is the snapshot ([] when none)."""
    text = snapshot()
    if text is None:
        return []
    copy = workdir / "bashrc-snapshot"
    copy.write_text(text)
    os.chmod(copy, 0o644)
    return ["unshare", "--mount", "--propagation", "slave", "sh", "-c",
            f'mount --bind {shlex.quote(str(copy))} {shlex.quote(str(bashrc()))} && exec "$0" "$@"']
