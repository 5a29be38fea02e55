#!/usr/bin/env python3
"""`fab backup` of a MariaDB-backed deploy against `ssh host 'mysqldump … | gzip' > file` by hand.

    python3 bench/mysql_backup_bench.py --runs 5                         # 256 MiB of table data
    python3 bench/mysql_backup_bench.py --runs 3 --checkout /tmp/before  # and an earlier checkout's fab beside it

One sshd on 127.0.0.112 plays the server; MariaDB is the one on 127.0.0.1:3306 (root without a password), where
the bench creates a database and a user of its own (`dt_bench_<hex>`, with a password) and drops both at the end.
The example project gets PyMySQL in a commit, is deployed once (`fab setup`, `fab deploy`), and its database is
grown to --size-mib of realistic rows (a title and a body of words, numbers, a timestamp, a JSON document). Then,
`runs` times each, in turn:

* `fab backup` of each checkout (this one, and every --checkout: its deploytasks first on PYTHONPATH, so its
  server code is what runs on the server): dump, verify, manifest, download. Checked: the local copy's sha256
  against its manifest, and that it decompresses to a whole dump ("Dump completed");
* by hand, what a checklist says: `ssh testhost 'mysqldump --single-transaction --quick … db | gzip' > file`;
* by hand with the settings `fab backup` uses now: `… | zstd -1 -T0' > file`.

Wall time and peak RSS (ru_maxrss from wait4) per command, ratios pair by pair. Results: section "Backup of a
MySQL/MariaDB database" of docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from backup_bench import MIB, fmt_t, mib, ratio_cell, run_measured, sha256_file  # noqa: E402
from harness import (ROOT, _commit_change, byte_compile_checkout, fmt_summary, git, machine_description,  # noqa: E402
                     make_example_repo, median, start_server, write_results)
from pg_backup_bench import WORDS  # noqa: E402

HOST = "127.0.0.112"
ALIAS = "testhost"
SECTION = "Backup of a MySQL/MariaDB database"
MYSQL = shutil.which("mariadb") or shutil.which("mysql")
DUMP_OPTIONS = "--single-transaction --quick --no-tablespaces --hex-blob --triggers"
SHIM = "import pymysql\n\npymysql.install_as_MySQLdb()\n"


def root(sql: str, database: str | None = None, stdin: str | None = None) -> str:
    argv = [MYSQL, "--protocol=TCP", "-h", "127.0.0.1", "-P", "3306", "-u", "root", "-N", "-B", "--local-infile=1"]
    done = subprocess.run(argv + ["-e", sql] + ([database] if database else []), capture_output=True, text=True,
                          input=stdin, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{sql[:80]}: {done.stderr.strip()}")
    return done.stdout.strip()


def whole_dump(path: Path) -> bool:
    """The file decompresses (zstd or gzip, by its magic) to a dump ending in mysqldump's completion line."""
    with open(path, "rb") as handle:
        zstd = handle.read(4) == b"\x28\xb5\x2f\xfd"
    command = f"{'zstd' if zstd else 'gzip'} -dc {shlex.quote(str(path))} | tail -c 200 | grep -q 'Dump completed'"
    return subprocess.run(["bash", "-c", command]).returncode == 0


class Bench:
    def __init__(self, workdir: Path, server, repo: Path, size_mib: int):
        self.workdir, self.server, self.repo, self.size_mib = workdir, server, repo, size_mib
        self.path = workdir / "server" / "app"
        self.project = workdir / "project"
        self.logs = workdir / "logs"
        self.logs.mkdir(parents=True)
        self.name = "dt_bench_" + secrets.token_hex(4)
        self.password = "pw-" + secrets.token_hex(12)
        self.seq = 0

    def log(self, label: str) -> Path:
        self.seq += 1
        return self.logs / f"{self.seq:03d}-{label}.log"

    def fab(self, *args: str, label: str, checkout: Path = ROOT):
        previous = os.environ.get("PYTHONPATH")
        os.environ["PYTHONPATH"] = str(checkout)
        try:
            return run_measured([sys.executable, "-m", "fabric", "-S", str(self.server.ssh_config), "-H", ALIAS, *args],
                                self.log(label), cwd=self.project)
        finally:
            if previous is None:
                os.environ.pop("PYTHONPATH")
            else:
                os.environ["PYTHONPATH"] = previous

    def ssh_into(self, command: str, target: Path, label: str):
        return run_measured(["bash", "-c", f"ssh -F {shlex.quote(str(self.server.ssh_config))} {ALIAS} "
                                           f"{shlex.quote(command)} > {shlex.quote(str(target))}"], self.log(label))

    def create_database(self) -> None:
        root(f"CREATE DATABASE `{self.name}` CHARACTER SET utf8mb4")
        root(f"CREATE USER '{self.name}'@'%' IDENTIFIED BY '{self.password}'")
        root(f"GRANT ALL ON `{self.name}`.* TO '{self.name}'@'%'")

    def drop_database(self) -> None:
        root(f"DROP DATABASE IF EXISTS `{self.name}`")
        root(f"DROP USER IF EXISTS '{self.name}'@'%'")

    def deploy(self) -> None:
        def add_pymysql(work: Path) -> str:
            with open(work / "requirements.txt", "a") as handle:
                handle.write("PyMySQL\n")
            (work / "mysite" / "__init__.py").write_text(SHIM)
            return "MariaDB through PyMySQL"

        _commit_change(self.repo, add_pymysql)
        self.project.mkdir(parents=True)
        (self.project / "fabfile.py").write_text("from deploytasks.remote import ns\n")
        production = self.project / "deploy" / ALIAS / ".env"
        production.parent.mkdir(parents=True)
        production.write_text(f"DATABASE_URL=mysql://{self.name}:{self.password}@127.0.0.1:3306/{self.name}\n"
                              "SECRET_KEY=bench-mysql-backup\nDEBUG=false\nALLOWED_HOSTS=localhost\n")
        (self.project / "fabric.yaml").write_text(f"deploytasks:\n  path: {self.path}\n  repo: {self.repo}\n")
        for task in ("setup", "deploy"):
            done = self.fab(task, label=task)
            if done.returncode != 0:
                raise RuntimeError(f"fab {task} failed:\n{done.tail()}")
        self.clean()

    def grow(self) -> dict:
        """bench_rows loaded from TSV files of realistic rows (LOAD DATA) until the table is --size-mib."""
        rng = random.Random(11)
        sentences = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 16))) for _ in range(4000)]
        root("CREATE TABLE bench_rows (id INT PRIMARY KEY AUTO_INCREMENT, title VARCHAR(200), body TEXT, "
             "amount DECIMAL(12,2), quantity INT, created DATETIME, doc JSON)", self.name)
        started, rows, size = time.perf_counter(), 0, 0
        batch = self.workdir / "rows.tsv"
        while size < self.size_mib * MIB:
            with open(batch, "w") as handle:
                for _ in range(20000):
                    doc = {"sku": f"SKU-{rng.randrange(10**6):06d}", "tags": rng.sample(WORDS, 3),
                           "price": round(rng.uniform(1, 500), 2), "lines": rng.randint(1, 9)}
                    handle.write(f"order {rows} {rng.choice(sentences)[:40]}\t{' '.join(rng.sample(sentences, 5))}\t"
                                 f"{rng.uniform(0, 10000):.2f}\t{rng.randrange(1000)}\t2026-{rng.randint(1, 12):02d}-"
                                 f"{rng.randint(1, 28):02d} 12:00:00\t{json.dumps(doc)}\n")
                    rows += 1
            root(f"LOAD DATA LOCAL INFILE '{batch}' INTO TABLE bench_rows "
                 "(title, body, amount, quantity, created, doc)", self.name)
            root("ANALYZE TABLE bench_rows", self.name)
            size = int(root("SELECT data_length + index_length FROM information_schema.tables WHERE table_schema = "
                            f"'{self.name}' AND table_name = 'bench_rows'"))
        batch.unlink()
        return {"rows": rows, "bytes": size, "seconds": time.perf_counter() - started,
                "server_version": root("SELECT VERSION()")}

    def clean(self) -> None:
        for entry in (self.path / "backups").rglob("*"):
            if entry.is_file():
                entry.unlink()
        shutil.rmtree(self.project / "backups", ignore_errors=True)

    def backup_ours(self, checkout: Path, label: str) -> dict:
        done = self.fab("backup", "--json", label=f"backup-{label}", checkout=checkout)
        if done.returncode != 0:
            raise RuntimeError(f"fab backup ({label}) failed:\n{done.tail()}")
        [manifest_file] = (self.project / "backups" / ALIAS).glob("*.json")
        manifest = json.loads(manifest_file.read_text())
        local = Path(str(manifest_file)[:-len(".json")])
        result = {"seconds": done.seconds, "rss": done.maxrss_kib, "size": local.stat().st_size,
                  "sha_ok": sha256_file(local) == manifest["sha256"], "whole": whole_dump(local),
                  "server_seconds": manifest.get("seconds"), "compression": manifest.get("compression", "?")}
        self.clean()
        return result

    def backup_by_hand(self, compressor: str, label: str) -> dict:
        target = self.workdir / f"by-hand-{label}.sql"
        done = self.ssh_into(f"mysqldump -uroot -h127.0.0.1 {DUMP_OPTIONS} {self.name} | {compressor}", target, label)
        if done.returncode != 0:
            raise RuntimeError(f"by hand ({label}) failed:\n{done.tail()}")
        result = {"seconds": done.seconds, "rss": done.maxrss_kib, "size": target.stat().st_size,
                  "whole": whole_dump(target)}
        target.unlink()
        return result


def checkout_label(path: Path) -> str:
    sha = git("rev-parse", "--short", "HEAD", cwd=path, check=False).strip() or "?"
    dirty = git("status", "--porcelain", "--untracked-files=no", cwd=path, check=False).strip()
    return f"{sha}{' + changes' if dirty else ''}"


def report(args, db, checkouts, ours, gzip_rows, zstd_rows, total) -> str:
    lines = [f"Database: {db['bytes'] / MIB:,.0f} MiB of InnoDB table data and index (`bench_rows`: {db['rows']:,} "
             f"realistic rows: a title and a body of words, numbers, a timestamp, a JSON document), MariaDB "
             f"{db['server_version']}. Medians (min-max) of {args.runs} runs; ratios pair by pair.", "",
             "| | seconds | file | peak RSS | vs `mysqldump \\| gzip` by hand | vs the same settings by hand |",
             "| --- | --- | --- | --- | --- | --- |"]
    hand_gzip = [r["seconds"] for r in gzip_rows]
    hand_zstd = [r["seconds"] for r in zstd_rows]
    for checkout in checkouts:
        rows = ours[str(checkout)]
        times = [r["seconds"] for r in rows]
        size, rss = median([r['size'] for r in rows]) / MIB, mib(median([r['rss'] for r in rows]))
        lines.append(f"| `fab backup` ({checkout_label(checkout)}; {rows[0]['compression']}) | {fmt_summary(times)} | "
                     f"{size:.1f} MiB | {rss:.0f} MiB | "
                     f"{ratio_cell(list(zip(times, hand_gzip)))} | "
                     f"{ratio_cell(list(zip(times, hand_zstd)))} |")
    for label, rows in (("`ssh host 'mysqldump … \\| gzip' > file` (a checklist's default, gzip -6)", gzip_rows),
                        ("`ssh host 'mysqldump … \\| zstd -1 -T0' > file`", zstd_rows)):
        size, rss = median([r['size'] for r in rows]) / MIB, mib(median([r['rss'] for r in rows]))
        lines.append(f"| {label} | {fmt_summary([r['seconds'] for r in rows])} | {size:.1f} MiB | {rss:.0f} MiB | | |")
    checks = []
    for checkout in checkouts:
        rows = ours[str(checkout)]
        checks.append(f"`fab backup` ({checkout_label(checkout)}): {sum(r['sha_ok'] for r in rows)}/{len(rows)} local "
                      f"copies match their manifest's sha256, {sum(r['whole'] for r in rows)}/{len(rows)} decompress "
                      f"to a whole dump; the server side's manifest `seconds`: "
                      f"{fmt_summary([r['server_seconds'] for r in rows])}")
    checks.append(f"by hand: {sum(r['whole'] for r in gzip_rows + zstd_rows)}/{len(gzip_rows + zstd_rows)} whole dumps")
    lines += ["", *[f"- {line}" for line in checks], "",
              machine_description(),
              f"- How: `python3 bench/mysql_backup_bench.py --runs {args.runs} --size-mib {args.size_mib}"
              + "".join(f" --checkout {c}" for c in args.checkout) + f"`, total {total:.0f} s, "
              f"{time.strftime('%Y-%m-%d')}. One sshd on {HOST} (the \"server\" is this machine: same disk, loopback "
              "network), MariaDB on 127.0.0.1:3306; the by-hand dumps run as root without a password (this "
              "machine's MariaDB allows it), `fab backup` as the project's user with the password in a private "
              "options file. Each local copy and server backup is deleted after its run."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--checkout", action="append", default=[], help="another checkout whose fab runs too")
    parser.add_argument("--no-write", action="store_true", help="print the results, leave docs/benchmarks.md alone")
    args = parser.parse_args(argv)
    if not MYSQL:
        print("needs the MariaDB/MySQL client tools and a server on 127.0.0.1:3306", file=sys.stderr)
        return 2
    checkouts = [ROOT] + [Path(c).resolve() for c in args.checkout]
    byte_compile_checkout()
    for checkout in checkouts[1:]:
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(checkout / "deploytasks")], check=True)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="dt-mysql-bench-") as tmp:
        workdir = Path(tmp)
        server = start_server(workdir, HOST)
        bench = Bench(workdir, server, make_example_repo(workdir), args.size_mib)
        bench.create_database()
        try:
            bench.deploy()
            db = bench.grow()
            print(f"grown: {db['bytes'] / MIB:.0f} MiB, {db['rows']:,} rows in {db['seconds']:.0f} s", flush=True)
            ours = {str(c): [] for c in checkouts}
            gzip_rows, zstd_rows = [], []
            for run in range(args.runs):
                order = checkouts if run % 2 == 0 else checkouts[::-1]
                for checkout in order:
                    ours[str(checkout)].append(bench.backup_ours(checkout, checkout_label(checkout)))
                gzip_rows.append(bench.backup_by_hand("gzip", "gzip"))
                zstd_rows.append(bench.backup_by_hand("zstd -q -1 -T0", "zstd"))
                print(f"run {run + 1}: " + ", ".join(f"{checkout_label(c)} {fmt_t(ours[str(c)][-1]['seconds'])}"
                                                     for c in checkouts)
                      + f", gzip by hand {fmt_t(gzip_rows[-1]['seconds'])}, "
                      f"zstd by hand {fmt_t(zstd_rows[-1]['seconds'])}",
                      flush=True)
        finally:
            bench.drop_database()
            server.stop()
    text = report(args, db, checkouts, ours, gzip_rows, zstd_rows, time.perf_counter() - started)
    print(text)
    if not args.no_write:
        write_results(SECTION, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
