#!/usr/bin/env python3
"""`fab backup` / `fab restore` of a PostgreSQL-backed deploy against `ssh host pg_dump > file` by hand.

    python3 bench/pg_backup_bench.py --runs 5                          # 512 MiB of table data
    python3 bench/pg_backup_bench.py --runs 1 --size-mib 64 --no-write  # quick try

The PostgreSQL version of bench/backup_bench.py (whose Bench, run_measured and report helpers it reuses).
One sshd on 127.0.0.8 plays the server; PostgreSQL is the one on 127.0.0.1:5432 (trust auth, superuser
`postgres`), where the bench creates a database and a role of its own (`dt_bench_<hex>`, with a password) and
drops both at the end, also on failure. The example project gets `psycopg[binary]` in a commit, is deployed
once with DATABASE_URL=postgres://… (`fab setup`, `fab deploy`), and its database is grown to --size-mib of
`bench_rows(id serial, payload bytea, note text)` rows (1536 random bytes each, COPY). Then, `runs` times
each, alternating which side goes first:

* backup + download: `fab backup` (server: pg_dump -Fc to a file, read back whole by pg_restore beside sha256,
  manifest; then the file downloaded) against `ssh testhost 'pg_dump --format=custom --no-owner --no-acl …'
  > local.dump` (the same archive piped through ssh, nothing checked). Checked: our copy's sha256 against its
  manifest, `pg_restore --list` of both;
* restore: `fab restore FILE --yes` (upload hashed on arrival, verified again, safety pg_dump of the live
  database, restore in one transaction) against `scp FILE testhost:` + `ssh testhost pg_restore --clean
  --if-exists --no-owner --no-acl -d db FILE`. Checked: the row count of bench_rows afterwards.

Wall time and peak RSS (ru_maxrss from wait4) per command, ratios pair by pair; the server-side steps are
timed one by one at the end. Results: section "Backup and restore of a PostgreSQL database" of
docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cpu_profile import CpuProfile, NoProfile, merged  # noqa: E402
from backup_bench import MIB, Bench, fmt_t, mib, ratio_cell, run_measured, sha256_file  # noqa: E402
from harness import (_commit_change, byte_compile_checkout, fmt_summary, machine_description, make_example_repo, median,  # noqa: E402
                     start_server, write_results)

HOST = "127.0.0.111"
ALIAS = "testhost"
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "postgres"}
COPY_BATCH = 20000  # rows per COPY while growing (~30 MiB)
SECTION = "Backup and restore of a PostgreSQL database"


def admin(sql: str) -> None:
    with psycopg.connect(**PG, autocommit=True, connect_timeout=5) as connection:
        connection.execute(sql)


def tool(*argv: str, stdout=subprocess.DEVNULL) -> float:
    """Run a client tool on this machine (= the server) and return its wall time; raise on failure."""
    started = time.perf_counter()
    subprocess.run(argv, stdout=stdout, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def listable(path) -> bool:
    """pg_restore --list reads the archive's table of contents (through `zstd -dc` for a .dump.zst)."""
    with open(path, "rb") as handle:
        zstd = handle.read(4) == ZSTD_MAGIC
    command = f"zstd -dc {shlex.quote(str(path))} | pg_restore --list" if zstd else f"pg_restore --list {shlex.quote(str(path))}"
    return subprocess.run(["bash", "-c", command], stdout=subprocess.DEVNULL,  # pg_restore's status (zstd: SIGPIPE)
                          stderr=subprocess.DEVNULL).returncode == 0


WORDS = ("order invoice customer shipped pending returned warehouse parcel delivery address street city"
         " payment card refund discount coupon product size colour blue green red large small cotton wool"
         " leather steel glass delayed express standard tracking number note please call before arriving"
         " thank you gift wrap fragile handle with care the a of and to in for on at by").split()


def wait_for_quiet(limit: float = 1.5, tries: int = 5) -> list[float]:
    """Sleep 60 s while the 1-minute load average is above `limit`, at most `tries` times; the loads seen."""
    loads = [os.getloadavg()[0]]
    while loads[-1] > limit and len(loads) <= tries:
        print(f"load average {loads[-1]:.2f} > {limit}: waiting 60 s", flush=True)
        time.sleep(60)
        loads.append(os.getloadavg()[0])
    return loads


class Watch:
    """Seconds (since `start`) at which a file matching each glob first exists, polled every 10 ms."""

    def __init__(self, **globs: str):
        self.globs, self.seen = globs, {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.is_set():
            for name, pattern in self.globs.items():
                if name not in self.seen and set(glob.glob(pattern)) - self.before[name]:
                    self.seen[name] = time.perf_counter() - self.start
            time.sleep(0.01)

    def __enter__(self):
        self.before = {name: set(glob.glob(pattern)) for name, pattern in self.globs.items()}  # new files only
        self.start = time.perf_counter()
        self.thread.start()
        return self.seen

    def __exit__(self, *_):
        self.stop.set()
        self.thread.join(5)


class PgBench(Bench):
    def __init__(self, workdir: Path, server, repo: Path, size_mib: int, name: str, password: str):
        super().__init__(workdir, server, repo, size_mib)
        self.name, self.password = name, password
        self.rows = 0
        self.parts_file = workdir / "parts.dump"
        self.profile_cpu = False

    def cpu_profile(self):
        return CpuProfile() if self.profile_cpu else NoProfile()

    def connect(self):
        return psycopg.connect(host=PG["host"], port=PG["port"], user=self.name, password=self.password,
                               dbname=self.name, autocommit=True)

    def count_rows(self) -> int | None:
        try:
            with self.connect() as connection:
                return connection.execute("SELECT count(*) FROM bench_rows").fetchone()[0]
        except psycopg.Error:
            return None

    def local_backup_files(self) -> list[Path]:
        return sorted(Path(p) for pattern in ("*.dump", "*.dump.zst")
                      for p in glob.glob(str(self.project / "backups" / "*" / pattern)))

    def pg_args(self) -> list[str]:  # the baseline connects as the role, no password (trust auth)
        return ["-h", PG["host"], "-p", str(PG["port"]), "-U", self.name, "-d", self.name]

    # -- setup
    def deploy(self) -> None:
        def add_psycopg(wt: Path) -> str:
            with open(wt / "requirements.txt", "a") as handle:
                handle.write("psycopg[binary]\n")
            return "requirements: psycopg[binary]"

        _commit_change(self.repo, add_psycopg)
        self.project.mkdir(parents=True)
        (self.project / "fabfile.py").write_text("from deploytasks.remote import ns\n")
        production = self.project / "deploy" / ALIAS / ".env"  # what `fab setup` uploads to shared/.env
        production.parent.mkdir(parents=True)
        for env_file in (self.project / ".env", production):
            env_file.write_text(
                f"DATABASE_URL=postgres://{self.name}:{self.password}@{PG['host']}:{PG['port']}/{self.name}\n"
                "SECRET_KEY=bench-pg-backup\nDEBUG=false\nALLOWED_HOSTS=localhost\n")
        (self.project / "fabric.yaml").write_text(f"deploytasks:\n  path: {self.path}\n  repo: {self.repo}\n")
        self.fab("setup", label="setup")
        self.fab("deploy", label="deploy")
        self.clean_server_backups()  # the deploy's pre-deploy dump

    def grow(self) -> dict:
        """bench_rows filled by COPY with realistic rows (a title and a body of words, numbers, a timestamp,
        a JSON document; about 700 bytes each) until the table is --size-mib; then VACUUM (FREEZE, ANALYZE),
        so that no later read sets hint bits (writes) on the first pass."""
        import random

        rng = random.Random(11)
        sentences = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 16))) for _ in range(4000)]
        started = time.perf_counter()
        target = self.size_mib * MIB
        with self.connect() as connection:
            connection.execute("CREATE TABLE bench_rows(id serial PRIMARY KEY, title text, body text, amount numeric(12,2),"
                               " quantity integer, created timestamptz, doc jsonb)")
            size = 0
            while size < target:
                with connection.cursor().copy("COPY bench_rows(title, body, amount, quantity, created, doc) FROM STDIN") as copy:
                    for i in range(COPY_BATCH):
                        n = self.rows + i
                        doc = {"sku": f"SKU-{rng.randrange(10**6):06d}", "tags": rng.sample(WORDS, 3),
                               "price": round(rng.uniform(1, 500), 2), "customer": {"id": rng.randrange(10**5),
                               "city": rng.choice(WORDS), "vip": rng.random() < 0.1}, "lines": rng.randint(1, 9)}
                        copy.write_row((f"order {n} {rng.choice(sentences)[:40]}", " ".join(rng.sample(sentences, 5)),
                                        f"{rng.uniform(0, 10000):.2f}", rng.randrange(1000),
                                        f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} {rng.randrange(24):02d}:"
                                        f"{rng.randrange(60):02d}:00+00", json.dumps(doc)))
                self.rows += COPY_BATCH
                size = connection.execute("SELECT pg_total_relation_size('bench_rows')").fetchone()[0]
            connection.execute("VACUUM (FREEZE, ANALYZE)")
            database = connection.execute("SELECT pg_database_size(current_database())").fetchone()[0]
            server = connection.execute("SHOW server_version").fetchone()[0]
        return {"rows": self.rows, "table_bytes": size, "bytes": database, "server_version": server,
                "seconds": time.perf_counter() - started}

    # -- backup + download
    def backup_ours(self) -> dict:
        backups = str(self.server_backups)
        with Watch(dump_started=f"{backups}/*.dump*.partial", server_done=f"{backups}/*.dump*.json") as seen, \
                self.cpu_profile() as cpu:
            m = self.fab("backup", label="backup-ours")
        [local] = self.local_backup_files()
        manifest = json.loads(Path(f"{local}.json").read_text())
        return {
            "seconds": m.seconds, "maxrss_kib": m.maxrss_kib, "size": manifest["size"], "file": str(local),
            "sha_ok": sha256_file(local) == manifest["sha256"], "list_ok": listable(local),
            "server_seconds": manifest.get("seconds"), "t_dump_started": seen.get("dump_started"),
            "t_server_done": seen.get("server_done"), "t_downloaded": m.at("downloaded to"), "cpu": cpu.by_name(),
        }

    def backup_baseline(self, same_settings=False) -> dict:
        """`ssh host pg_dump > file` with pg_dump's defaults, or (same_settings) `ssh host 'pg_dump --compress=0 |
        zstd -1 -T0' > file`: what fab backup runs on the server, by hand, nothing checked."""
        local = self.workdir / "baseline.dump"
        remote = shlex.join(["pg_dump", "--format=custom", "--no-owner", "--no-acl", *self.pg_args()])
        if same_settings:
            remote = shlex.join(["pg_dump", "--format=custom", "--compress=0", "--no-owner", "--no-acl",
                                 *self.pg_args()]) + " | zstd -1 -T0 -q -c"
        command = f"ssh -F {shlex.quote(str(self.server.ssh_config))} {ALIAS} {shlex.quote(remote)} > {shlex.quote(str(local))}"
        with self.cpu_profile() as cpu:
            m = run_measured(["sh", "-c", command], self.log("backup-baseline"))
        result = {"seconds": m.seconds, "maxrss_kib": m.maxrss_kib, "size": local.stat().st_size,
                  "list_ok": listable(local), "cpu": cpu.by_name()}
        local.unlink()
        return result

    # -- restore
    def restore_ours(self, source: Path) -> dict:
        backups = str(self.server_backups)
        with Watch(uploaded=f"{backups}/uploaded/*.dump*", safety_started=f"{backups}/*-pre-restore.dump*.partial",
                   safety_done=f"{backups}/*-pre-restore.dump*.json",
                   early_started=f"{backups}/uploaded/early-safety-*/*.partial",
                   early_done=f"{backups}/uploaded/early-safety-*/*.json") as seen:
            m = self.fab("restore", str(source), "--yes", label="restore-ours")
        safety = [json.loads(p.read_text()) for p in self.server_backups.glob("*-pre-restore.dump*.json")]
        return {
            "seconds": m.seconds, "maxrss_kib": m.maxrss_kib, "rows": self.count_rows(), **{f"t_{k}": v for k, v in seen.items()},
            "t_restored": m.at("✓ restored"), "safety_seconds": safety[0].get("seconds") if safety else None,
            "early_kept": bool(safety) and safety[0].get("consistent_with", "").startswith("the restore: taken just"),
            "left_on_server": sorted(p.name for p in (self.server_backups / "uploaded").glob("*.dump*")),
        }

    def restore_baseline(self, source: Path) -> dict:
        remote = self.server_backups / ("scp-upload" + "".join(source.suffixes[-2:]))
        scp = self.scp(str(source), f"{ALIAS}:{remote}", "restore-baseline-scp")
        replay = shlex.join(["pg_restore", "--clean", "--if-exists", "--no-owner", "--no-acl", *self.pg_args()])
        if source.name.endswith(".zst"):  # the same archive, through the bare tools
            command = f"set -o pipefail; zstd -dc {shlex.quote(str(remote))} | {replay}"
        else:
            command = f"{replay} {shlex.quote(str(remote))}"
        restore = self.ssh(f"bash -c {shlex.quote(command)}", "restore-baseline-pg_restore")
        return {"seconds": scp.seconds + restore.seconds, "scp_seconds": scp.seconds,
                "pg_restore_seconds": restore.seconds, "maxrss_kib": max(scp.maxrss_kib, restore.maxrss_kib),
                "rows": self.count_rows()}

    # -- the server-side steps one by one (this machine is the server)
    def server_side_parts(self) -> dict:
        dump = str(self.parts_file)
        parts = {"`pg_dump --format=custom` to a file (what both sides run)": tool(
            "pg_dump", "--format=custom", "--no-owner", "--no-acl", f"--file={dump}", *self.pg_args())}
        for level in (1, 0):  # for comparison: what the compression costs
            parts[f"… the same with `--compress={level}`"] = tool(
                "pg_dump", "--format=custom", f"--compress={level}", "--no-owner", "--no-acl",
                f"--file={dump}.z{level}", *self.pg_args())
            os.unlink(f"{dump}.z{level}")
        piped = shlex.join(["pg_dump", "--format=custom", "--compress=0", "--no-owner", "--no-acl", *self.pg_args()])
        parts["`pg_dump --compress=0 | zstd -1 -T0` to a file (what `fab backup` runs)"] = tool(
            "bash", "-o", "pipefail", "-c", f"{piped} | zstd -1 -T0 -q -c > {shlex.quote(dump)}.zst")
        parts["`zstd -dc | pg_restore --file=/dev/null` (its read-back)"] = tool(
            "bash", "-o", "pipefail", "-c", f"zstd -dc {shlex.quote(dump)}.zst | pg_restore --file=/dev/null")
        os.unlink(f"{dump}.zst")
        started = time.perf_counter()
        sha256_file(self.parts_file)
        parts["sha256 of the dump (hashlib, 1 MiB reads)"] = time.perf_counter() - started
        parts["`pg_restore --file=/dev/null` (the whole-archive read that verifies it)"] = tool(
            "pg_restore", "--file=/dev/null", dump)
        parts["`pg_restore --data-only --table=django_migrations` (the manifest's migrations)"] = tool(
            "pg_restore", "--data-only", "--table=django_migrations", "--file=/dev/null", dump)
        parts["`pg_restore --list` (table of contents only)"] = tool("pg_restore", "--list", dump)
        one = shlex.join(["pg_restore", "--clean", "--if-exists", "--no-owner", "--no-acl", "--single-transaction",
                          "--file=-", dump]) + " | " + shlex.join(["psql", "--no-psqlrc", "--quiet",
                                                                    "--set=ON_ERROR_STOP=1", *self.pg_args()])
        parts["restore as one transaction: `pg_restore --single-transaction --file=-` piped into `psql` (by hand)"] = tool(
            "bash", "-o", "pipefail", "-c", one)
        parts["restore as the baseline does: `pg_restore --clean --if-exists -d`"] = tool(
            "pg_restore", "--clean", "--if-exists", "--no-owner", "--no-acl", *self.pg_args(), dump)
        self.parts_file.unlink()
        return parts


# ------------------------------------------------------------------ report
def goal_rows(ours_b, base_b, same_b, ours_r, base_r) -> list[str]:
    def pair_ratio(ours, base, key="seconds"):
        return median([a[key] / b[key] for a, b in zip(ours, base)]) if ours and base else float("nan")

    rss = max(mib(r["maxrss_kib"]) for r in ours_b + ours_r) if ours_b + ours_r else float("nan")
    goals = [
        ("PostgreSQL backup + download vs `ssh pg_dump > file` (its defaults)", "<= 0.3x", pair_ratio(ours_b, base_b), 0.3),
        ("PostgreSQL backup + download vs the same dump settings by hand", "<= 1.05x", pair_ratio(ours_b, same_b), 1.05),
        ("size of the file vs pg_dump's defaults (realistic data)", "<= 1.2x", pair_ratio(ours_b, base_b, "size"), 1.2),
        ("PostgreSQL restore vs `scp` + `pg_restore` (no safety)", "<= 1.5x", pair_ratio(ours_r, base_r), 1.5),
    ]
    rows = [f"| {name} | {goal} | {value:.2f}x | {'yes' if value <= limit else 'no'} |" for name, goal, value, limit in goals]
    rows.append(f"| peak RSS of `fab backup` / `restore` | < 100 MiB | {rss:.0f} MiB (largest run) | {'yes' if rss < 100 else 'no'} |")
    return rows


def cpu_rows(ours, same) -> list[str]:
    """CPU seconds by process name (medians over the runs), `fab backup` beside the same settings by hand."""
    ours_cpu, same_cpu = merged([r["cpu"] for r in ours]), merged([r["cpu"] for r in same])
    names = sorted(set(ours_cpu) | set(same_cpu), key=lambda n: -max(ours_cpu.get(n, 0), same_cpu.get(n, 0)))
    rows = ["CPU seconds by process (every process polled from /proc every 5 ms; medians of the runs; `--cpu`):", "",
            "| process | `fab backup` | same settings by hand |", "| --- | --- | --- |"]
    for name in names:
        if max(ours_cpu.get(name, 0), same_cpu.get(name, 0)) >= 0.01:
            rows.append(f"| {name} | {ours_cpu.get(name, 0):.2f} | {same_cpu.get(name, 0):.2f} |")
    totals = [sum(r["cpu"].values()) for r in ours], [sum(r["cpu"].values()) for r in same]
    rows.append(f"| all | {median(totals[0]):.2f} | {median(totals[1]):.2f} |")
    return rows


def report(args, db, backups, restores, parts, versions, total) -> tuple[str, bool]:
    ours_b = [r["ours"] for r in backups if "ours" in r]
    base_b = [r["baseline"] for r in backups if "baseline" in r]
    same_b = [r["same"] for r in backups if "same" in r]
    ours_r = [r["ours"] for r in restores if "ours" in r]
    base_r = [r["baseline"] for r in restores if "baseline" in r]

    def secs(runs, key="seconds"):
        return fmt_summary(r[key] for r in runs)

    def rss(runs):
        return fmt_summary((mib(r["maxrss_kib"]) for r in runs), "MiB", 0)

    def ratio(ours, base):
        return ratio_cell([(a["seconds"], b["seconds"]) for a, b in zip(ours, base)])

    def med(values):
        values = [v for v in values if v is not None]
        return f"{median(values):.2f}" if values else "-"

    lines = [
        f"Database: {db['bytes'] / MIB:,.0f} MiB (`pg_database_size`; Django tables + bench_rows: {db['rows']:,} rows"
        f" of realistic data: a title and a body of words, numbers, a timestamp, a JSON document,"
        f" {db['table_bytes'] / MIB:,.0f} MiB with its index). `fab backup`'s file (`pg_dump --format=custom"
        f" --compress=0 | zstd -1 -T0`): {fmt_summary((r['size'] / MIB for r in ours_b), 'MiB', 0)}."
        f" Medians (min-max) of {args.runs} runs, alternating which side goes first; ratios are taken pair by pair"
        " (run i against run i).",
        "",
        "| | deploytasks | baseline | ratio deploytasks / baseline |",
        "| --- | --- | --- | --- |",
        f"| backup + download | `fab backup`: {secs(ours_b)} | `ssh pg_dump > file` (its defaults): {secs(base_b)} | {ratio(ours_b, base_b)} |",
        f"| backup + download | `fab backup`: {secs(ours_b)} | same settings by hand, `ssh 'pg_dump --compress=0 | zstd -1 -T0' > file`:"
        f" {secs(same_b)} | {ratio(ours_b, same_b)} |",
        f"| size of the file | {fmt_summary((r['size'] / MIB for r in ours_b), 'MiB', 1)} | `pg_dump` defaults:"
        f" {fmt_summary((r['size'] / MIB for r in base_b), 'MiB', 1)} | {median([a['size'] / b['size'] for a, b in zip(ours_b, base_b)]):.2f}x |",
        f"| restore | `fab restore --yes`: {secs(ours_r)} | `scp` + `ssh 'zstd -dc | pg_restore --clean --if-exists -d'` (the same file): {secs(base_r)} | {ratio(ours_r, base_r)} |",
        f"| peak RSS, backup | fab: {rss(ours_b)} | sh + ssh: {rss(base_b)} | |",
        f"| peak RSS, restore | fab: {rss(ours_r)} | scp (incl. its ssh) / ssh: {rss(base_r)} | |",
        "",
        "Against the goals of issue 11 (medians of the pairwise ratios above):",
        "",
        "| figure | goal | measured | met |",
        "| --- | --- | --- | --- |",
        *goal_rows(ours_b, base_b, same_b, ours_r, base_r),
        "",
        "Checks, every run:",
        "",
        f"- `fab backup`: {sum(r['sha_ok'] for r in ours_b)}/{len(ours_b)} local dumps match their manifest's sha256,"
        f" {sum(r['list_ok'] for r in ours_b)}/{len(ours_b)} pass `pg_restore --list`.",
        f"- `ssh pg_dump > file`: {sum(r['list_ok'] for r in base_b)}/{len(base_b)} pass `pg_restore --list`"
        f" ({fmt_summary((r['size'] / MIB for r in base_b), 'MiB', 0)}).",
        f"- bench_rows holds its {db['rows']:,} rows after {sum(r['rows'] == db['rows'] for r in ours_r)}/{len(ours_r)}"
        f" `fab restore` and {sum(r['rows'] == db['rows'] for r in base_r)}/{len(base_r)} `pg_restore` runs.",
    ]
    left = [r["left_on_server"] for r in ours_r if r["left_on_server"]]
    if left:
        lines.append(f"- {len(left)}/{len(ours_r)} `fab restore` runs left their upload in `<path>/backups/uploaded/`"
                     f" ({fmt_summary((r['size'] / MIB for r in ours_b[-1:]), 'MiB', 0)} each; the benchmark deletes it"
                     " after each run).")
    download = [r["t_downloaded"] - r["t_server_done"] for r in ours_b if r["t_downloaded"] and r["t_server_done"]]
    upload = [r["t_uploaded"] for r in ours_r if r.get("t_uploaded")]
    verify = [r["t_safety_started"] - r["t_uploaded"] for r in ours_r if r.get("t_safety_started") and r.get("t_uploaded")]
    apply = [r["t_restored"] - max(r.get("t_safety_done") or 0, r.get("t_early_done") or 0)
             for r in ours_r if r["t_restored"] and (r.get("t_safety_done") or r.get("t_early_done"))]
    kept = sum(1 for r in ours_r if r.get("early_kept"))
    after = [r["seconds"] - r["t_restored"] for r in ours_r if r["t_restored"]]
    lines += [
        "",
        "Where the time goes (medians; times seen from the command's output and by watching the server's backups/):",
        "",
        "| step | seconds |",
        "| --- | --- |",
        f"| `fab backup`: start, ssh, the project's settings, until pg_dump starts writing | {med(r['t_dump_started'] for r in ours_b)} |",
        f"| `fab backup`: server-side script from the dump's start to its manifest (pg_dump, then pg_restore read +"
        f" zstd, written + hashed + streamed down + read back by pg_restore at once; manifest `seconds`) | {med(r['server_seconds'] for r in ours_b)} |",
        f"| `fab backup`: after the server is done, until the download is reported | {med(download)} |",
        f"| baseline: `ssh pg_dump > file` (all of it) | {med(r['seconds'] for r in base_b)} |",
        f"| `fab restore`: start, lock, upload hashed on arrival, until it is renamed in uploaded/ | {med(upload)} |",
        f"| `fab restore`: Django start-up, pg_restore read of the upload (its migrations in the same read), until the safety dump starts | {med(verify)} |",
        f"| `fab restore`: the early safety dump (started by the lock, while the upload arrives): started / done "
        f"(kept as the safety backup in {kept}/{len(ours_r)} runs) | {med(r.get('t_early_started') for r in ours_r)} / "
        f"{med(r.get('t_early_done') for r in ours_r)} |",
        f"| `fab restore`: the safety backup of the live database (its manifest `seconds`) | {med(r['safety_seconds'] for r in ours_r)} |",
        f"| `fab restore`: restore in one transaction (pg_restore's script straight into psql), until `restored` is printed | {med(apply)} |",
        f"| `fab restore`: after that, until fab exits | {med(after)} |",
        f"| baseline: `scp` upload | {med(r['scp_seconds'] for r in base_r)} |",
        f"| baseline: `ssh 'zstd -dc | pg_restore --clean --if-exists -d'` | {med(r['pg_restore_seconds'] for r in base_r)} |",
    ]
    if parts:
        lines += ["", "The server-side steps timed one by one after the runs (on this machine, page cache warm):", "",
                  "| step | seconds |", "| --- | --- |"]
        lines += [f"| {name} | {value:.2f} |" for name, value in parts.items()]
    lines += [
        "",
        "Where the rest goes: `fab backup` spends its first second or so before pg_dump starts (fab's own Python"
        " start-up, the ssh connection, the server-side Python loading the project's settings, no longer the database"
        " backend) where the bare `ssh` needs about 0.15 s, and its read-back (`zstd -dc | pg_restore"
        " --file=/dev/null`, the check the baseline lacks) takes CPU that pg_dump, the PostgreSQL backend, zstd and"
        " ssh also want on 2 CPUs. `fab restore` replays as fast as the bare pg_restore; the rest is the upload"
        " (hashed on arrival) and the safety dump. The safety dump starts while the upload arrives (the restore's"
        " lock starts it, detached, with the project's settings: about 0.9 s after fab starts) and is kept when no"
        " transaction wrote before the restore's write locks (server/early_safety.py; the row above says in how many"
        " runs); here the upload of 57 MiB over loopback takes about 0.5 s, so the dump, CPU-bound and sharing 2 CPUs"
        " with the upload and the restore command's own start, still ends after it: over a real network, where"
        " the upload takes seconds, the safety dump is hidden behind it. Replaying straight from the upload stream"
        " was left out: the replay must not start before the whole upload is verified (sha256, pg_restore read), or"
        " a damaged upload would be found mid-transaction.",
        "",
        "CPU seconds by process of one run each, before (main) and after this version's changes (the server-side"
        " pg_restore script no longer passes through Python: 270 MiB through a pipe cost about one CPU-second; the"
        " manifest's migrations come from the dump's snapshot; the backup reads the database settings without"
        " importing the backend), polled from /proc during runs on the same 256 MiB database (load average 7-9, so"
        " only the CPU figures compare): `fab backup` server-side Python 1.10 -> 0.39, pg_restore 0.26 -> 0.13, zstd"
        " 1.40 -> 1.18, client Python 0.71 -> 0.60 (now byte-compiled); `fab restore` server-side Python 1.95 -> 0.75,"
        " pg_restore 0.97 -> 0.53; all processes but PostgreSQL's backends 4.3 -> 3.1 (backup) and 7.2 -> 5.0"
        " (restore).",
    ]
    if args.cpu:
        lines += ["", *cpu_rows(ours_b, same_b)]
    lines += [
        "",
        machine_description().rstrip("\n"),
        f"- PostgreSQL server {db['server_version']} on 127.0.0.1:5432; client tools (both sides): {versions}",
        "",
        f"How: `python3 bench/pg_backup_bench.py --runs {args.runs} --size-mib {args.size_mib}`, total {total:.0f} s."
        f" One sshd on {HOST}; the \"server\" is this machine (same disk, same page cache, loopback network), and so"
        " is the PostgreSQL server. A database and a role of its own (`dt_bench_<hex>`, with a password in"
        " `DATABASE_URL`) are created for the run and dropped at the end. `fab backup` runs pg_dump with the"
        " password in a private PGPASSFILE; the baseline connects as the same role without a password, which"
        " PostgreSQL's trust authentication on this machine allows (a real server would need a `.pgpass` or"
        " `PGPASSWORD`). All dump with `--format=custom --no-owner --no-acl`; `fab backup` and the same-settings baseline with `--compress=0` piped through `zstd -1 -T0`. The baselines check nothing;"
        " `fab restore` verifies the upload and takes a safety dump of the live database before replacing it in"
        " one transaction. The checkout's modules are byte-compiled first (`python -m compileall deploytasks`), as"
        " a pip install leaves them: this machine sets PYTHONDONTWRITEBYTECODE, under which fab would compile them"
        " on every start (about 0.2 s). Peak RSS is ru_maxrss from wait4 (the largest of the process and the children it"
        " waited for: `sh` and its `ssh`; scp and its `ssh`; for restore, the larger of scp and ssh). Dumps and"
        " uploads are deleted after each run. Load average (1 min) before the run"
        f" {', '.join(f'{x:.2f}' for x in args.load)}, at the end {os.getloadavg()[0]:.2f}, on"
        f" {len(os.sched_getaffinity(0))} CPUs (another engineer's benchmarks may run on the same machine).",
    ]
    runs = args.runs
    all_ok = (len(ours_b) == len(base_b) == len(same_b) == len(ours_r) == len(base_r) == runs
              and all(r["sha_ok"] and r["list_ok"] for r in ours_b) and all(r["list_ok"] for r in base_b)
              and all(r["rows"] == db["rows"] for r in ours_r + base_r))
    return "\n".join(lines) + "\n", all_ok


# ------------------------------------------------------------------ main
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--size-mib", type=int, default=512)
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/benchmarks.md")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs)")
    parser.add_argument("--cpu", action="store_true",
                        help="also poll /proc during each backup: CPU seconds by process (the polling takes CPU too)")
    args = parser.parse_args(argv)

    def on_term(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_term)
    args.load = wait_for_quiet()
    byte_compile_checkout()
    workdir = Path(tempfile.mkdtemp(prefix="bench-pg-backup-"))
    name, password = "dt_bench_" + secrets.token_hex(6), "pw-" + secrets.token_hex(12)
    versions = subprocess.run(["pg_dump", "--version"], capture_output=True, text=True).stdout.strip()
    started = time.perf_counter()
    server = None
    created = False
    failed = None
    backups: list = []
    restores: list = []
    parts: dict = {}
    db: dict = {}
    try:
        admin(f"CREATE ROLE {name} LOGIN PASSWORD '{password}'")
        created = True
        admin(f"CREATE DATABASE {name} OWNER {name}")
        server = start_server(workdir, host=HOST)
        (workdir / "repo").mkdir()
        bench = PgBench(workdir, server, make_example_repo(workdir / "repo"), args.size_mib, name, password)
        bench.profile_cpu = args.cpu
        print(f"deploying the example project (database {name}) to {bench.path} over ssh://{HOST}:{server.port} …", flush=True)
        bench.deploy()
        print(f"growing bench_rows to {args.size_mib} MiB …", flush=True)
        db = bench.grow()
        print(f"  {db['rows']:,} rows, table {db['table_bytes']:,} bytes, database {db['bytes']:,} bytes"
              f" in {db['seconds']:.1f} s", flush=True)

        for i in range(args.runs):
            run = {}
            order = ("ours", "baseline", "same")
            for side in order[i % 3:] + order[:i % 3]:
                if side == "same":
                    r = run["same"] = bench.backup_baseline(same_settings=True)
                    print(f"run {i + 1} backup by hand, same settings: {r['seconds']:.2f} s, dump {r['size']:,} bytes,"
                          f" --list {'ok' if r['list_ok'] else 'FAILED'}", flush=True)
                elif side == "ours":
                    r = run["ours"] = bench.backup_ours()
                    print(f"run {i + 1} backup ours: {r['seconds']:.2f} s, {mib(r['maxrss_kib']):.0f} MiB RSS, dump"
                          f" {r['size']:,} bytes, started at {fmt_t(r['t_dump_started'])}, server done at"
                          f" {fmt_t(r['t_server_done'])} (script {r['server_seconds']} s), downloaded at"
                          f" {fmt_t(r['t_downloaded'])} s; sha {'ok' if r['sha_ok'] else 'MISMATCH'},"
                          f" --list {'ok' if r['list_ok'] else 'FAILED'}", flush=True)
                    if i == args.runs - 1:  # the last copy (+ manifest) is the file to restore
                        bench.restore_source.mkdir()
                        for p in (Path(r["file"]), Path(r["file"] + ".json")):
                            shutil.move(p, bench.restore_source / p.name)
                        run["restore_file"] = str(bench.restore_source / Path(r["file"]).name)
                    bench.clean_local_backups()
                else:
                    r = run["baseline"] = bench.backup_baseline()
                    print(f"run {i + 1} backup baseline: {r['seconds']:.2f} s, {mib(r['maxrss_kib']):.0f} MiB RSS,"
                          f" dump {r['size']:,} bytes, --list {'ok' if r['list_ok'] else 'FAILED'}", flush=True)
                bench.clean_server_backups()
            backups.append(run)

        source = Path(backups[-1]["restore_file"])
        for i in range(args.runs):
            run = {}
            for side in ("ours", "baseline") if i % 2 == 0 else ("baseline", "ours"):
                if side == "ours":
                    r = run["ours"] = bench.restore_ours(source)
                    print(f"run {i + 1} restore ours: {r['seconds']:.2f} s, {mib(r['maxrss_kib']):.0f} MiB RSS,"
                          f" uploaded at {fmt_t(r.get('t_uploaded'))}, safety dump {fmt_t(r.get('t_safety_started'))}"
                          f"-{fmt_t(r.get('t_safety_done'))}, restored at {fmt_t(r['t_restored'])} s; rows"
                          f" {r['rows']}; left on the server: {r['left_on_server'] or 'nothing'}", flush=True)
                else:
                    r = run["baseline"] = bench.restore_baseline(source)
                    print(f"run {i + 1} restore baseline: {r['seconds']:.2f} s (scp {r['scp_seconds']:.2f} +"
                          f" pg_restore {r['pg_restore_seconds']:.2f}), {mib(r['maxrss_kib']):.0f} MiB RSS; rows"
                          f" {r['rows']}", flush=True)
                bench.clean_server_backups()
            restores.append(run)

        print("timing the server-side steps one by one …", flush=True)
        parts = bench.server_side_parts()
    except BaseException as exc:  # noqa: BLE001 - report, clean up, exit 1
        failed = f"{type(exc).__name__}: {exc}"
        print(f"FAILED: {failed}", flush=True)
    finally:
        if server is not None:
            server.stop()
        if created:  # only what this run created
            admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            admin(f"DROP ROLE IF EXISTS {name}")
        if args.keep or failed is not None:
            print(f"kept {workdir} (logs in {workdir / 'logs'})")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    total = time.perf_counter() - started
    if not backups or not {"baseline", "ours", "same"} <= set(backups[0]):
        return 1
    text, all_ok = report(args, db, backups, restores, parts, versions, total)
    if failed:
        text += f"\nThe run FAILED before the end: {failed.splitlines()[0][:300]}\n"
    print()
    print(text)
    if not args.no_write:
        print(f"written to {write_results(SECTION, text)}")
    return 0 if (failed is None and all_ok) else 1


if __name__ == "__main__":
    sys.exit(main())
