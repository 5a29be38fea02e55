"""Several "servers" for the fleet tests: one sshd per host (its own loopback address and alias), one ssh_config
naming them all, one local project whose fabric.yaml gives each host (a stage named like it) its own deploy
path, reload and health check, and one SQLite database file every host's .env points at (the shared database).
The hosts share this machine's file system, so each has its own deploy path rather than its own mount of one."""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

from tests import _forkserver as tools
from tests._util import clean_env, ctrl_c_reaches_it
from tests.remote.conftest import FABFILE, FabRun, Gunicorn, Repo, Server, give_uv
from tests.sshd import SSHServer, free_port


class Host(Server):
    """One host of the fleet: a Server whose database is the fleet's shared one."""

    def __init__(self, base, sshd, repo, shared_db):
        self.shared_db = shared_db
        super().__init__(base, sshd, repo)

    @property
    def db(self) -> Path:
        return self.shared_db


class Fleet:
    def __init__(self, base: Path, sshds: list, repo: Repo, unreachable_address="127.0.0.84"):
        self.base, self.repo = base, repo
        self.project = base / "project"
        self.home = base / "home"
        self.project.mkdir()
        self.home.mkdir()
        (base / "shared-db").mkdir()
        self.db = base / "shared-db" / "db.sqlite3"
        self.hosts = {}
        for sshd in sshds:
            (base / sshd.alias).mkdir()
            host = Host(base / sshd.alias, sshd, repo, self.db)
            host.database_url = f"sqlite:///{self.db}"
            env = self.project / "deploy" / sshd.alias / ".env"
            env.parent.mkdir(parents=True)
            env.write_text(f"DATABASE_URL={host.database_url}\nSECRET_KEY={host.secret_key}\nDEBUG=false\n")
            self.hosts[sshd.alias] = host
        # a host nobody answers for: an alias on an address and port no sshd listens on
        unreachable = (f"Host web9\n    HostName {unreachable_address}\n    Port {free_port(unreachable_address)}\n"
                       f"    User {sshds[0].user}\n    ConnectTimeout 3\n")
        self.ssh_config = base / "ssh_config"
        self.ssh_config.write_text("\n".join(s.ssh_config.read_text() for s in sshds) + "\n" + unreachable)
        os.chmod(self.ssh_config, 0o600)
        (self.project / "fabfile.py").write_text(FABFILE)
        self.common = {"repo": str(repo.bare), "prune_uv_cache": False}  # as Server's (tests/remote/conftest.py)
        self.per_host = {name: {"path": str(host.path)} for name, host in self.hosts.items()}
        self.per_host["web9"] = {"path": str(base / "web9-srv")}
        self.groups = {}  # stages that list hosts: {name: [host, ...]}
        self.configure()

    def configure(self, **common):
        self.common.update(common)
        stages = {name: values for name, values in self.per_host.items()}
        stages.update(self.groups)
        document = {"deploytasks": dict(self.common, stages=stages)}
        (self.project / "fabric.yaml").write_text(json.dumps(document, indent=2) + "\n")  # JSON is YAML

    def host(self, name, **values):
        """Set (None: drop) settings of one host's stage."""
        for key, value in values.items():
            if value is None:
                self.per_host[name].pop(key, None)
            else:
                self.per_host[name][key] = value
        self.configure()

    def fab(self, hosts, *args, timeout=600, env=None) -> FabRun:
        """`fab -H hosts ARGS` (hosts None: no -H, the config's hosts)."""
        named = ["-H", hosts] if hosts else []
        done = tools.run("fab", ["-S", str(self.ssh_config), *named, *args], cwd=self.project,
                         env=clean_env(HOME=str(self.home), **(env or {})), timeout=timeout)
        return FabRun(args, done.returncode, done.stdout, done.stderr)

    def fab_background(self, hosts, *args) -> subprocess.Popen:
        """`fab -H hosts ARGS` started, not waited for."""
        return subprocess.Popen([sys.executable, "-m", "fabric", "-S", str(self.ssh_config), "-H", hosts, *args],
                                cwd=self.project, env=clean_env(HOME=str(self.home)), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                preexec_fn=ctrl_c_reaches_it)

    def names(self) -> str:
        return ",".join(self.hosts)

    def currents(self) -> dict:
        return {name: host.current_name() for name, host in self.hosts.items()}

    def states(self) -> dict:
        return {name: dict(host.state(), db=None) for name, host in self.hosts.items()}

    def serve(self):
        """gunicorn per host, reload and health check configured per host."""
        for name, host in self.hosts.items():
            gunicorn = Gunicorn(host).start()
            host.gunicorn = gunicorn
            self.host(name, reload=gunicorn.reload, healthcheck=gunicorn.url, healthcheck_retries=60,
                      healthcheck_delay=0.25)

    def stop(self):
        for host in self.hosts.values():
            if host.gunicorn:
                host.gunicorn.stop()


def in_own_mount(path: str) -> list:
    """A command prefix that runs the rest in a new mount namespace with a private tmpfs on `path`: a "server"
    with its own `path`, which nothing else on this machine sees (the test reads it via /proc/PID/root)."""
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c",
            f'mkdir -p {shlex.quote(path)} && mount -t tmpfs tmpfs {shlex.quote(path)} && exec "$0" "$@"']


def make_fleet(base: Path, addresses: list, stack, unreachable_address="127.0.0.84", private_path=None) -> Fleet:
    """One sshd per address; private_path: each in its own mount namespace, every host deploying to that one
    path (set as the common `path`), else each host its own deploy path (a stage named like it)."""
    sshds = []
    for index, address in enumerate(addresses, start=1):
        sshd = SSHServer(base / f"sshd{index}", host=address, wrap=in_own_mount(private_path) if private_path else ())
        sshd.alias = f"web{index}"
        sshds.append(stack.enter_context(sshd))
    fleet = Fleet(base, sshds, Repo(base), unreachable_address)
    if private_path:
        for name, host in fleet.hosts.items():
            host.path = Path(f"/proc/{host.sshd.proc.pid}/root{private_path}")  # the host's own mount, from here
            fleet.per_host[name].pop("path")
        fleet.configure(path=private_path)
    for host in fleet.hosts.values():
        give_uv(host)
    return fleet
