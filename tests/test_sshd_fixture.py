"""Tests for the real-sshd test helper (tests/sshd.py). No mocks: real processes."""

from __future__ import annotations

import os
import socket
import subprocess
import time

import fabric
import paramiko
import pytest

from tests import bashrc_snapshot
from tests.sshd import SSHServer, SSHDError, ensure_sshd_installed, make_sshd_fixture


# --- fixtures (to be moved to conftest.py) ---------------------------------


@pytest.fixture
def sshd(tmp_path):
    """A started throwaway OpenSSH server on 127.0.0.1 (random free port)."""
    ensure_sshd_installed()
    with SSHServer(tmp_path / "sshd") as server:
        yield server


# Same thing built with the factory, on another loopback address.
sshd_alt = make_sshd_fixture("sshd_alt", host="127.0.0.4")


@pytest.fixture
def conn(sshd):
    c = fabric.Connection(
        sshd.host, port=sshd.port, user=sshd.user, connect_kwargs=sshd.connect_kwargs()
    )
    yield c
    c.close()


def _pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _refuses(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


# --- tests ------------------------------------------------------------------


def test_workdir_files(sshd):
    for path in (
        sshd.client_key,
        sshd.host_key_pub,
        sshd.known_hosts,
        sshd.ssh_config,
        sshd.log_path,
        sshd.sshd_config,
        sshd.authorized_keys,
    ):
        assert path.is_file(), path
        assert path.parent == sshd.workdir
    # Non-22 port => "[host]:port keytype base64" (no comment needed).
    key_type, key_b64 = sshd.host_key_pub.read_text().split()[:2]
    assert sshd.known_hosts.read_text() == f"[{sshd.host}]:{sshd.port} {key_type} {key_b64}\n"
    assert sshd.connect_kwargs() == {
        "key_filename": str(sshd.client_key),
        "look_for_keys": False,
        "allow_agent": False,
    }
    assert 1024 <= sshd.port <= 65535
    assert os.stat("/run/sshd").st_mode & 0o777 == 0o755


def test_fabric_run_and_session_count(sshd, conn):
    before = sshd.session_count()
    assert conn.run("echo hello", hide=True, in_stream=False).stdout.strip() == "hello"
    assert sshd.session_count() == before + 1
    for i in range(2, 4):
        conn.run("true", hide=True, in_stream=False)
        assert sshd.session_count() == before + i


def test_remote_python3_resolves(conn):
    # The normal remote environment (root's .bashrc runs `pyenv init`) is kept.
    cmd = "command -v python3 && python3 -c 'import sys; print(sys.version_info[0])'"
    result = conn.run(cmd, hide=True, in_stream=False)
    lines = result.stdout.split()
    assert lines[-1] == "3"
    assert lines[0].endswith("python3")


def _run(server, command) -> str:
    return subprocess.run(["ssh", "-F", str(server.ssh_config), server.alias, command], capture_output=True,
                          text=True, timeout=30, check=True).stdout.strip()


def _session_environment(server) -> dict:
    out = _run(server, "env -0")
    own = {"_", "SHLVL", "SSH_CLIENT", "SSH_CONNECTION"}  # SHLVL: 2 where bash did not read ~/.bashrc
    return {k: v for k, v in (item.split("=", 1) for item in out.split("\0") if "=" in item) if k not in own}


def test_sessions_see_what_the_users_bashrc_sets_without_running_it(tmp_path):
    real = SSHServer(tmp_path / "real", host="127.0.0.198")
    real.bashrc_snapshot = False
    with real, SSHServer(tmp_path / "snapshot", host="127.0.0.198") as snapshot:
        if not snapshot.bashrc_snapshot:
            pytest.skip("DEPLOYTASKS_TEST_BASHRC_SNAPSHOT=0: the test servers run ~/.bashrc")
        assert _session_environment(snapshot) == _session_environment(real)
        functions = "declare -F | wc -l"  # what a .bashrc defines beyond variables (pyenv's shell function)
        assert _run(snapshot, functions) == "0"
        if bashrc_snapshot.snapshot():
            assert _run(snapshot, "echo $SHLVL") == "2", "bash saw itself nested, so it did not read ~/.bashrc"
        real.set_env(PATH="/usr/bin:/bin")
        snapshot.set_env(PATH="/usr/bin:/bin")
        assert _session_environment(snapshot) == _session_environment(real)  # a PATH set gets .bashrc's in front


def test_no_client_environment_accepted(conn):
    # No AcceptEnv: "env" requests from the client are dropped by sshd.
    conn.open()
    chan = conn.transport.open_session()
    chan.update_environment({"DT_TEST_VAR": "x"})
    chan.exec_command('echo "[${DT_TEST_VAR-unset}]"')
    assert chan.makefile().read().strip() == b"[unset]"
    chan.close()
    # Fabric 3 inlines env vars into the command (inline_ssh_env=True), so env= works.
    out = conn.run('echo "[${DT_TEST_VAR-unset}]"', env={"DT_TEST_VAR": "x"},
                   hide=True, in_stream=False)
    assert out.stdout.strip() == "[x]"


def test_sftp_put_get(sshd, conn, tmp_path):
    src = tmp_path / "src.bin"
    payload = os.urandom(200_000) + b"\nend\n"
    src.write_bytes(payload)
    remote = str(sshd.workdir / "remote-copy.bin")
    before = sshd.session_count()
    conn.put(str(src), remote)
    dest = tmp_path / "back.bin"
    conn.get(remote, str(dest))
    assert dest.read_bytes() == payload
    assert (sshd.workdir / "remote-copy.bin").read_bytes() == payload
    # Fabric opens one SFTP session per connection and reuses it.
    assert sshd.session_count() == before + 1


def test_paramiko_known_hosts_reject_policy(sshd, tmp_path):
    client = paramiko.SSHClient()
    client.load_host_keys(str(sshd.known_hosts))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(sshd.host, port=sshd.port, username=sshd.user, timeout=5,
                   **sshd.connect_kwargs())
    _, stdout, _ = client.exec_command("echo ok")
    assert stdout.read().strip() == b"ok"
    client.close()

    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    # Same key but without the "[host]:port" form does not match a non-22 port.
    no_port = tmp_path / "no_port_known_hosts"
    key_type, key_b64 = sshd.host_key_pub.read_text().split()[:2]
    no_port.write_text(f"{sshd.host} {key_type} {key_b64}\n")
    for kh in (empty, no_port):
        client = paramiko.SSHClient()
        client.load_host_keys(str(kh))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        with pytest.raises(paramiko.SSHException, match="not found in known_hosts"):
            client.connect(sshd.host, port=sshd.port, username=sshd.user, timeout=5,
                           **sshd.connect_kwargs())
        client.close()


def test_paramiko_wrong_host_key_rejected(sshd, tmp_path):
    other = paramiko.Ed25519Key.from_private_key_file(str(sshd.client_key))
    bad = tmp_path / "bad_known_hosts"
    bad.write_text(f"[{sshd.host}]:{sshd.port} {other.get_name()} {other.get_base64()}\n")
    client = paramiko.SSHClient()
    client.load_host_keys(str(bad))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    with pytest.raises(paramiko.BadHostKeyException):
        client.connect(sshd.host, port=sshd.port, username=sshd.user, timeout=5,
                       **sshd.connect_kwargs())
    client.close()


def test_openssh_client_with_ssh_config(sshd):
    before = sshd.session_count()
    result = subprocess.run(
        ["ssh", "-F", str(sshd.ssh_config), "-o", "BatchMode=yes", "testhost", "true"],
        capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr + "\n" + sshd.log()
    assert sshd.session_count() == before + 1


def test_two_servers_at_once(tmp_path):
    servers = [SSHServer(tmp_path / h, host=h) for h in ("127.0.0.2", "127.0.0.3")]
    pids = []
    try:
        for s in servers:
            s.start()
            pids.append(s.pid)
        for s in servers:
            c = fabric.Connection(s.host, port=s.port, user=s.user,
                                  connect_kwargs=s.connect_kwargs())
            try:
                out = c.run("echo $SSH_CONNECTION", hide=True, in_stream=False).stdout.split()
            finally:
                c.close()
            # SSH_CONNECTION = client_ip client_port server_ip server_port
            assert out[2:] == [s.host, str(s.port)]
            assert s.session_count() == 1
    finally:
        for s in servers:
            s.stop()
    assert len(set(pids)) == 2
    for s, pid in zip(servers, pids):
        assert _pid_gone(pid)
        assert s.pid is None and not s.running
        assert _refuses(s.host, s.port)


def test_factory_fixture_on_other_address(sshd_alt):
    assert sshd_alt.host == "127.0.0.4" and sshd_alt.running
    # .connection() = fabric.Connection with run.in_stream=False (pytest-safe stdin).
    with sshd_alt.connection() as c:
        assert c.run("hostname >/dev/null && echo hi", hide=True).stdout == "hi\n"
        assert c.config.run.in_stream is False


def test_stop_refuses_connections_and_ends_open_sessions(tmp_path):
    server = SSHServer(tmp_path / "sshd").start()
    pid, host, port = server.pid, server.host, server.port
    # Leave a connection open: its per-connection sshd must not survive stop().
    c = fabric.Connection(host, port=port, user=server.user,
                          connect_kwargs=server.connect_kwargs())
    c.run("true", hide=True, in_stream=False)
    conn_pids = server.connection_pids()
    assert conn_pids
    server.stop()
    assert server.connection_pids() == []
    assert _pid_gone(pid)
    assert all(_pid_gone(p) for p in conn_pids)
    assert _refuses(host, port)
    assert _wait_inactive(c.transport)
    c.close()
    server.stop()  # idempotent


def _wait_inactive(transport, timeout=5.0) -> bool:
    deadline = time.monotonic() + timeout
    while transport.is_active() and time.monotonic() < deadline:
        time.sleep(0.02)
    return not transport.is_active()


def test_fixed_port_in_use_raises_with_log(tmp_path):
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        server = SSHServer(tmp_path / "sshd", port=port)
        with pytest.raises(SSHDError, match="Address already in use"):
            server.start()
        assert not server.running


def test_rejects_non_loopback(tmp_path):
    with pytest.raises(ValueError):
        SSHServer(tmp_path, host="0.0.0.0")
