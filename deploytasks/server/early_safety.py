"""A PostgreSQL restore's safety dump taken early: started by the `lock` a server restore takes first, it dumps
the live database while the upload arrives, without holding any lock. The restore keeps it only when no
transaction wrote between its snapshot and the moment the restore holds the write locks (`unchanged`: no
transaction id was handed out meanwhile, and none was running at the snapshot); otherwise it is discarded and
the dump is taken under the locks, as it always was. Either way a row committed before the locks is in the
safety backup.

Its files: {lock}/early-safety.json (what it is doing), the dump in backups/uploaded/early-safety-<pid>/ until a
restore moves it to backups/ (a client that vanished leaves it to the lock guard's clean-up of uploaded/)."""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

from .engines.pg_locked import SNAPSHOT_MARK
from .subprocess_entry import end_fed
from .errors import ServerError
from .files import write_private
from .leftovers import EARLY_SAFETY_PREFIX
from .lock_guard import register_worker
from .procscan import _stat
from .manifests import remember_read_back
from .results import EarlySafety

STATUS = "early-safety.json"
REASON = "safety backup before restore"
STALLED_AFTER = 15  # seconds without a byte written after which the restore stops waiting for the early dump
POLL_EVERY = 0.01  # seconds between looks at the early dump's status: the replay waits for its "done" (a look is a
                   # small file read and a stat: 50 ms between looks made the restore 25 ms later on average)
KEPT = "the restore: taken just before its write locks, with no transaction writing in between"


def start(layout, spec):
    """Start the early dump (spec: {"command", "params"}) detached from this command, marked as work under the lock
    at once (before its Python has started: a guard that found the client gone meanwhile would free the lock under
    it); it reports in the lock. Returns its process (the leader of its own process group)."""
    with open(os.path.join(layout.lock, "early-safety.log"), "ab") as log:
        process = subprocess.Popen(spec["command"], shell=True, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                   stderr=log, cwd=layout.path, start_new_session=True, close_fds=True)
    register_worker(layout.lock, process.pid)
    request = {"entry": "early_safety", "params": dict(spec["params"], lock=layout.lock, uploaded=layout.uploaded)}
    try:
        process.stdin.write((json.dumps(request) + "\n").encode())
        process.stdin.close()
    except BrokenPipeError:
        pass
    return process


def stop_started(process):
    """End an early dump `start` began whose restore will not come (its whole process group)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except OSError:
        pass
    process.wait()


def main(params) -> EarlySafety:
    """Entry early_safety: dump the live PostgreSQL database (a settings-only start in the live release)."""
    from .django_info import engine_for_alias

    lock = params["lock"]
    marker = register_worker(lock)  # the lock guard waits for this dump before it cleans up
    directory = os.path.join(params["uploaded"], EARLY_SAFETY_PREFIX + str(os.getpid()))
    report(lock, state="running", pid=os.getpid(), group=os.getpgid(0), directory=directory)
    try:
        database, engine = engine_for_alias(params.get("database", "default"))
        if database["vendor"] != "postgresql":
            report(lock, state="skipped")
            return {"state": "skipped"}
        os.makedirs(directory, mode=0o700, exist_ok=True)
        # its temporary files (the password file pg_dump and psql read, above all) live in that private directory,
        # which whoever stops this dump removes: a killed process cannot delete them itself
        tempfile.tempdir = directory
        with engine.environment() as env:
            session = ExportedSnapshot(engine.psql_argv(), env)
            snapshot, txids = session.start()
            report(lock, state="running", pid=os.getpid(), group=os.getpgid(0), directory=directory, txids=txids)
            try:
                manifest = engine.dump_backup(directory, dict(params, label="pre-restore"),
                                              {"database_alias": database["alias"], "reason": REASON,
                                               "consistent_with": KEPT}, snapshot=snapshot)
            finally:
                session.close()
        report(lock, state="done", directory=directory, path=manifest["path"], txids=txids)
        return {"state": "done", "path": manifest["path"]}
    except BaseException as exc:  # noqa: BLE001 - the restore then dumps under its locks, as before
        report(lock, state="failed", directory=directory, error="%s: %s" % (type(exc).__name__, exc))
        shutil.rmtree(directory, ignore_errors=True)
        return {"state": "failed"}
    finally:
        if marker and os.path.exists(marker):
            os.unlink(marker)


def report(lock, **status):
    try:
        write_private(os.path.join(lock, STATUS), json.dumps(status))
    except OSError:  # the lock is gone (the restore ended, or was aborted): nobody waits for this report
        pass


def read(lock):
    try:
        with open(os.path.join(lock, STATUS)) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


class ExportedSnapshot:
    """A read-only REPEATABLE READ session exporting its snapshot (which pg_dump reads with --snapshot) and saying
    its transaction ids (txid_current_snapshot: xmin:xmax:in-progress), until close()."""

    def __init__(self, psql_argv, env):
        self.argv, self.env, self.process = psql_argv, env, None

    def start(self):
        self.process = subprocess.Popen(self.argv + ["--tuples-only", "--no-align"], env=self.env,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        script = ("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;\nSELECT '%s' || pg_catalog.pg_export_snapshot()"
                  " || ' ' || pg_catalog.txid_current_snapshot();\n" % SNAPSHOT_MARK)
        self.process.stdin.write(script.encode())
        self.process.stdin.flush()
        line = self.process.stdout.readline().decode("utf-8", "replace").strip()
        if not line.startswith(SNAPSHOT_MARK):
            self.close()
            raise ServerError("could not export a snapshot of the live database")
        snapshot, txids = line[len(SNAPSHOT_MARK):].split(" ", 1)
        return snapshot, txids

    def close(self):
        end_fed(self.process)


def unchanged(early, locked):
    """Whether no transaction can have written between snapshot `early` and snapshot `locked` (both as
    txid_current_snapshot prints them): none was in progress at `early`, and no transaction id was handed out
    after it (xmax, the next id to hand out, is the same). Any write takes an id; ids are cluster-wide, so a
    write to another database counts too (the early dump is then not kept: safe, only slower)."""
    try:
        _, early_xmax, early_running = early.split(":")
        _, locked_xmax, _ = locked.split(":")
    except (AttributeError, ValueError):
        return False
    return early_running == "" and early_xmax == locked_xmax


def adopt(params, locked_txids):
    """The early dump's manifest, moved into params["safety_dest"], when it may stand for a dump under the write
    locks taken at `locked_txids`; else None (discarded, its process stopped). Called holding the locks."""
    lock = params.get("lock")
    status = read(lock) if lock else None
    if status is None:
        return None
    status = wait_for(lock, status, lambda s: unchanged(s.get("txids"), locked_txids))
    if status.get("state") != "done" or not unchanged(status.get("txids"), locked_txids):
        discard(lock)
        return None
    source, dest = status["path"], params["safety_dest"]
    final = os.path.join(dest, os.path.basename(source))
    if os.path.exists(final) or os.path.exists(final + ".json"):
        discard(lock)
        return None
    os.replace(source + ".json", final + ".json")
    os.replace(source, final)
    shutil.rmtree(status["directory"], ignore_errors=True)
    with open(final + ".json") as handle:
        manifest = json.load(handle)
    manifest["path"] = final
    if manifest.get("sha256"):
        remember_read_back(dest, manifest["sha256"])  # read back whole as it was made, in the directory it left
    return manifest


def wait_for(lock, status, still_useful, stalled_after=STALLED_AFTER):
    """The status once the dump is no longer running (done, failed, or its process gone); a dump whose snapshot
    is already known to be stale is not waited for, nor one that wrote nothing for `stalled_after` seconds (its
    pg_dump may wait behind a lock that waits behind the restore's own: the restore must not wait forever)."""
    written, since = -1, time.monotonic()
    while status.get("state") == "running" and alive(status.get("pid")):
        if status.get("txids") is not None and not still_useful(status):
            return status
        size = bytes_in(status.get("directory"))
        if size != written:
            written, since = size, time.monotonic()
        elif time.monotonic() - since > stalled_after:
            return dict(status, state="stalled")
        time.sleep(POLL_EVERY)
        status = read(lock) or {}
    return status


def bytes_in(directory):
    try:
        return sum(entry.stat().st_size for entry in os.scandir(directory) if entry.is_file())
    except (OSError, TypeError):
        return 0


def discard(lock):
    """Stop the early dump (its whole process group) if it still runs and remove what it wrote."""
    status = read(lock) or {}
    group = status.get("group")
    if status.get("state") == "running" and alive(status.get("pid")) and group:
        try:
            os.killpg(group, signal.SIGKILL)
        except OSError:
            pass
        deadline = time.monotonic() + 5
        while alive(status.get("pid")) and time.monotonic() < deadline:
            time.sleep(0.02)
    if status.get("directory"):
        shutil.rmtree(status["directory"], ignore_errors=True)
    try:
        os.unlink(os.path.join(lock, STATUS))
    except OSError:
        pass


def alive(pid):
    return bool(pid) and _stat(pid) is not None
