"""A restore's lock outlives the `fab` that took it only as long as something works under it: a guard process,
detached from the SSH session, holds the lock (its PID in info.json) while the client's connection lives.
Once that connection is gone (fab killed, network lost) it waits for the work it left (an upload still
arriving or its command still putting it in place, a restore entry still running: lock/worker-<pid>), then removes
the uploads and frees the lock.
A client that finishes releases the lock itself; the guard then just ends.
A deploy's guard (started by prepare_release with the new release's name) also removes that release while it
has no metadata; it ends when the deploy's supervisor names itself the lock's holder."""
import contextlib
import json
import os
import sys
import time

from .journal import started_at
from .leftovers import remove_uploads
from .lock import lock_info, release_lock
from .releases import append_log, finished, remove_unfinished
from .procscan import _stat, commands_naming, files_open_under

WORKER_PREFIX = "worker-"
LOAD_PREFIX = "load-"  # work that outlives its starter: a restore's detached load (engines/mysql.py), a fleet
# rollback's unapply (fleet_step.py), fab migrate's migrate (steps.migrate); an abort waits for it too
LOGGED_WHEN_ABANDONED = ("migrate", "restore", "rollback")  # a deploy's client gone before its supervisor: nothing
# went live (and `fab check`/`plan` take the lock as deploys too)


def session_process():
    """The nearest sshd ancestor of this process (the client's connection), or None (not under sshd, no /proc)."""
    pid = os.getppid()
    while pid > 1:
        stat = _stat(pid)
        if stat is None:
            return None
        if stat[0].startswith("sshd"):
            return pid
        pid = stat[1]
    return None


def client_gone():
    """True when nobody reads this command's answer any more (fab killed or interrupted, connection dropped): its
    sshd, which read its output, has ended (a newline, which answers ignore, written to learn it)."""
    try:
        sys.stdout.write("\n")
        sys.stdout.flush()
        return False
    except OSError:
        return True


def register_worker(lock_dir, pid=None, prefix=WORKER_PREFIX):
    """Mark this process (or `pid`) as working under the lock (the guard waits for it; for a LOAD_PREFIX one, an
    abort too); returns the marker's path."""
    marker = os.path.join(lock_dir, prefix + str(pid or os.getpid()))
    try:
        with open(marker, "w"):
            pass
    except OSError:
        return None
    return marker


@contextlib.contextmanager
def detached_work(lock_dir, pid):
    """Process `pid`, which goes on should its starter die, marked under the lock (LOAD_PREFIX) while the block
    runs: an abort and a host's take-back wait for it (wait_for_loads). No lock directory: nothing is marked."""
    marker = register_worker(lock_dir, pid, LOAD_PREFIX) if lock_dir else None
    try:
        yield
    finally:
        if marker:
            try:
                os.unlink(marker)
            except OSError:
                pass


def live_workers(lock_dir, prefixes=(WORKER_PREFIX, LOAD_PREFIX)):
    """The PIDs marked as working under the lock (register_worker) whose processes still run."""
    try:
        names = os.listdir(lock_dir)
    except OSError:
        return []
    return [int(name[len(prefix):]) for name in names for prefix in prefixes
            if name.startswith(prefix) and name[len(prefix):].isdigit() and _stat(int(name[len(prefix):])) is not None]


def workers_alive(lock_dir, prefixes=(WORKER_PREFIX, LOAD_PREFIX)):
    return bool(live_workers(lock_dir, prefixes))


def wait_for_loads(lock_dir, timeout=3600, interval=0.2):
    """Wait while a restore's load marked under the lock (LOAD_PREFIX: running in a session of its own, its restore
    process gone) lives; True when none is left."""
    deadline = time.monotonic() + timeout
    while workers_alive(lock_dir, (LOAD_PREFIX,)):
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
    return True


def _still_mine(layout, pid):
    try:
        with open(os.path.join(layout.lock, "info.json")) as handle:
            return json.load(handle).get("pid") == pid
    except (OSError, ValueError):
        return False


def start_guard(layout, release=None):
    """Fork the guard (detached: its own session, no stdio) and make it the lock's holder; returns its PID, or
    None when there is no client connection to watch (the caller then keeps the lock as before)."""
    session = session_process()
    if session is None:
        return None
    info_path = os.path.join(layout.lock, "info.json")
    with open(info_path) as handle:
        info = json.load(handle)
    read, write = os.pipe()
    child = os.fork()
    if child:
        os.close(write)
        os.read(read, 1)  # the guard is detached and owns the lock before the client goes on
        os.close(read)
        os.waitpid(child, 0)
        with open(info_path) as handle:
            return json.load(handle).get("pid")
    try:
        os.close(read)
        os.setsid()
        if os.fork():  # the guard is the grandchild: never a zombie of the admin process
            os._exit(0)
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        # nothing else of the admin process's: a pipe held open here (the standby's requests) would never end
        os.closerange(3, write)
        os.closerange(write + 1, os.sysconf("SC_OPEN_MAX"))
        info["pid"], info["started"] = os.getpid(), started_at(os.getpid())
        tmp = info_path + ".tmp"
        with open(tmp, "w") as handle:
            json.dump(info, handle)
        os.replace(tmp, info_path)
        os.write(write, b"x")
        os.close(write)
        watch(layout, session, os.getpid(), release)
    finally:
        os._exit(0)


def watch(layout, session, pid, release=None, interval=0.5):
    """While the lock is ours: once the session is gone and nothing works under the lock, clean up, free it."""
    while _still_mine(layout, pid):
        if (_stat(session) is None and not workers_alive(layout.lock) and not files_open_under(layout.uploaded)
                and not commands_naming(layout.uploaded)):
            if _still_mine(layout, pid):
                remove_uploads(layout)
                if release and not finished(layout, release):
                    remove_unfinished(layout, release)
                log_abandoned(layout)
                release_lock(layout)
            return
        time.sleep(interval)


def log_abandoned(layout):
    """A releases.log entry for the lock's task whose client went away before it could write its own (`fab
    history` shows it): the guard cannot know how far the task got, nor why its client went (a Ctrl-C it could not
    report looks like a kill), only that its work ended."""
    info = lock_info(layout) or {}
    if info.get("action") in LOGGED_WHEN_ABANDONED:
        try:
            append_log(layout, {"action": info["action"], "by": info.get("who"), "result": "abandoned",
                                "error": "fab went away before it could tell the server how it ended (Ctrl-C "
                                         "while it took the lock or again before it told, killed, or its connection "
                                         "lost); the lock was freed once the work under it had ended"})
        except OSError:  # a full disk: the lock goes all the same
            pass
