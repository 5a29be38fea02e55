#!/usr/bin/env python3
"""`fab backup` / `fab restore` of a big live SQLite database against `cp` + `scp` by hand.

    python3 bench/backup_bench.py --runs 5                 # 1 GiB database, ~10 min on 2 cores
    python3 bench/backup_bench.py --runs 1 --size-mib 64 --no-write   # quick try

One sshd on 127.0.0.3 plays the server. The example project is deployed there once with
deploytasks (`fab setup`, `fab deploy`), its live database (`<path>/shared/db.sqlite3`, WAL mode)
is grown to --size-mib with random blobs, and then, `runs` times each, in alternating order:

* backup + download, with a writer committing 10-row transactions (~100/s) into the live database
  the whole time: `fab backup` (snapshot of the checkpointed file streamed down over one OpenSSH
  connection while the server copies it into its backups/, hashes it and runs integrity_check)
  against `ssh testhost "cp db copy"` + `scp testhost:copy local`. Every local copy is checked:
  `PRAGMA integrity_check`, whole 10-row transactions only, whether it holds the writes committed
  before the copy started, and its sha256 against the manifest;
* restore/upload, writer stopped (a restore replaces the database under it): `fab restore FILE --yes`
  (upload hashed on the server as it arrives, integrity_check beside the safety backup, the upload
  renamed over the live file) against `scp local testhost:upload` + `ssh testhost "cp upload db"`.

Wall time and peak RSS (ru_maxrss from wait4) of each command; the ratio ours/baseline is taken pair
by pair. Results go to the "Backup and restore of a 1 GiB SQLite database" section of
docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (ROOT, ShapedLink, byte_compile_checkout, fmt_summary, make_example_repo, median,  # noqa: E402
                     start_server, write_results)

sys.path.insert(0, str(ROOT))
from deploytasks.server.manifests import READ_BACK_LIST  # noqa: E402

HOST = "127.0.0.3"
ALIAS = "testhost"
MIB = 1024 * 1024
ROW_BYTES = 1536          # random payload per bench_rows row
GROW_BATCH = 5000         # rows per transaction while growing
WRITER_BATCH = 10         # rows per writer transaction

# The writer: a separate Python process committing WRITER_BATCH rows per transaction into the live
# database until SIGTERM (checked between transactions, so it never stops in the middle of one).
WRITER_CODE = r"""
import json, signal, sqlite3, sys, time
db, size = sys.argv[1], int(sys.argv[2])
state = {"stop": False}
def stop(*_):
    state["stop"] = True
signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
con = sqlite3.connect(db, timeout=30, isolation_level=None)
batch = con.execute("SELECT coalesce(max(batch), 0) FROM bench_writer").fetchone()[0] + 1
first, errors, last_error = batch, 0, None
started = time.monotonic()
print("ready", batch, flush=True)
while not state["stop"]:
    try:
        con.execute("BEGIN IMMEDIATE")
        con.executemany("INSERT INTO bench_writer(batch, n) VALUES (?, ?)", [(batch, n) for n in range(size)])
        con.execute("COMMIT")
        batch += 1
    except sqlite3.Error as exc:
        errors += 1
        last_error = str(exc)
        if con.in_transaction:
            con.execute("ROLLBACK")
    time.sleep(0.01)
elapsed = time.monotonic() - started
con.close()
print(json.dumps({"commits": batch - first, "seconds": round(elapsed, 1), "errors": errors,
                  "last_error": last_error, "last_batch": batch - 1}), flush=True)
"""


# ------------------------------------------------------------------ processes
@dataclass
class Measured:
    """One command: wall time, exit status, its peak RSS, its output lines with their times."""

    cmd: list
    seconds: float
    returncode: int
    maxrss_kib: int
    lines: list = field(default_factory=list)  # [(seconds since start, text)]

    def at(self, needle: str) -> float | None:
        """Seconds since the start at which the first output line containing ``needle`` appeared."""
        for t, text in self.lines:
            if needle in text:
                return t
        return None

    def tail(self, n: int = 25) -> str:
        return "\n".join(text for _, text in self.lines[-n:])


class CommandFailed(RuntimeError):
    pass


def run_measured(cmd, log: Path, cwd: Path | None = None, check: bool = True) -> Measured:
    """Run ``cmd``; time it, timestamp its output lines, and take ru_maxrss from os.wait4.

    wait4 returns the rusage of that child (ru_maxrss = its own peak RSS, or that of a descendant
    it waited for if one was bigger: fab starts none, scp starts one ``ssh``)."""
    lines: list = []
    start = time.perf_counter()
    proc = subprocess.Popen(list(cmd), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def reader():
        for raw in proc.stdout:
            lines.append((time.perf_counter() - start, raw.decode(errors="replace").rstrip("\r\n")))

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    try:
        _pid, status, usage = os.wait4(proc.pid, 0)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    thread.join(30)
    proc.stdout.close()
    result = Measured(list(cmd), seconds, proc.returncode, usage.ru_maxrss, lines)
    with open(log, "w") as out:
        out.write("$ " + shlex.join(str(c) for c in cmd) + "\n")
        for t, text in lines:
            out.write(f"[{t:8.3f}] {text}\n")
        out.write(f"exit {proc.returncode} after {seconds:.3f} s, ru_maxrss {usage.ru_maxrss} KiB\n")
    if check and proc.returncode != 0:
        raise CommandFailed(f"{shlex.join(str(c) for c in cmd)}: exit {proc.returncode} (log {log}):\n{result.tail()}")
    return result


class Writer:
    """The concurrent writer process (its own session, stopped by PID)."""

    def __init__(self, db: Path, log_dir: Path):
        self.db = db
        self.err = open(log_dir / "writer.err", "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WRITER_CODE, str(db), str(WRITER_BATCH)],
            stdout=subprocess.PIPE, stderr=self.err, stdin=subprocess.DEVNULL, text=True, start_new_session=True,
        )
        ready = self.proc.stdout.readline()
        if not ready.startswith("ready"):
            self.stop()
            raise RuntimeError(f"the writer did not start: {ready!r} (see {log_dir / 'writer.err'})")
        self.stats: dict | None = None

    def stop(self) -> dict | None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
        try:
            out, _ = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            out, _ = self.proc.communicate()
        self.err.close()
        for line in (out or "").splitlines():
            if line.startswith("{"):
                self.stats = json.loads(line)
        return self.stats


# ------------------------------------------------------------------ sqlite
def text_rows():
    """Rows as an app's tables hold them: a title and a body of words, numbers, a date, a JSON document (about
    700 bytes each), as bench/pg_backup_bench.py makes them."""
    import random

    from pg_backup_bench import WORDS

    rng = random.Random(11)
    sentences = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 16))) for _ in range(4000)]
    n = 0
    while True:
        doc = {"sku": f"SKU-{rng.randrange(10**6):06d}", "tags": rng.sample(WORDS, 3), "price": round(rng.uniform(1, 500), 2),
               "customer": {"id": rng.randrange(10**5), "city": rng.choice(WORDS)}, "lines": rng.randint(1, 9)}
        yield (f"order {n} {rng.choice(sentences)[:40]} | {' '.join(rng.sample(sentences, 5))} | "
               f"{rng.uniform(0, 10000):.2f} | 2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} | {json.dumps(doc)}")
        n += 1


def grow_database(db: Path, size_mib: int, data: str = "random") -> dict:
    """Add bench_rows (random blobs, or text) until the database is --size-mib, then bench_writer; checkpoint."""
    started = time.perf_counter()
    texts = text_rows() if data == "text" else None
    con = sqlite3.connect(db, timeout=30, isolation_level=None)
    try:
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=OFF")  # setup only; the writer and the tools use the defaults
        con.execute("CREATE TABLE IF NOT EXISTS bench_rows(id INTEGER PRIMARY KEY, payload BLOB, note TEXT)")
        page_size = con.execute("PRAGMA page_size").fetchone()[0]
        target = size_mib * MIB
        rows = 0
        while con.execute("PRAGMA page_count").fetchone()[0] * page_size < target:
            con.execute("BEGIN")
            con.executemany("INSERT INTO bench_rows(payload, note) VALUES (?, ?)",
                            ((next(texts) if texts else os.urandom(ROW_BYTES), f"bench row {rows + i}")
                             for i in range(GROW_BATCH)))
            con.execute("COMMIT")
            rows += GROW_BATCH
        # created last, so its pages (and those it grows into) sit at the end of the file
        con.execute("CREATE TABLE IF NOT EXISTS bench_writer(batch INTEGER, n INTEGER)")
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        con.close()
    return {"rows": rows, "bytes": db.stat().st_size, "seconds": time.perf_counter() - started}


def live_last_batch(db: Path) -> int:
    """The last batch the writer committed (rowids only grow: no deletes)."""
    con = sqlite3.connect(db, timeout=30)
    try:
        row = con.execute("SELECT batch FROM bench_writer ORDER BY rowid DESC LIMIT 1").fetchone()
        return row[0] if row else 0
    finally:
        con.close()


def inspect_copy(path: Path, live: bool = False) -> dict:
    """integrity_check, bench_writer rows, torn transactions (batches without exactly 10 rows), last batch."""
    info = {"integrity": None, "ok": False, "rows": None, "torn": None, "last_batch": None, "error": None}
    try:
        if live:
            con = sqlite3.connect(path, timeout=30)
        else:  # read the file as it is: no -wal/-shm created or applied, nothing written
            con = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
    except sqlite3.Error as exc:
        info["error"] = f"open: {exc}"
        return info
    try:
        try:
            rows = [r[0] for r in con.execute("PRAGMA integrity_check")]
            info["integrity"] = "ok" if rows == ["ok"] else "; ".join(rows[:3]) + (
                f" (+{len(rows) - 3} more)" if len(rows) > 3 else "")
            info["ok"] = rows == ["ok"]
        except sqlite3.Error as exc:
            info["integrity"] = f"error: {exc}"
        try:
            info["rows"] = con.execute("SELECT count(*) FROM bench_writer").fetchone()[0]
            info["torn"] = con.execute(
                "SELECT count(*) FROM (SELECT batch FROM bench_writer GROUP BY batch HAVING count(*) != ?)",
                (WRITER_BATCH,)).fetchone()[0]
            row = con.execute("SELECT batch FROM bench_writer ORDER BY rowid DESC LIMIT 1").fetchone()
            info["last_batch"] = row[0] if row else 0
        except sqlite3.Error as exc:
            info["error"] = f"query: {exc}"
    finally:
        con.close()
    return info


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(MIB), b""):
            digest.update(block)
    return digest.hexdigest()


def drop_file(path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


# ------------------------------------------------------------------ the bench
class Bench:
    def __init__(self, workdir: Path, server, repo: Path, size_mib: int):
        self.workdir = workdir
        self.server = server
        self.repo = repo
        self.size_mib = size_mib
        self.path = workdir / "server" / "app"        # deploy path on the "server"
        self.project = workdir / "project"             # local project dir (fabfile.py, fabric.yaml, .env)
        self.logs = workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.db = self.path / "shared" / "db.sqlite3"
        self.server_backups = self.path / "backups"
        self.restore_source = workdir / "restore-source"
        self._seq = 0

    # -- helpers
    def log(self, label: str) -> Path:
        self._seq += 1
        return self.logs / f"{self._seq:03d}-{label}.log"

    def fab(self, *args: str, label: str) -> Measured:
        cmd = [sys.executable, "-m", "fabric", "-S", str(self.server.ssh_config), "-H", ALIAS, *args]
        return run_measured(cmd, self.log(label), cwd=self.project)

    def ssh(self, command: str, label: str) -> Measured:
        return run_measured(["ssh", "-F", str(self.server.ssh_config), ALIAS, command], self.log(label))

    def scp(self, src: str, dst: str, label: str) -> Measured:
        return run_measured(["scp", "-q", "-F", str(self.server.ssh_config), src, dst], self.log(label))

    def local_backup_files(self) -> list[Path]:
        return sorted(Path(p) for p in glob.glob(str(self.project / "backups" / "*" / "*.sqlite3")))

    def clean_server_backups(self) -> None:
        """Remove every backup, copy and upload under <path>/backups (the live db is elsewhere); not the server's
        record of the dumps it read back whole (.read-back-sha256), which deleting a backup leaves in place too."""
        for entry in self.server_backups.rglob("*"):
            if entry.is_file() and entry.name != READ_BACK_LIST:
                entry.unlink()

    def clean_local_backups(self) -> None:
        shutil.rmtree(self.project / "backups", ignore_errors=True)

    # -- setup
    def deploy(self) -> None:
        self.project.mkdir(parents=True)
        (self.project / "fabfile.py").write_text("from deploytasks.remote import ns\n")
        production = self.project / "deploy" / ALIAS / ".env"  # what `fab setup` puts in shared/.env
        production.parent.mkdir(parents=True)
        production.write_text(
            f"DATABASE_URL=sqlite:///{self.db}\nSECRET_KEY=bench-backup\nDEBUG=false\nALLOWED_HOSTS=localhost\n")
        (self.project / "fabric.yaml").write_text(
            f"deploytasks:\n  path: {self.path}\n  repo: {self.repo}\n")
        self.fab("setup", label="setup")
        self.fab("deploy", label="deploy")
        if not (self.path / "current" / ".venv").is_dir() or not self.db.is_file():
            raise RuntimeError(f"after fab deploy: no {self.path}/current/.venv or no {self.db}")

    # -- backup + download
    def backup_ours(self) -> dict:
        before = live_last_batch(self.db)
        seen: dict = {}
        stop = threading.Event()
        start = time.perf_counter()

        def watch():  # when do the first bytes of the streamed copy land locally?
            while not stop.is_set():
                if any(os.path.getsize(p) > 0 for p in glob.glob(str(self.project / "backups" / "*" / ".incoming-*"))):
                    seen["t"] = time.perf_counter() - start
                    return
                time.sleep(0.01)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            m = self.fab("backup", label="backup-ours")
        finally:
            stop.set()
            watcher.join(5)
        after = live_last_batch(self.db)
        files = self.local_backup_files()
        if len(files) != 1:
            raise RuntimeError(f"expected one local backup after fab backup, found {files}")
        local = files[0]
        manifest = json.loads(Path(str(local) + ".json").read_text())
        check = inspect_copy(local)
        sha_ok = sha256_file(local) == manifest["sha256"]
        t_server = m.at("integrity_check ok")
        t_local = m.at("downloaded to")
        result = {
            "seconds": m.seconds, "maxrss_kib": m.maxrss_kib, "size": manifest["size"], "sha_ok": sha_ok,
            "server_script_seconds": manifest.get("seconds"), "t_server_done": t_server, "t_downloaded": t_local,
            "t_first_byte": seen.get("t"), "method": manifest.get("method"),
            "before": before, "after": after, "check": check, "file": str(local),
        }
        return result

    def backup_baseline(self) -> dict:
        remote_copy = self.server_backups / "cp-copy.sqlite3"
        local = self.workdir / "baseline-copy.sqlite3"
        before = live_last_batch(self.db)
        cp = self.ssh(f"cp {shlex.quote(str(self.db))} {shlex.quote(str(remote_copy))}", "backup-baseline-cp")
        scp = self.scp(f"{ALIAS}:{remote_copy}", str(local), "backup-baseline-scp")
        after = live_last_batch(self.db)
        check = inspect_copy(local)
        result = {
            "seconds": cp.seconds + scp.seconds, "cp_seconds": cp.seconds, "scp_seconds": scp.seconds,
            "maxrss_kib": scp.maxrss_kib, "size": local.stat().st_size, "before": before, "after": after,
            "check": check,
        }
        drop_file(local)
        return result

    def backup_rawpipe(self) -> dict:
        """The same bytes through one ssh pipe, nothing else: `ssh host cat db > file`."""
        local = self.workdir / "rawpipe-copy.sqlite3"
        before = live_last_batch(self.db)
        with open(local, "wb") as out:
            log = self.log("backup-rawpipe")
            start = time.perf_counter()
            proc = subprocess.Popen(["ssh", "-F", str(self.server.ssh_config), ALIAS, f"cat {shlex.quote(str(self.db))}"],
                                    stdout=out, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
            _pid, status, usage = os.wait4(proc.pid, 0)
            seconds = time.perf_counter() - start
            log.write_text(f"ssh cat: exit {os.waitstatus_to_exitcode(status)} after {seconds:.3f} s, "
                           f"ru_maxrss {usage.ru_maxrss} KiB\n{proc.stderr.read().decode(errors='replace')}")
        if os.waitstatus_to_exitcode(status) != 0:
            raise CommandFailed(f"ssh cat failed (log {log})")
        result = {"seconds": seconds, "maxrss_kib": usage.ru_maxrss, "size": local.stat().st_size, "before": before,
                  "check": inspect_copy(local)}
        drop_file(local)
        return result

    # -- restore / upload
    def restore_ours(self, source: Path) -> dict:
        uploaded_dir = self.server_backups / "uploaded"
        seen: dict = {}
        stop = threading.Event()
        start = time.perf_counter()

        def watch():  # when does the upload land (x.partial renamed to x)?
            while not stop.is_set():
                if uploaded_dir.is_dir() and any(p.suffix == ".sqlite3" for p in uploaded_dir.iterdir()):
                    seen["t"] = time.perf_counter() - start
                    return
                time.sleep(0.02)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            m = self.fab("restore", str(source), "--yes", label="restore-ours")
        finally:
            stop.set()
            watcher.join(5)
        safety = [json.loads(p.read_text()) for p in self.server_backups.glob("*pre-restore*.json")]
        check = inspect_copy(self.db, live=True)
        return {
            "seconds": m.seconds, "maxrss_kib": m.maxrss_kib, "t_uploaded": seen.get("t"),
            "t_verified": m.at("verified:"), "t_restored": m.at("✓ restored"),
            "method": next(iter(re.findall(r"\((renamed into place|online backup API)\)", " ".join(t for _, t in m.lines))), None),
            "safety_seconds": safety[0].get("seconds") if safety else None, "check": check,
        }

    def restore_baseline(self, source: Path) -> dict:
        remote = self.server_backups / "uploaded" / "scp-upload.sqlite3"
        wal = Path(str(self.db) + "-wal")
        stale_wal = wal.exists() and wal.stat().st_size > 0
        mk = self.ssh(f"mkdir -p {shlex.quote(str(remote.parent))}", "restore-baseline-mkdir")
        scp = self.scp(str(source), f"{ALIAS}:{remote}", "restore-baseline-scp")
        cp = self.ssh(f"cp {shlex.quote(str(remote))} {shlex.quote(str(self.db))}", "restore-baseline-cp")
        check = inspect_copy(self.db, live=True)
        return {
            "seconds": mk.seconds + scp.seconds + cp.seconds, "scp_seconds": scp.seconds, "cp_seconds": cp.seconds,
            "mkdir_seconds": mk.seconds, "maxrss_kib": scp.maxrss_kib, "stale_wal": stale_wal, "check": check,
        }

    # -- where a server-side backup spends its time (the functions of server/engines/sqlite.py, in-process)
    def server_side_parts(self) -> dict:
        if str(ROOT) not in sys.path:
            sys.path.insert(0, str(ROOT))
        from deploytasks.server.engines import sqlite as sqlite_engine

        sqlite_parts = vars(sqlite_engine)
        scratch = self.server_backups / "parts.sqlite3"
        parts = {}
        t = time.perf_counter()
        snap = sqlite_parts["Snapshot"].take(str(self.db))
        fd = os.open(scratch, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            sqlite_parts["copy_snapshot"](snap, target_fd=fd)
            os.fsync(fd)
        finally:
            os.close(fd)
            snap.close()
        parts["backup: snapshot, kernel copy + sha256 + integrity_check side by side, fsync"] = time.perf_counter() - t
        t = time.perf_counter()
        sha256_file(scratch)
        parts["sha256 alone (hashlib, 1 MiB reads)"] = time.perf_counter() - t
        t = time.perf_counter()
        con = sqlite3.connect(f"file:{scratch}?mode=ro&immutable=1", uri=True)
        con.execute("PRAGMA integrity_check").fetchall()
        con.close()
        parts["PRAGMA integrity_check alone"] = time.perf_counter() - t
        target = self.server_backups / "parts-target.sqlite3"
        t = time.perf_counter()
        shutil.copyfile(self.db, target)
        parts["plain cp of the file (for comparison)"] = time.perf_counter() - t
        con = sqlite3.connect(target)
        con.execute("PRAGMA journal_mode=WAL")
        con.close()
        t = time.perf_counter()
        method = sqlite_parts["replace_live"](str(scratch), str(target))
        parts[f"restore: stage a copy beside the live file (+ fsync) and rename it in ({method})"] = time.perf_counter() - t
        t = time.perf_counter()  # the fallback when another connection holds the database open
        sqlite_parts["restore_into"](str(scratch), str(target))
        parts["restore fallback: backup API into the live WAL database, until closed (checkpointed)"] = time.perf_counter() - t
        for path in (scratch, target, Path(f"{target}-wal"), Path(f"{target}-shm")):
            drop_file(path)
        return parts


# ------------------------------------------------------------------ report
def mib(kib) -> float:
    return kib / 1024


def fmt_t(value) -> str:
    return "?" if value is None else f"{value:.2f}"


def ratio_cell(pairs) -> str:
    ratios = [a / b for a, b in pairs]
    if not ratios:
        return "-"
    if len(ratios) == 1:
        return f"{ratios[0]:.2f}x"
    return f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})"


def describe_copy(c: dict, before: int) -> str:
    check = c["check"]
    bits = ["integrity ok" if check["ok"] else f"integrity FAILED: {check['integrity'] or check['error']}"]
    if check["rows"] is not None:
        bits.append(f"{check['rows']} writer rows ({'multiple of 10' if check['rows'] % WRITER_BATCH == 0 else 'NOT a multiple of 10'}"
                    f", {check['torn']} torn)")
    if check["last_batch"] is not None:
        missing = before - check["last_batch"]
        bits.append("has every write committed before it started" if missing <= 0
                    else f"misses the last {missing} transactions committed before it started")
    if check["error"]:
        bits.append(check["error"])
    return "; ".join(bits)


def report(args, db_info, backups, restores, parts, writer_stats, total) -> tuple[str, bool]:
    ours_b = [r["ours"] for r in backups if "ours" in r]
    base_b = [r["baseline"] for r in backups if "baseline" in r]
    raw_b = [r["rawpipe"] for r in backups if "rawpipe" in r]
    ours_r = [r["ours"] for r in restores if "ours" in r]
    base_r = [r["baseline"] for r in restores if "baseline" in r]
    size = db_info["bytes"]
    lines = [
        f"Database: {size / MIB:,.0f} MiB ({size:,} bytes; Django tables + {db_info['rows']:,} rows of "
        + ("text as an app's tables hold it: a title and a body of words, numbers, a date, a JSON document, about"
           " 700 bytes each" if args.data == "text" else f"{ROW_BYTES}-byte random blobs") + f"), WAL mode. Medians (min-max) of {args.runs} runs, alternating which"
        " side goes first; ratios are taken pair by pair (run i against run i).",
        "",
        "| | deploytasks | baseline | ratio deploytasks / baseline |",
        "| --- | --- | --- | --- |",
        f"| backup + download (writer running) | `fab backup`: {fmt_summary(r['seconds'] for r in ours_b)} | "
        f"`ssh cp` + `scp`: {fmt_summary(r['seconds'] for r in base_b)} | "
        f"{ratio_cell([(a['seconds'], b['seconds']) for a, b in zip(ours_b, base_b)])} |",
        f"| backup + download (writer running) | `fab backup`: (as above) | raw pipe `ssh host cat db > file`: "
        f"{fmt_summary(r['seconds'] for r in raw_b)} | "
        f"{ratio_cell([(a['seconds'], b['seconds']) for a, b in zip(ours_b, raw_b)])} |",
        f"| restore / upload (writer stopped) | `fab restore --yes`: {fmt_summary(r['seconds'] for r in ours_r)} | "
        f"`scp` + `ssh cp`: {fmt_summary(r['seconds'] for r in base_r)} | "
        f"{ratio_cell([(a['seconds'], b['seconds']) for a, b in zip(ours_r, base_r)])} |",
        f"| peak RSS, backup | fab: {fmt_summary((mib(r['maxrss_kib']) for r in ours_b), 'MiB', 0)}, max "
        f"{max((mib(r['maxrss_kib']) for r in ours_b), default=0):.0f} MiB | scp (incl. its ssh): "
        f"{fmt_summary((mib(r['maxrss_kib']) for r in base_b), 'MiB', 0)} | |",
        f"| peak RSS, restore | fab: {fmt_summary((mib(r['maxrss_kib']) for r in ours_r), 'MiB', 0)}, max "
        f"{max((mib(r['maxrss_kib']) for r in ours_r), default=0):.0f} MiB | scp (incl. its ssh): "
        f"{fmt_summary((mib(r['maxrss_kib']) for r in base_r), 'MiB', 0)} | |",
    ]
    ok_ours = sum(1 for r in ours_b if r["check"]["ok"] and r["sha_ok"] and r["check"]["torn"] == 0
                  and r["check"]["rows"] % WRITER_BATCH == 0 and r["check"]["last_batch"] >= r["before"])
    ok_base = sum(1 for r in base_b if r["check"]["ok"])
    fresh_base = sum(1 for r in base_b if r["check"]["last_batch"] is not None
                     and r["check"]["last_batch"] >= r["before"])
    restore_ok = sum(1 for r in ours_r if r["check"]["ok"])
    base_restore_ok = sum(1 for r in base_r if r["check"]["ok"])
    lines += [
        "",
        "Copies taken while the writer ran (10-row transactions, "
        + ", ".join(f"{w['commits'] / w['seconds']:.0f} commits/s" for w in writer_stats if w and w["seconds"])
        + (", " + ", ".join(f"{w['errors']} failed commits" for w in writer_stats if w and w["errors"]) if any(
            w and w["errors"] for w in writer_stats) else "")
        + "):",
        "",
        f"- `fab backup`: {ok_ours}/{len(ours_b)} copies pass integrity_check, hold whole transactions only, hold"
        " every transaction committed before the command started, and match the manifest's sha256.",
        f"- `cp` + `scp`: {ok_base}/{len(base_b)} pass integrity_check; {fresh_base}/{len(base_b)} hold every"
        " transaction committed before the copy started (a `cp` of a WAL database copies only what has been"
        " checkpointed into the main file, and a checkpoint during the copy can tear it).",
    ]
    for i, r in enumerate(base_b):
        lines.append(f"  - run {i + 1}: {describe_copy(r, r['before'])}")
    ok_raw = sum(1 for r in raw_b if r["check"]["ok"])
    fresh_raw = sum(1 for r in raw_b if r["check"]["last_batch"] is not None and r["check"]["last_batch"] >= r["before"])
    lines.append(f"- raw pipe (`ssh cat` of the live file): {ok_raw}/{len(raw_b)} pass integrity_check; {fresh_raw}/"
                 f"{len(raw_b)} hold every transaction committed before the copy started (same reasons: the WAL is"
                 " not in the file, and a checkpoint can write into it mid-copy).")
    lines += [
        f"- after `fab restore`: {restore_ok}/{len(ours_r)} live databases pass integrity_check"
        f" (after `scp` + `cp`: {base_restore_ok}/{len(base_r)}).",
        "",
        "Where the time goes (medians):",
        "",
        "| step | seconds |",
        "| --- | --- |",
    ]

    def med(values):
        values = [v for v in values if v is not None]
        return f"{median(values):.2f}" if values else "-"

    size_mb = size / 1e6
    first = [r["t_first_byte"] for r in ours_b]
    streaming = [r["t_downloaded"] - r["t_first_byte"] for r in ours_b if r["t_downloaded"] and r["t_first_byte"]]
    lines += [
        f"| `fab backup`: start, one OpenSSH connection, the project's settings (no app registry), snapshot, until the first bytes land locally | {med(first)} |",
        f"| `fab backup`: streaming (server: kernel copy to its backups/, sha256 and integrity_check side by side;"
        f" local: spliced into the file through a 1 MiB pipe), until the copy and its manifest are in place | {med(streaming)}"
        + (f" ({size_mb / median(streaming):.0f} MB/s)" if streaming else "") + " |",
        f"| … the server-side script from snapshot to manifest (manifest `seconds`) | "
        f"{med(r['server_script_seconds'] for r in ours_b)} |",
        f"| baseline: `ssh cp` on the server | {med(r['cp_seconds'] for r in base_b)} |",
        f"| baseline: `scp` download | {med(r['scp_seconds'] for r in base_b)}"
        + (f" ({size_mb / median(r['scp_seconds'] for r in base_b):.0f} MB/s)" if base_b else "") + " |",
    ]
    up = [r["t_uploaded"] for r in ours_r if r["t_uploaded"]]
    apply = [r["t_restored"] - r["t_uploaded"] for r in ours_r if r["t_restored"] and r["t_uploaded"]]
    lines += [
        f"| `fab restore`: start, manifest check, one round trip (lock, live release, upload name), upload hashed on arrival (until it is renamed into place)"
        f" | {med(up)} |",
        f"| `fab restore`: Django start-up, integrity_check of the upload beside the safety backup, the upload renamed over the"
        f" live file ({', '.join(sorted({str(r['method']) for r in ours_r}))}) | {med(apply)} |",
        f"| … of which the safety backup (its manifest `seconds`) | {med(r['safety_seconds'] for r in ours_r)} |",
        f"| baseline: `scp` upload | {med(r['scp_seconds'] for r in base_r)}"
        + (f" ({size_mb / median(r['scp_seconds'] for r in base_r):.0f} MB/s)" if base_r else "") + " |",
        f"| baseline: `ssh cp` into place (+ `ssh mkdir -p`) | {med(r['cp_seconds'] for r in base_r)} "
        f"(+ {med(r['mkdir_seconds'] for r in base_r)}) |",
    ]
    if parts:
        lines += ["", "The server-side steps of a backup (and of a restore) timed one by one after the runs, on the same"
                  " database (in-process, page cache warm, writer stopped):", "",
                  "| step | seconds |", "| --- | --- |"]
        lines += [f"| {name} | {secs:.2f} |" for name, secs in parts.items()]
    lines += [
        "",
        f"How: `python3 bench/backup_bench.py --runs {args.runs} --size-mib {args.size_mib}"
        f"{f' --data {args.data}' if args.data != 'random' else ''}"
        f"{f' --link-mbit {args.link_mbit}' if args.link_mbit else ''}`, total {total:.0f} s."
        f" One sshd on {HOST} (the \"server\" is this machine: same disk, same page cache, so neither side pays"
        " for real disk reads"
        + (f"; its traffic, both ways, limited to {args.link_mbit} Mbit/s by an htb class on the loopback device,"
           " as a network link between laptop and server would limit it)" if args.link_mbit else
           " or a real network)")
        + ". The example project is deployed once with `fab setup` +"
        " `fab deploy`; the database is `<path>/shared/db.sqlite3`. Peak RSS is ru_maxrss from wait4 on the"
        " command (for scp that includes the `ssh` it starts). The baseline checks nothing; `fab restore` also"
        " verifies the upload and keeps a safety backup of the database it replaces. Copies and uploads are"
        " deleted after each run. Load average (1 min) at the start"
        f" {args.load[0]:.2f}, at the end {os.getloadavg()[0]:.2f}, on {len(os.sched_getaffinity(0))} CPUs"
        " (anything else running on the machine counts too).",
    ]
    all_ok = ok_ours == len(ours_b) == args.runs and restore_ok == len(ours_r) == args.runs
    return "\n".join(lines) + "\n", all_ok


# ------------------------------------------------------------------ main
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/benchmarks.md")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs)")
    parser.add_argument("--data", choices=("random", "text"), default="random",
                        help="what fills the database: random blobs (nothing compresses) or text; its own section")
    parser.add_argument("--link-mbit", type=int, help="limit the server's traffic to this many Mbit/s (tc on the "
                        "loopback device, root only), as a network link would; its own section of the results")
    args = parser.parse_args(argv)
    args.load = os.getloadavg()
    byte_compile_checkout()

    workdir = Path(tempfile.mkdtemp(prefix="bench-backup-"))
    free = shutil.disk_usage(workdir).free
    need = 5 * args.size_mib * MIB + 2 * 1024 * MIB
    if free < need:
        print(f"not enough free space in {workdir}: {free / MIB:,.0f} MiB free, need ~{need / MIB:,.0f} MiB")
        shutil.rmtree(workdir, ignore_errors=True)
        return 2

    def on_term(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_term)
    started = time.perf_counter()
    server = None
    link = None
    writer = None
    failed = None
    backups: list = []
    restores: list = []
    writer_stats: list = []
    parts: dict = {}
    db_info: dict = {}
    try:
        server = start_server(workdir, host=HOST)
        if args.link_mbit:
            link = ShapedLink(HOST, args.link_mbit).__enter__()
        (workdir / "repo").mkdir()
        bench = Bench(workdir, server, make_example_repo(workdir / "repo"), args.size_mib)
        print(f"deploying the example project to {bench.path} over ssh://{HOST}:{server.port} …", flush=True)
        bench.deploy()
        print(f"growing {bench.db} to {args.size_mib} MiB …", flush=True)
        db_info = grow_database(bench.db, args.size_mib, args.data)
        print(f"  {db_info['bytes']:,} bytes, {db_info['rows']:,} rows in {db_info['seconds']:.1f} s", flush=True)

        # ---- backup + download, writer running
        writer = Writer(bench.db, bench.logs)
        time.sleep(3)  # let it commit a few hundred transactions (and run an autocheckpoint) first
        for i in range(args.runs):
            order = ("ours", "baseline", "rawpipe") if i % 2 == 0 else ("rawpipe", "baseline", "ours")
            run = {}
            for side in order:
                if side == "rawpipe":
                    r = run["rawpipe"] = bench.backup_rawpipe()
                    print(f"run {i + 1} backup raw pipe: {r['seconds']:.2f} s; {describe_copy(r, r['before'])}",
                          flush=True)
                elif side == "ours":
                    r = run["ours"] = bench.backup_ours()
                    print(f"run {i + 1} backup ours: {r['seconds']:.2f} s, {mib(r['maxrss_kib']):.0f} MiB RSS, "
                          f"server {r['server_script_seconds']} s (reported at {fmt_t(r['t_server_done'])} s), "
                          f"downloaded at {fmt_t(r['t_downloaded'])} s; sha {'ok' if r['sha_ok'] else 'MISMATCH'}; "
                          f"{describe_copy(r, r['before'])}", flush=True)
                    last = i == args.runs - 1
                    if last:  # keep the last copy (+ manifest) as the file to restore
                        bench.restore_source.mkdir()
                        for p in (Path(r["file"]), Path(r["file"] + ".json")):
                            shutil.move(p, bench.restore_source / p.name)
                        run["restore_file"] = str(bench.restore_source / Path(r["file"]).name)
                    bench.clean_local_backups()
                else:
                    r = run["baseline"] = bench.backup_baseline()
                    print(f"run {i + 1} backup baseline: {r['seconds']:.2f} s (cp {r['cp_seconds']:.2f} + scp "
                          f"{r['scp_seconds']:.2f}), scp {mib(r['maxrss_kib']):.0f} MiB RSS; "
                          f"{describe_copy(r, r['before'])}", flush=True)
                bench.clean_server_backups()
            backups.append(run)
        writer_stats.append(writer.stop())
        writer = None
        print(f"writer: {writer_stats[-1]}", flush=True)

        # ---- restore / upload, writer stopped
        source = Path(backups[-1]["restore_file"])
        for i in range(args.runs):
            order = ("ours", "baseline") if i % 2 == 0 else ("baseline", "ours")
            run = {}
            for side in order:
                if side == "ours":
                    r = run["ours"] = bench.restore_ours(source)
                    print(f"run {i + 1} restore ours: {r['seconds']:.2f} s, {mib(r['maxrss_kib']):.0f} MiB RSS, "
                          f"uploaded at {fmt_t(r['t_uploaded'])}, verified at {fmt_t(r['t_verified'])}, restored at "
                          f"{fmt_t(r['t_restored'])} s; live db integrity {r['check']['integrity']}", flush=True)
                else:
                    r = run["baseline"] = bench.restore_baseline(source)
                    print(f"run {i + 1} restore baseline: {r['seconds']:.2f} s (scp {r['scp_seconds']:.2f} + cp "
                          f"{r['cp_seconds']:.2f}), scp {mib(r['maxrss_kib']):.0f} MiB RSS; live db integrity "
                          f"{r['check']['integrity']}{', a stale -wal was there' if r['stale_wal'] else ''}",
                          flush=True)
                bench.clean_server_backups()
            restores.append(run)

        print("timing the server-side steps one by one …", flush=True)
        parts = bench.server_side_parts()
    except BaseException as exc:  # noqa: BLE001 - report, clean up, exit 1
        failed = f"{type(exc).__name__}: {exc}"
        print(f"FAILED: {failed}", flush=True)
    finally:
        if writer is not None:
            writer_stats.append(writer.stop())
        if link is not None:
            link.__exit__()
        if server is not None:
            server.stop()
        keep = args.keep or failed is not None
        if keep:
            print(f"kept {workdir} (logs in {workdir / 'logs'})")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    total = time.perf_counter() - started
    if not backups or "baseline" not in backups[0] or "ours" not in backups[0]:
        return 1
    text, all_ok = report(args, db_info, backups, restores, parts, writer_stats, total)
    if failed:
        text += f"\nThe run FAILED before the end: {failed.splitlines()[0][:300]}\n"
    print()
    print(text)
    if not args.no_write:
        size_name = "1 GiB" if args.size_mib == 1024 else f"{args.size_mib} MiB"
        over = f" over a {args.link_mbit} Mbit/s link" if args.link_mbit else ""
        of = " of text" if args.data == "text" else ""
        path = write_results(f"Backup and restore of a {size_name} SQLite database{of}{over}", text)
        print(f"written to {path}")
    return 0 if (failed is None and all_ok) else 1


if __name__ == "__main__":
    sys.exit(main())
