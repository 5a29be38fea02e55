"""A command that ends before it has read its stdin (a bad path found at once, a dropped connection) reports its
own exit status and output through deploytasks' runner, instead of a traceback from Fabric's stdin thread."""
from types import SimpleNamespace

import pytest
from invoke.exceptions import ThreadException

from deploytasks.connection import EarlyExitRemote, secure
from deploytasks.shell import WholeInput
from tests.sshd import make_sshd_fixture

sshd = make_sshd_fixture("sshd", host="127.0.0.192", scope="module")

FAILS_AT_ONCE = "echo 'cannot create /srv/x: Not a directory' >&2; exit 3"
LARGE = "x" * (8 << 20)  # more than the channel's window: the writer is still sending when the command is gone


def secured(c, sshd):
    """The connection as deploytasks opens it: host keys from the server's known_hosts file, our runner."""
    secure(c, SimpleNamespace(accept_new_hosts=False, known_hosts=[str(sshd.known_hosts)]))
    return c


def test_a_command_that_exits_without_reading_its_stdin_returns_its_exit_status_and_output(sshd):
    c = secured(sshd.connection(), sshd)
    assert c.config.runners.remote is EarlyExitRemote
    for _ in range(3):
        result = c.run(FAILS_AT_ONCE, warn=True, hide=True, in_stream=WholeInput(LARGE))
        assert (result.exited, result.stderr.strip()) == (3, "cannot create /srv/x: Not a directory")
    c.close()


def test_fabrics_own_runner_loses_that_result_in_a_thread_exception(sshd):
    c = sshd.connection()
    with pytest.raises(ThreadException, match="Socket is closed"):
        c.run(FAILS_AT_ONCE, warn=True, hide=True, in_stream=WholeInput(LARGE))
    c.close()


def test_a_runner_set_by_the_user_is_kept(sshd):
    class Mine(EarlyExitRemote):
        pass

    c = sshd.connection()
    c.config.runners.remote = Mine
    secured(c, sshd)
    assert c.config.runners.remote is Mine
    c.close()
