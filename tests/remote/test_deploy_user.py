"""The README's path for servers as it is written there, `fab -H deploy@prod …`: an SSH user that is not root,
with Debian's own shell start-up and Python, who owns the deploy path and nothing else. The user exists only for
this module's sshd (its own /etc/passwd, group and shadow, bind-mounted in the sshd's mount namespace): this machine
gets no new account."""
from __future__ import annotations

import os
import pwd
import shlex
import shutil
import signal
import stat
import tempfile
from pathlib import Path

import pytest

from tests import _forkserver as tools
from tests.remote.conftest import FabRun, Repo, Server, health_at, readme_project
from tests.sshd import SSHServer, free_port

ADDRESS = "127.0.0.195"
USER = "dtdeploy"


def free_id() -> int:
    """A uid (and gid) no account of this machine has."""
    taken = {entry.pw_uid for entry in pwd.getpwall()} | {entry.pw_gid for entry in pwd.getpwall()}
    return next(n for n in range(61000, 62000) if n not in taken)


def account_files(etc: Path, home: Path, uid: int) -> dict:
    """Copies of /etc/passwd, group and shadow with USER added: a login shell, no password, not locked."""
    lines = {"passwd": f"{USER}:x:{uid}:{uid}::{home}:/bin/bash", "group": f"{USER}:x:{uid}:",
             "shadow": f"{USER}:*:20000:0:99999:7:::"}
    files = {}
    for name, line in lines.items():
        copy = etc / name
        copy.write_text(Path("/etc", name).read_text().rstrip("\n") + "\n" + line + "\n")
        os.chmod(copy, 0o640 if name == "shadow" else 0o644)
        files[f"/etc/{name}"] = copy
    return files


def chown_tree(top: Path, uid: int) -> None:
    os.chown(top, uid, uid)
    for root, dirs, names in os.walk(top):
        for name in dirs + names:
            os.lchown(os.path.join(root, name), uid, uid)


@pytest.fixture(scope="module")
def host():
    # Not under pytest's base directory, which only root may enter.
    base = Path(tempfile.mkdtemp(prefix="dt-deploy-user-"))
    os.chmod(base, 0o755)
    uid = free_id()
    home = base / "deployhome"  # base / "home" is the HOME `fab` runs with here
    home.mkdir()
    for name in (".bashrc", ".profile"):
        shutil.copy(Path("/etc/skel", name), home / name)
    (base / "etc").mkdir()
    binds = " && ".join(f"mount --bind {shlex.quote(str(copy))} {target}"
                        for target, copy in account_files(base / "etc", home, uid).items())
    wrap = ["unshare", "--mount", "--propagation", "private", "sh", "-c", f'{binds} && exec "$0" "$@"']
    sshd = SSHServer(base / "sshd", host=ADDRESS, wrap=wrap)
    sshd.user = USER
    sshd.workdir.mkdir(mode=0o755)
    server = None
    try:
        sshd.start()
        os.chmod(sshd.authorized_keys, 0o644)  # sshd reads it as the user
        server = Server(base, sshd, Repo(base))
        # the repository belongs to root, who pushes to it; the deploy user trusts it, as one would a shared one
        (home / ".gitconfig").write_text(f"[safe]\n\tdirectory = {server.repo.bare}\n")
        chown_tree(home, uid)
        server.uid = uid
        yield server
    finally:
        sshd.stop()
        if server is not None:
            pidfile = home / "mysite" / "shared" / "gunicorn.pid"
            if pidfile.exists():
                try:
                    os.kill(int(pidfile.read_text().strip()), signal.SIGTERM)
                except (ProcessLookupError, ValueError):
                    pass
        shutil.rmtree(base, ignore_errors=True)


def fab(server, project, *args, fresh=False):
    """`fab -H USER@host …` as the README types it (the sshd's ssh_config gives the alias's address, port and key)."""
    done = tools.run("fab", ["-S", str(server.sshd.ssh_config), "-H", f"{USER}@{server.sshd.alias}", *args],
                     cwd=project, env=server.env(), timeout=300, fresh=fresh)
    return FabRun(args, done.returncode, done.stdout, done.stderr)


def owned_by_others(top: Path, uid: int) -> list:
    """Paths under `top` (itself included) whose owner is not `uid`; files that vanish meanwhile (SQLite's -shm
    when the app server's last connection closes) are skipped."""
    found = []
    for item in [top, *top.rglob("*")]:
        try:
            if item.lstat().st_uid != uid:
                found.append(str(item))
        except FileNotFoundError:
            continue
    return found


def project_for(server, path: Path, port: int) -> Path:
    return readme_project(server.base / f"project-{path.parent.name}", path, server.repo.bare, port,
                          f"deploy-user-{server.secret_key}")


def test_the_readmes_path_for_servers_works_for_a_deploy_user_that_is_not_root(host):
    """setup, deploy, a code change, backup, rollback as the README has them; everything on the server is the
    deploy user's, the backups and production's settings readable by it alone."""
    path, port = host.base / "deployhome" / "mysite", free_port("127.0.0.1")
    project = project_for(host, path, port)
    url = f"http://127.0.0.1:{port}/health/"

    fab(host, project, "setup", fresh=True).ok()
    fab(host, project, "deploy", fresh=True).ok()
    assert health_at(url)["revision"] == host.repo.initial

    changed = host.repo.code_change()
    fab(host, project, "deploy").ok()
    assert health_at(url)["revision"] == changed

    local = Path(fab(host, project, "backup", "--json").ok().json()["local_path"])
    assert local.stat().st_size > 0 and stat.S_IMODE(local.stat().st_mode) == 0o600

    fab(host, project, "rollback", "--yes").ok()
    assert health_at(url)["revision"] == host.repo.initial

    assert owned_by_others(path, host.uid) == []
    assert stat.S_IMODE((path / "backups").stat().st_mode) == 0o700
    assert stat.S_IMODE((path / "shared" / ".env").stat().st_mode) == 0o600


def test_setup_under_a_directory_only_root_may_write_says_what_to_run_and_creates_nothing(host):
    srv = host.base / "srv-of-root"
    srv.mkdir(mode=0o755, exist_ok=True)
    path = srv / "mysite"
    project = project_for(host, path, free_port("127.0.0.1"))
    line = fab(host, project, "setup").error()
    assert line == (f"deploytasks: error: cannot create or write {path} as {USER}: create it and give {USER} "
                    f"ownership, as root on the server: mkdir -p {path} && chown {USER}: {path}")
    assert not path.exists()
