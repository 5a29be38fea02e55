"""Run a real, throwaway OpenSSH ``sshd`` for tests.

Usage (e.g. from ``conftest.py``)::

    from sshd import SSHServer, make_sshd_fixture   # or: from tests.sshd import ...

    sshd = make_sshd_fixture()                       # function-scoped fixture "sshd"
    sshd_a = make_sshd_fixture("sshd_a", host="127.0.0.2")

    def test_x(sshd):
        c = fabric.Connection(sshd.host, port=sshd.port, user=sshd.user,
                              connect_kwargs=sshd.connect_kwargs())
        c.run("true")

Everything (host key, client key, authorized_keys, sshd_config, known_hosts,
ssh_config, log) lives in ``workdir``.  Only the sshd process started by the
instance (and the per-connection children it forked) is ever signalled, by PID.
"""

from __future__ import annotations

import atexit
import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

SSHD = "/usr/sbin/sshd"
SSH_KEYGEN = "ssh-keygen"
PRIVSEP_DIR = Path("/run/sshd")
SSH_HOST_ALIAS = "testhost"
START_TIMEOUT = 10.0


class SSHDError(RuntimeError):
    """sshd could not be started (message includes the sshd log)."""


def ensure_sshd_installed() -> str:
    """Return the sshd path, or raise a clear error if OpenSSH server is missing."""
    if not os.access(SSHD, os.X_OK):
        raise SSHDError(
            f"{SSHD} not found: the SSH integration tests need a real OpenSSH "
            "server. Install it first, e.g. `apt-get install -y openssh-server` "
            "(the fixture never installs packages itself)."
        )
    if shutil.which(SSH_KEYGEN) is None:
        raise SSHDError(
            "ssh-keygen not found: install openssh-client (apt-get install -y openssh-client)."
        )
    return SSHD


def free_port(host: str = "127.0.0.1") -> int:
    """Ask the kernel for a currently free TCP port on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _quote(value: object) -> str:
    """Quote a value for sshd_config / ssh_config (both accept "double quotes")."""
    text = str(value)
    if '"' in text or "\n" in text:
        raise ValueError(f"unsupported character in ssh config value: {text!r}")
    return f'"{text}"'


def _is_loopback(host: str) -> bool:
    try:
        return socket.inet_aton(host)[0] == 127
    except OSError:
        return False


def _child_pids(pid: int) -> list[int]:
    """PIDs whose parent is ``pid`` (scans /proc; Linux only)."""
    children = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # "pid (comm) state ppid ..." -- comm may contain spaces/parens.
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            children.append(int(entry))
    return children


class SSHServer:
    """A real OpenSSH server on a loopback address, with throwaway keys."""

    # Sessions of the user running this get what ~/.bashrc sets without bash running it (tests/bashrc_snapshot.py).
    # The tests turn it on (tests/conftest.py); the benchmarks keep the real file's cost.
    bashrc_snapshot = False

    def __init__(self, workdir: Path, host: str = "127.0.0.1", port: int | None = None, wrap=(),
                 sftp="internal-sftp"):
        if not _is_loopback(host):
            raise ValueError(f"SSHServer only listens on 127.0.0.0/8, not {host!r}")
        self.workdir = Path(workdir).resolve()
        self.host = host
        self._fixed_port = port
        self.port: int | None = port
        self.user = getpass.getuser()
        self.alias = SSH_HOST_ALIAS

        w = self.workdir
        self.host_key = w / "ssh_host_ed25519_key"
        self.host_key_pub = w / "ssh_host_ed25519_key.pub"
        self.client_key = w / "id_ed25519"
        self.client_key_pub = w / "id_ed25519.pub"
        self.authorized_keys = w / "authorized_keys"
        self.sshd_config = w / "sshd_config"
        self.known_hosts = w / "known_hosts"
        self.ssh_config = w / "ssh_config"
        self.pid_file = w / "sshd.pid"
        self.log_path = w / "sshd.log"

        self.proc: subprocess.Popen | None = None
        self._log_file = None
        self.wrap = list(wrap)  # a command that execs sshd (its argv follows), e.g. one entering a mount namespace
        self.sftp = sftp  # the sftp subsystem: sshd's own, or a server program run by the user's shell (Debian's default)

    # ------------------------------------------------------------------ API
    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def connection_pids(self) -> list[int]:
        """PIDs of the per-connection sshd processes currently forked by the listener."""
        return _child_pids(self.proc.pid) if self.running else []

    def connect_kwargs(self) -> dict:
        """``connect_kwargs`` for ``fabric.Connection`` / ``paramiko.SSHClient.connect``."""
        return {
            "key_filename": str(self.client_key),
            "look_for_keys": False,
            "allow_agent": False,
        }

    def connection(self, **kwargs):
        """A ``fabric.Connection`` to this server, safe to use under pytest.

        Sets ``run.in_stream = False``: invoke otherwise reads the local stdin,
        which pytest's output capturing turns into
        "OSError: pytest: reading from stdin while output is captured!".
        Extra kwargs go to ``fabric.Connection`` (``config=`` is respected,
        the override is merged into it).
        """
        import fabric

        config = kwargs.pop("config", None) or fabric.Config()
        config.load_overrides({"run": {"in_stream": False}}, merge=True)
        kwargs.setdefault("port", self.port)
        kwargs.setdefault("user", self.user)
        kwargs.setdefault("connect_kwargs", self.connect_kwargs())
        return fabric.Connection(self.host, config=config, **kwargs)

    def session_count(self) -> int:
        """Number of sessions (exec, shell, sftp...) sshd has started so far."""
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return 0
        return sum(1 for line in text.splitlines() if "Starting session:" in line)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def start(self) -> "SSHServer":
        if self.running:
            return self
        ensure_sshd_installed()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._ensure_privsep_dir()
        self._make_keys()

        attempts = 1 if self._fixed_port is not None else 5
        last_error: Exception | None = None
        for _ in range(attempts):
            self.port = self._fixed_port if self._fixed_port is not None else free_port(self.host)
            self._write_configs()
            try:
                self._spawn_and_wait()
                atexit.register(self.stop)
                return self
            except _PortClash as exc:  # someone grabbed the port meanwhile: retry
                last_error = exc
                self._kill_proc()
        raise SSHDError(f"could not start sshd on {self.host}: {last_error}")

    def set_env(self, **variables: str) -> None:
        """Give the sessions started from now on these variables (sshd_config SetEnv, on top of the configuration
        it started with; none: back to that). sshd re-executes itself on SIGHUP; this returns once it listens."""
        self.sshd_config.write_text(self._started_config + self._setenv(variables))
        offset = self.log_path.stat().st_size
        os.kill(self.pid, signal.SIGHUP)
        listening = f"Server listening on {self.host} port {self.port}"
        deadline = time.monotonic() + START_TIMEOUT
        while listening not in self.log_path.read_bytes()[offset:].decode(errors="replace") or not self._banner_ok():
            if time.monotonic() > deadline or not self.running:
                raise SSHDError(f"sshd on {self.host}:{self.port} did not restart after SIGHUP:\n{self.log()}")
            time.sleep(0.02)

    def stop(self) -> None:
        """Terminate our sshd (and the per-connection sshd children it forked)."""
        atexit.unregister(self.stop)
        self._kill_proc()

    def start_again(self) -> "SSHServer":
        """Start a stopped server on the port it had, so the ssh_config its clients were given stays right."""
        self._fixed_port = self.port
        return self.start()

    def __enter__(self) -> "SSHServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<SSHServer {self.user}@{self.host}:{self.port} pid={self.pid}>"

    # ------------------------------------------------------------- internals
    @staticmethod
    def _ensure_privsep_dir() -> None:
        # sshd refuses to start ("Missing privilege separation directory")
        # without it; /run is a tmpfs so it is gone in fresh containers.
        if not PRIVSEP_DIR.is_dir():
            try:
                PRIVSEP_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
                os.chmod(PRIVSEP_DIR, 0o755)
            except PermissionError as exc:
                raise SSHDError(
                    f"{PRIVSEP_DIR} is missing and cannot be created ({exc}); run as root "
                    f"or create it: mkdir -p -m 0755 {PRIVSEP_DIR}"
                ) from exc

    def _keygen(self, path: Path, comment: str) -> None:
        if path.exists():
            return
        subprocess.run(
            [SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
            check=True,
            stdin=subprocess.DEVNULL,
            capture_output=True,
        )

    def _make_keys(self) -> None:
        self._keygen(self.host_key, "deploytasks-test-hostkey")
        self._keygen(self.client_key, "deploytasks-test-client")
        self.authorized_keys.write_text(self.client_key_pub.read_text())
        os.chmod(self.authorized_keys, 0o600)

    def _setenv(self, variables: dict) -> str:
        """The sshd_config line giving sessions `variables` (sshd reads only the first SetEnv line)."""
        if self.bashrc_snapshot and self.user == getpass.getuser():
            from tests.bashrc_snapshot import session_environment

            variables = session_environment(variables)
        if not variables:
            return ""
        return "SetEnv " + " ".join(f"{name}={_quote(value)}" for name, value in variables.items()) + "\n"

    def _write_configs(self) -> None:
        q = _quote
        self._started_config = (
            "\n".join(
                [
                    f"ListenAddress {self.host}:{self.port}",
                    "AddressFamily inet",
                    f"HostKey {q(self.host_key)}",
                    f"PidFile {q(self.pid_file)}",
                    f"AuthorizedKeysFile {q(self.authorized_keys)}",
                    "AuthenticationMethods publickey",
                    "PubkeyAuthentication yes",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "HostbasedAuthentication no",
                    "PermitRootLogin prohibit-password",
                    f"AllowUsers {self.user}",
                    "UsePAM no",
                    "StrictModes no",
                    "LogLevel VERBOSE",
                    f"Subsystem sftp {self.sftp}",
                    "MaxSessions 50",
                    "MaxStartups 50",
                    "MaxAuthTries 6",
                    "PrintMotd no",
                    "PrintLastLog no",
                    "UseDNS no",
                    "PermitUserEnvironment no",
                    "X11Forwarding no",
                    "ClientAliveInterval 0",
                    # No AcceptEnv line: no client environment is accepted.
                    "",
                ]
            )
        )
        self.sshd_config.write_text(self._started_config + self._setenv({}))
        # Non-22 ports are looked up as "[host]:port" by OpenSSH and paramiko.
        host_pub = self.host_key_pub.read_text().split()
        self.known_hosts.write_text(f"[{self.host}]:{self.port} {host_pub[0]} {host_pub[1]}\n")
        self.ssh_config.write_text(
            "\n".join(
                [
                    f"Host {self.alias}",
                    f"    HostName {self.host}",
                    f"    Port {self.port}",
                    f"    User {self.user}",
                    f"    IdentityFile {q(self.client_key)}",
                    "    IdentitiesOnly yes",
                    "    IdentityAgent none",
                    f"    UserKnownHostsFile {q(self.known_hosts)}",
                    "    GlobalKnownHostsFile /dev/null",
                    "    StrictHostKeyChecking yes",
                    "    UpdateHostKeys no",
                    "    CheckHostIP no",
                    "    PasswordAuthentication no",
                    "    KbdInteractiveAuthentication no",
                    "    PreferredAuthentications publickey",
                    "    ControlMaster no",
                    "    ControlPath none",
                    "    LogLevel ERROR",
                    "",
                ]
            )
        )
        # ssh refuses group/world-writable config files.
        os.chmod(self.ssh_config, 0o600)

    def _spawn_and_wait(self) -> None:
        self._log_file = open(self.log_path, "ab", buffering=0)
        self._log_file.write(f"=== starting sshd on {self.host}:{self.port}\n".encode())
        log_offset = self._log_file.tell()
        self.proc = subprocess.Popen(
            [*self.wrap, SSHD, "-D", "-e", "-f", str(self.sshd_config)],
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=self._log_file,
            cwd=self.workdir,
            start_new_session=True,  # no terminal signals (Ctrl-C) straight to sshd
        )
        listening = f"Server listening on {self.host} port {self.port}"
        deadline = time.monotonic() + START_TIMEOUT
        problem = "timed out"
        while time.monotonic() < deadline:
            log = self.log_path.read_bytes()[log_offset:].decode(errors="replace")
            if self.proc.poll() is not None:
                if "Address already in use" in log and self._fixed_port is None:
                    raise _PortClash(f"port {self.port} already in use")
                problem = f"sshd exited with status {self.proc.returncode}"
                break
            # Only probe once *our* sshd says it listens, so that we never
            # mistake another process on a clashing port for our server.
            if listening in log and self._banner_ok():
                return
            time.sleep(0.02)
        self._kill_proc()
        raise SSHDError(
            f"sshd on {self.host}:{self.port} did not start ({problem}).\n"
            f"--- {self.log_path} ---\n{self.log()}"
        )

    def _banner_ok(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=2) as s:
                data = b""
                while b"\n" not in data and len(data) < 1024:
                    chunk = s.recv(256)
                    if not chunk:
                        break
                    data += chunk
                return data.startswith(b"SSH-2.0-")
        except OSError:
            return False

    def _kill_proc(self) -> None:
        proc = self.proc
        if proc is not None:
            if proc.poll() is None:
                self._end_connections(proc.pid)
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
            self.proc = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    @staticmethod
    def _end_connections(listener: int, timeout: float = 3.0) -> None:
        """End the per-connection sshd children of *our* listener, by PID.

        They call setsid() and would outlive the listener (keeping client
        connections open). Ending them first, while the listener is alive,
        lets the listener reap them, so no zombies get reparented to init.
        """
        for sig in (signal.SIGTERM, signal.SIGKILL):
            children = _child_pids(listener)  # re-scanned: ppid is still ours
            if not children:
                return
            for pid in children:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + timeout
            while _child_pids(listener) and time.monotonic() < deadline:
                time.sleep(0.02)


class _PortClash(SSHDError):
    pass


def make_sshd_fixture(name: str = "sshd", host: str = "127.0.0.1", scope: str = "function"):
    """Build a pytest fixture yielding a started :class:`SSHServer` on ``host``.

    ``scope="function"`` uses ``tmp_path``; other scopes use ``tmp_path_factory``.
    Assign the result to a module-level variable in a conftest/test module;
    pytest registers it under ``name`` (pytest >= 8 ignores the variable name).
    """
    import pytest

    if scope == "function":

        @pytest.fixture(name=name)
        def _sshd(tmp_path):
            with SSHServer(tmp_path / f"sshd-{host}", host=host) as server:
                yield server

    else:

        @pytest.fixture(scope=scope, name=name)
        def _sshd(tmp_path_factory):
            workdir = tmp_path_factory.mktemp(f"sshd-{host}")
            with SSHServer(workdir, host=host) as server:
                yield server

    return _sshd
