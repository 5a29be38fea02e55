"""The lock a restore, `fab migrate` or a rollback takes in one SSH command and hands to a guard detached from that
session (server/lock_guard.py): whatever instant the client goes, the lock ends free or held by a live process that
frees it, and `fab history` says how the task ended."""
import json
import time

from deploytasks import bundle
from deploytasks.server.layout import ServerLayout
from tests.remote import faults

ADDRESS = "127.0.1.140"


def lock_request(s, **params) -> str:
    """A server_admin `lock` request as `fab restore` sends it, in a file on the server (this machine)."""
    path = s.base / "lock-request.json"
    path.write_text(json.dumps({"entry": "server_admin", "params": dict(
        params, action="lock", path=str(s.path), who="tester@laptop", lock_stale_after=3600)}))
    return str(path)


def run_after_the_session_ended(s, command, done):
    """Start `command` over SSH 2 s late, and end the SSH connection at once: it runs orphaned, as the lock
    command of a `fab` interrupted (Ctrl-C) or killed while its request was on the way does; `done` appears then."""
    connection = s.sshd.connection()
    connection.run(f"sleep 2; {command}; touch {done}", asynchronous=True, hide=True, warn=True)
    assert faults.wait_until(lambda: faults.runs(s, "sleep 2"), timeout=30), "the command never started"
    connection.close()


def test_a_lock_command_whose_client_went_before_it_looked_leaves_the_lock_free(deployed):
    """fab restore's lock command found no sshd above it (the client had gone before it looked: Ctrl-C twice while
    its request was on the way) and took that for a server without one: it kept the lock itself, started no guard,
    and ended, leaving the lock held by a dead process (and a PostgreSQL restore's early safety dump under it)
    until the next deploy took it over. Nobody reads its answer: it frees the lock."""
    s = deployed
    command = bundle.locator(ServerLayout(str(s.path)).tools) + bundle.run_with("python3")
    request = lock_request(s, what="restore", upload=str(s.path / "backups" / "uploaded" / "site.sqlite3"))
    done = s.base / "lock-command-done"
    run_after_the_session_ended(s, f"({command}) < {request}", done)  # it ends in exec
    assert faults.wait_until(done.exists, timeout=60), "the lock command never ended"
    time.sleep(1)  # a guard, had one started, looks every 0.5 s
    assert not s.lock.exists(), faults.lock_holder(s)


def test_a_restore_whose_fab_went_before_telling_how_it_ended_is_logged_abandoned_with_ctrl_c_among_the_causes(
        deployed):
    """Ctrl-C while fab restore or fab migrate took the lock (or Ctrl-C again before fab told the server) leaves
    the logging to the lock's guard, which cannot tell it from a kill: its `abandoned` entry said `fab went away
    (killed, or its connection lost)`, for a task the user had interrupted. It names Ctrl-C too."""
    s = deployed
    command = bundle.locator(ServerLayout(str(s.path)).tools) + bundle.run_with("python3")
    request = lock_request(s, what="restore", upload=str(s.path / "backups" / "uploaded" / "site.sqlite3"))
    entries = len(s.log())
    connection = s.sshd.connection()
    taken = connection.run(f"{command} < {request}", hide=True, warn=True)
    assert taken.ok and '"guard"' in taken.stdout, taken
    assert faults.lock_holder(s)["alive"]
    connection.close()  # fab gone: the guard frees the lock and logs the restore
    assert faults.wait_until(lambda: not s.lock.exists(), timeout=30), faults.lock_holder(s)
    [entry] = s.log()[entries:]
    assert (entry["action"], entry["result"]) == ("restore", "abandoned"), entry
    assert "fab went away before it could tell the server how it ended (Ctrl-C" in entry["error"], entry
