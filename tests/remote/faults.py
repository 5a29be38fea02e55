"""Fault injection against a deployed server of tests/remote/conftest.py, through the real `fab` CLI only:
kill the local `fab` (SIGKILL or SIGINT), kill the SSH connection (the per-connection sshd processes), or make
the step itself fail; then judge the server by what it serves and what is on its disk.

Nothing here imports deploytasks: the server package is being refactored, the behaviour must stay.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tests._util import Background, HealthEndpoint

META = ".deploytasks-release.json"  # the metadata a finished release carries (its absence marks an orphan)
SLOW_SECONDS = 3  # how long the slow RunPython sleeps on the live database


# --- processes -------------------------------------------------------------------------------------

def _stat(pid):
    """(comm, state, ppid) of a process, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            raw = handle.read()
    except OSError:
        return None
    comm = raw[raw.find(b"(") + 1:raw.rfind(b")")].decode(errors="replace")
    fields = raw[raw.rfind(b")") + 2:].split()
    return comm, fields[0].decode(), int(fields[1])


def alive(pid) -> bool:
    stat = pid and _stat(pid)
    return bool(stat) and stat[1] != "Z"


def descendants(root) -> list:
    """Every live process below `root` (one scan of /proc)."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat and stat[1] != "Z":
                children.setdefault(stat[2], []).append(int(entry))
    found, pending = [], [root]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append(child)
            pending.append(child)
    return found


def is_sshd(pid) -> bool:
    stat = _stat(pid)
    return bool(stat) and stat[0].startswith("sshd")


def server_side(server) -> list:
    """The commands the server is running for clients right now (below the sshd listener, not sshd itself)."""
    return [pid for pid in descendants(server.sshd.pid) if not is_sshd(pid)]


def runs(server, fragment) -> bool:
    """Whether a command the server runs for a client has `fragment` in its command line."""
    for pid in server_side(server):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                if fragment in handle.read().replace(b"\0", b" ").decode(errors="replace"):
                    return True
        except OSError:
            pass
    return False


def works_in(server, directory) -> bool:
    """Whether a command the server runs for a client has `directory` as its working directory."""
    for pid in server_side(server):
        try:
            if os.readlink(f"/proc/{pid}/cwd") == str(directory):
                return True
        except OSError:
            pass
    return False


def kill_connections(server) -> list:
    """Kill every per-connection sshd process (as a dropped network would end them); returns their PIDs."""
    pids = [pid for pid in descendants(server.sshd.pid) if is_sshd(pid)]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return pids


def wait_gone(pids, timeout=90) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(alive(pid) for pid in pids):
            return True
        time.sleep(0.1)
    return False


def end(pids):
    """SIGKILL what is left of processes this test caused (orphaned server-side steps)."""
    for pid in pids:
        if alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def wait_until(predicate, timeout=60, interval=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


# --- the repository: commits that open a window for a fault ------------------------------------------

def slow_migration(repo, live_db: Path, marker: Path, branch="slow", seconds=SLOW_SECONDS, on_copy=False,
                   armed: Path | None = None):
    """A commit adding a model (its migration applies at once) and then a RunPython that, on the live
    database only (not on the rehearsal copy; on_copy: on the copy only), writes `marker` and sleeps; unapplied,
    it writes `marker`.back and sleeps. Both are reversible. With `armed`, it sleeps only while that file exists
    (the set-up that applies and unapplies it before the fault does not wait).
    Returns (sha, the fast migration's name, the slow one's name)."""
    names = {}
    wait = str(seconds) if armed is None else f"{seconds} if os.path.exists({str(armed)!r}) else 0"

    def edit(work):
        with open(work / "accounts" / "models.py", "a") as handle:
            handle.write("\n\nclass SlowThing(models.Model):\n    name = models.CharField(max_length=50)\n")
        names["fast"] = repo.makemigrations("add_slowthing")
        number = int(names["fast"][:4]) + 1
        names["slow"] = f"{number:04d}_slow_data"
        (work / "accounts" / "migrations" / f"{names['slow']}.py").write_text(
            "import os\nimport time\n\nfrom django.db import migrations\n\n\n"
            "def slowly(marker):\n"
            "    def run(apps, schema_editor):\n"
            f"        if (os.path.realpath(str(schema_editor.connection.settings_dict['NAME'])) == {str(live_db)!r})"
            f" != {on_copy!r}:\n"
            "            with open(marker, 'w') as handle:\n"
            "                handle.write(str(os.getpid()))\n"
            f"            time.sleep({wait})\n"
            "    return run\n\n\n"
            "class Migration(migrations.Migration):\n"
            f"    dependencies = [('accounts', {names['fast']!r})]\n"
            f"    operations = [migrations.RunPython(slowly({str(marker)!r}), slowly({str(marker) + '.back'!r}))]\n"
        )
    sha = repo.commit("a model and a slow data migration", edit, branch)
    return sha, names["fast"], names["slow"]


def live_failing_migration(repo, live_db: Path, branch="liveboom"):
    """A commit adding a model and then a RunPython that raises on the live database only: the rehearsal on a
    copy passes, `migrate` fails after the model's migration was applied. Returns (sha, the model's migration)."""
    names = {}

    def edit(work):
        with open(work / "accounts" / "models.py", "a") as handle:
            handle.write("\n\nclass LiveBoom(models.Model):\n    name = models.CharField(max_length=50)\n")
        names["fast"] = repo.makemigrations("add_liveboom")
        repo.write_migration(
            "live_boom",
            "def boom(apps, schema_editor):\n"
            "    import os\n\n"
            f"    if os.path.realpath(str(schema_editor.connection.settings_dict['NAME'])) == {str(live_db)!r}:\n"
            "        raise RuntimeError('deliberate failure on the live database')\n",
            "[migrations.RunPython(boom, migrations.RunPython.noop)]")
    sha = repo.commit("a model and a migration that fails on the live database only", edit, branch)
    return sha, names["fast"]


def failing_collectstatic(repo, branch="badstatic"):
    """A commit whose collectstatic fails (ManifestStaticFilesStorage, a stylesheet naming an image that does not
    exist: the commonest real collectstatic failure); system checks pass."""
    def edit(work):
        with open(work / "mysite" / "settings.py", "a") as handle:
            handle.write('\nSTORAGES = {"default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},'
                         ' "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"}}\n')
        with open(work / "static" / "css" / "site.css", "a") as handle:
            handle.write('\nbody { background: url("no-such-image.png"); }\n')
    return repo.commit("a stylesheet naming an image that does not exist", edit, branch)


def gated_reload(server, marker: Path, seconds: float) -> str:
    """A reload command that marks that it started, sleeps, then reloads gunicorn for real."""
    return f"touch {marker}; sleep {seconds}; {server.gunicorn.reload}"


# --- HTTP: a poller, a garbage server ----------------------------------------------------------------

class Poller(Background):
    """GETs the health URL every 50 ms in a thread and counts what failed (not 200, or no answer within `timeout`
    seconds); `slowest`: the longest a request took."""

    def __init__(self, url, timeout=2):
        super().__init__()
        self.url, self.ok, self.failed, self.timeout, self.slowest = url, 0, 0, timeout, 0.0
        self.reasons = {}  # what failed: exception class or HTTP status -> count

    def _run(self):
        while not self._stop.is_set():
            began = time.monotonic()
            try:
                with urllib.request.urlopen(self.url, timeout=self.timeout) as response:
                    response.read()
                    self.ok += 1
                    self.slowest = max(self.slowest, time.monotonic() - began)
            except Exception as exc:  # noqa: BLE001 - any failure is one failed request
                self.failed += 1
                reason = str(getattr(exc, "code", "") or type(getattr(exc, "reason", None) or exc).__name__)
                self.reasons[reason] = self.reasons.get(reason, 0) + 1
            self._stop.wait(0.05)


class GarbageServer:
    """A TCP server on the loopback that answers every connection with bytes that are not HTTP."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/health/"
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                try:
                    conn.recv(4096)
                    conn.sendall(b"SSH-2.0-not-http\r\nthis is not HTTP\r\n\r\n")
                except OSError:
                    pass

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.sock.close()


class SlowHealth(HealthEndpoint):
    """A health endpoint on the loopback that holds every request `delay` seconds, then answers with the revision
    `url` (the real one) reports: a window in which a deploy waits on its health check. `asked` is set at each
    request."""

    def __init__(self, url, delay):
        self.asked = threading.Event()

        def revision_for(_number):
            self.asked.set()
            time.sleep(delay)
            return health(url)["revision"]  # the real site down: no answer here either

        super().__init__(revision_for)


# --- the invariant -----------------------------------------------------------------------------------

def health(url, timeout=5) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


def lock_holder(server):
    """None when unlocked, else the lock's info.json (plus "alive": whether its pid runs)."""
    if not server.lock.exists():
        return None
    try:
        info = json.loads((server.lock / "info.json").read_text())
    except (OSError, ValueError):
        info = {}
    info["alive"] = alive(info.get("pid"))
    return info


def orphans(server) -> list:
    """Release directories without metadata (left half-built)."""
    return [name for name in server.releases() if not (server.path / "releases" / name / META).exists()]


def accounts_applied(server) -> set:
    try:
        return {name for app, name in server.applied_migrations() if app == "accounts"}
    except sqlite3.Error as exc:
        return {f"<unreadable: {exc}>"}


def inconsistencies(server, url=None) -> list:
    """What breaks the invariant now: the site serves `current`'s revision, whose migration files are
    exactly the applied ones; no orphan release; the lock free or held by a live process."""
    problems = []
    name = server.current_name()
    if not name or not (server.path / "releases" / name).is_dir():
        problems.append(f"current points at {server.current()!r}, not a release")
    else:
        files = {p.stem for p in (server.path / "releases" / name / "accounts" / "migrations").glob("0*.py")}
        applied = accounts_applied(server)
        if files != applied:
            problems.append(f"schema does not match the code of {name}: applied without code {sorted(applied - files)},"
                            f" code not applied {sorted(files - applied)}")
        if url:
            try:
                served = health(url).get("revision") or ""
                revision = server.revision(name)
                if not served or not revision.startswith(served[:12]):
                    problems.append(f"the site serves revision {served[:12]!r}, current is {revision[:12]}")
            except Exception as exc:  # noqa: BLE001 - any failure to answer is the problem
                problems.append(f"the site does not answer: {exc}")
    left = orphans(server)
    if left:
        problems.append(f"release directories without metadata: {left}")
    holder = lock_holder(server)
    if holder is not None and not holder["alive"]:
        problems.append(f"the lock is held by a process that is gone: {holder}")
    return problems


@dataclass
class Outcome:
    """What one injected fault led to."""
    run: object = None  # the FabRun of the faulted command (None when killed before it could report)
    problems: list = field(default_factory=list)  # inconsistencies left once the wait was over
    seconds_to_consistent: float | None = None  # from the fault until the invariant held (None: never)
    failed_requests: int = 0
    server_pids: list = field(default_factory=list)

    @property
    def consistent(self):
        return not self.problems


def wait_consistent(server, url, since, pids, timeout=60, grace=10) -> tuple:
    """Poll until the server-side processes running at the fault have ended and the invariant holds with
    the lock free: (seconds since the fault, []); or, `grace` seconds after they ended (at most `timeout`
    after the fault): (None, the problems left). A state that looks right while an orphaned step still
    changes the database does not count."""
    settled = None
    while True:
        running = any(alive(pid) for pid in pids)
        problems = inconsistencies(server, url)
        if not running and not problems and not server.lock.exists():
            return round(time.monotonic() - since, 2), []
        now = time.monotonic()
        if settled is None and not running:
            settled = now
        if now - since > timeout or (settled is not None and now - settled > grace):
            return None, problems or [f"the lock is still held: {lock_holder(server)}"]
        time.sleep(0.2)


# --- one fault, start to finish ------------------------------------------------------------------------

KINDS = ("kill-fab", "kill-connection", "sigint")


def inject(server, args, reached, kind, *, env=None, url=None, timeout=60, point_timeout=120, freeze=None) -> Outcome:
    """Run `fab *args` in the background; once reached() is true, inject `kind`: SIGKILL the fab process,
    kill its SSH connection, or SIGINT the fab process. Then wait for the invariant (see wait_consistent).
    With `freeze`, fab is stopped (SIGSTOP) once freeze() is true and reached() is asked only then: a point
    after the server's last step (the unlock) that fab would otherwise pass in a few milliseconds; it
    continues (SIGCONT) after the fault.
    The server-side processes running at the fault are returned too: the caller must wait for (or end) them."""
    from types import SimpleNamespace

    url = url or (server.gunicorn.url if server.gunicorn else None)
    frozen = []

    def point():
        if freeze and not frozen:
            if not freeze():
                return False
            proc.send_signal(signal.SIGSTOP)
            frozen.append(True)
        return reached()

    with Poller(url) if url else _NoPoller() as poller:
        proc = server.fab_background(*args, env=env)
        try:
            if not wait_until(lambda: point() or proc.poll() is not None, timeout=point_timeout):
                raise AssertionError(f"fab {' '.join(args)}: the fault point was not reached in {point_timeout}s")
            if proc.poll() is not None:
                out, err = proc.communicate()
                raise AssertionError(f"fab {' '.join(args)} ended (rc {proc.returncode}) before the fault point:\n"
                                     f"{out}\n{err}")
            pids = server_side(server)
            started = time.monotonic()
            if kind == "kill-fab":
                proc.kill()
            elif kind == "kill-connection":
                kill_connections(server)
            elif kind == "sigint":
                proc.send_signal(signal.SIGINT)
            else:
                raise ValueError(kind)
            if frozen:
                proc.send_signal(signal.SIGCONT)
            out, err = proc.communicate(timeout=180)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        run = SimpleNamespace(args=args, returncode=proc.returncode, stdout=out, stderr=err)
        seconds, problems = wait_consistent(server, url, started, pids, timeout)
    return Outcome(run=run, problems=problems, seconds_to_consistent=seconds, failed_requests=poller.failed,
                   server_pids=pids)


def crash_the_deploy(server, proc):
    """Every process of the running deploy dies at once, as in a server crash: fab (`proc`), the SSH command's
    processes, and the supervisor's session (the migrating Django process and a dump's tools included). Returns
    the journal the dead deploy left."""
    journal = json.loads((server.lock / "journal.json").read_text())
    pids = server_side(server)
    for pid in pids:  # frozen first: none of them may see another die and clean up
        os.kill(pid, signal.SIGSTOP)
    os.killpg(journal["pid"], signal.SIGSTOP)
    proc.kill()
    proc.wait()
    os.killpg(journal["pid"], signal.SIGKILL)
    end(pids)
    assert wait_gone([journal["pid"]], timeout=30)
    return journal


class _NoPoller:
    failed = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass


# --- back to a baseline ------------------------------------------------------------------------------

def copy_database(source, target):
    """Copy one SQLite database into another with SQLite's backup API (safe while others have it open)."""
    import sqlite3

    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


def answers(url) -> bool:
    try:
        health(url, timeout=3)
        return True
    except Exception:  # noqa: BLE001
        return False


def reset(server, baseline, pids=()):
    """Put the served server back to `baseline` ({"settings", "snapshot", "main"}): orphaned server-side steps
    ended, lock and orphan releases removed, the database back to the snapshot, gunicorn up, and main
    deployed again when anything still differs."""
    wait_gone(list(pids) + server_side(server), timeout=30)
    end(list(pids) + server_side(server))
    import shutil

    shutil.rmtree(server.lock, ignore_errors=True)
    for partial in [*(server.path / "backups").glob("uploaded/*.partial"),
                    *(server.project / "backups").glob("*/.incoming-*")]:  # what issue 9's items 8 and 9 leave
        partial.unlink()
    relinked = _relink_current(server)
    for name in orphans(server):
        shutil.rmtree(server.path / "releases" / name, ignore_errors=True)
    copy_database(baseline["snapshot"], server.db)
    server.settings.clear()
    server.settings.update(baseline["settings"])
    server.configure()
    if relinked or not alive(server.gunicorn.pid) or not answers(server.gunicorn.url):
        server.gunicorn.stop()
        server.gunicorn.start()
    if (server.current_name() is None or server.revision() != baseline["main"]
            or inconsistencies(server, server.gunicorn.url)):
        server.fab("deploy", "--again", "--revision", "main").ok()


def _relink_current(server) -> bool:
    """When `current` points at a missing or half-built release, point it at the newest finished one (as an
    operator would by hand); True when it did."""
    name = server.current_name()
    if name and (server.path / "releases" / name / META).exists():
        return False
    finished = [n for n in server.releases() if n != name and (server.path / "releases" / n / META).exists()]
    temporary = server.path / "current.fault-suite"
    os.symlink(os.path.join("releases", finished[-1]), temporary)
    os.replace(temporary, server.path / "current")
    return True


def big_backup(server, path, megabytes):
    """A restorable copy of the baseline database grown by `megabytes` of ballast (a slow upload)."""
    import sqlite3

    copy_database(server.base / "baseline.sqlite3", path)
    connection = sqlite3.connect(path)
    try:
        connection.execute("CREATE TABLE fault_ballast (data BLOB)")
        for _ in range(megabytes):
            connection.execute("INSERT INTO fault_ballast VALUES (randomblob(1048576))")
        connection.commit()
    finally:
        connection.close()
    return path


def take_baseline(server) -> dict:
    snapshot = server.base / "baseline.sqlite3"
    copy_database(server.db, snapshot)
    return {"settings": dict(server.settings), "snapshot": snapshot, "main": server.repo.head("main")}


def slow_uv(server, marker: Path, fail=False, dangling_first=False):
    """The next venv builds stop between `uv venv` and `uv pip install` (a half venv on disk), touching `marker`,
    for 20 s, or (fail) fail there: the build sources {path}/.deploytasks/uv.env, which here names a wrapper of
    uv. dangling_first: the first install fails as uv does on index files naming a cache entry that is gone (the
    build repairs the cache and runs once more: that run stops). Returns the function that puts uv.env back."""
    import uv

    marker.unlink(missing_ok=True)
    wrapper = marker.with_name(marker.name + ".uv")
    pause = "echo 'error: the install failed (injected)' >&2; exit 1" if fail else "sleep 20"
    on_install = f"touch {marker}; {pause}"
    if dangling_first:
        reported = marker.with_name(marker.name + ".dangling-reported")
        reported.unlink(missing_ok=True)
        on_install = (f"if [ ! -e {reported} ]; then touch {reported}; echo 'error: Failed to install: tinypkg' >&2; "
                      'echo "  Caused by: failed to read directory \\`$UV_CACHE_DIR/archive-v0/gone-entry\\`" >&2; '
                      f"exit 2; fi; {on_install}")
    wrapper.write_text(f'#!/bin/sh\nif [ "$1" = pip ]; then {on_install}; fi\nexec {uv.find_uv_bin()} "$@"\n')
    wrapper.chmod(0o755)
    env_file = server.path / ".deploytasks" / "uv.env"
    saved = env_file.read_text() if env_file.exists() else None
    env_file.write_text((saved or "") + f"\nuv={wrapper}\n")

    def restore():
        if saved is None:
            env_file.unlink(missing_ok=True)
        else:
            env_file.write_text(saved)
    return restore


def half_venvs(server) -> list:
    """Venvs without the stamp their build writes last (never to be used)."""
    venvs = server.path / "shared" / "venvs"
    return [name for name in server.venvs() if not (venvs / name / ".deploytasks-requirements").exists()]


def fill_disk(directory: Path, kilobytes=16):
    """Mount a tmpfs of `kilobytes` on `directory` (a full disk for what writes there); returns the function that
    unmounts it. Needs root."""
    import subprocess

    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={kilobytes}k,mode=0700", "tmpfs", str(directory)],
                   check=True, capture_output=True, timeout=30)
    return lambda: subprocess.run(["umount", "-l", str(directory)], capture_output=True, timeout=30)


def fail_step(server, args, url=None) -> Outcome:
    """Run `fab *args` (a step made to fail by itself) with the poller on; then wait for the invariant."""
    url = url or (server.gunicorn.url if server.gunicorn else None)
    with Poller(url) if url else _NoPoller() as poller:
        run = server.fab(*args)
        started = time.monotonic()  # the step failed by itself: time from the end of the command
        seconds, problems = wait_consistent(server, url, started, [], grace=2)
    return Outcome(run=run, problems=problems, seconds_to_consistent=seconds, failed_requests=poller.failed)
