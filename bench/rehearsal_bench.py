#!/usr/bin/env python3
"""What a rehearsal on a copy costs on PostgreSQL: the copy restored from the pre-deploy dump (what deploys
do, because the live site is connected) against CREATE DATABASE … TEMPLATE (only possible when nobody is
connected to the live database); and on MariaDB, the dump replayed into a scratch schema.

    python3 bench/rehearsal_bench.py --runs 3 --size-mib 64 256

A database of its own per engine (`dt_rbench_<hex>`) grown to each size with `bench_rows(id, payload bytea /
blob, note text)` rows (1536 random bytes each), dumped the way the pre-deploy backup dumps (pg_dump -Fc
--compress=1; mysqldump --single-transaction | gzip -1), then per run: make the copy, drop it. The copy is made
with the same client calls as deploytasks/server/engines/scratch.py. Everything made is dropped at the end.
Medians (min-max) of wall time; the dump's own time is shown too (a deploy pays it anyway, for its backup).
"""
from __future__ import annotations

import argparse
import os
import secrets
import shutil
import statistics
import subprocess
import tempfile
import time

PG = ["--host=127.0.0.1", "--port=5432", "--username=postgres", "--no-password"]
MY = ["--protocol=TCP", "--host=127.0.0.1", "--port=3306", "--user=root"]
ROW = 1536


def sh(argv, **kwargs):
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, **kwargs)


def psql(sql, db="postgres"):
    sh(["psql", "--quiet", "--set=ON_ERROR_STOP=1", *PG, "--dbname=" + db, "-c", sql])


def mysql(sql, db=None):
    sh([shutil.which("mysql") or "mariadb", *MY, "-e", sql] + ([db] if db else []))


def timed(action):
    started = time.monotonic()
    action()
    return time.monotonic() - started


def summary(values):
    return "%.2f s (%.2f-%.2f)" % (statistics.median(values), min(values), max(values))


def postgres(size, runs, workdir):
    name = "dt_rbench_" + secrets.token_hex(4)
    rows = size * (1 << 20) // ROW
    psql(f"CREATE DATABASE {name}")
    try:
        psql("CREATE TABLE bench_rows (id serial PRIMARY KEY, payload bytea, note text); "
             f"INSERT INTO bench_rows (payload, note) SELECT decode(string_agg(lpad(to_hex((random()*255)::int), 2, '0'), ''), 'hex'), "
             f"'row ' || g FROM generate_series(1, {rows}) g, generate_series(1, {ROW}) b GROUP BY g", db=name)
        dump = os.path.join(workdir, name + ".dump")
        dump_time = timed(lambda: sh(["pg_dump", "--format=custom", "--no-owner", "--no-acl", "--compress=1",
                                      "--file=" + dump, *PG, "--dbname=" + name]))
        restore, template = [], []
        for run in range(runs):
            copy = f"{name}_deploytasks_rehearsal_{run}"

            def from_dump():
                psql(f"CREATE DATABASE {copy}")
                sh(["pg_restore", "--no-owner", "--no-acl", "--exit-on-error", "--single-transaction", *PG,
                    "--dbname=" + copy, dump])

            def from_template():
                psql(f"CREATE DATABASE {copy} TEMPLATE {name}")

            for measure, values in ((from_dump, restore), (from_template, template))[::1 if run % 2 == 0 else -1]:
                values.append(timed(measure))
                psql(f"DROP DATABASE {copy}")
        return {"dump": dump_time, "dump_mib": os.path.getsize(dump) / (1 << 20), "restore": restore,
                "template": template}
    finally:
        psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def mariadb(size, runs, workdir):
    name = "dt_rbench_" + secrets.token_hex(4)
    rows = size * (1 << 20) // ROW
    mysql(f"CREATE DATABASE {name}")
    try:
        mysql("CREATE TABLE bench_rows (id int AUTO_INCREMENT PRIMARY KEY, payload blob, note text) ENGINE=InnoDB", name)
        payload = "CONCAT(%s)" % ", ".join(["UNHEX(MD5(RAND()))"] * (ROW // 16))
        mysql("SET SESSION max_recursive_iterations = 100000000; "
              f"INSERT INTO bench_rows (payload, note) WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g "
              f"WHERE n < {rows}) SELECT {payload}, CONCAT('row ', n) FROM g", name)
        dump = os.path.join(workdir, name + ".sql.gz")
        dumper = shutil.which("mysqldump") or "mariadb-dump"
        dump_time = timed(lambda: sh(["sh", "-c", f'"$0" "$@" | gzip -1 > {dump}', dumper, *MY, "--single-transaction",
                                      "--quick", "--no-tablespaces", "--hex-blob", "--triggers", "--", name]))
        loads = []
        for run in range(runs):
            copy = f"{name}_deploytasks_rehearsal_{run}"

            def from_dump():
                mysql(f"CREATE DATABASE {copy}")
                sh(["sh", "-c", f'gunzip -c {dump} | "$0" "$@"', shutil.which("mysql") or "mariadb", *MY,
                    "--batch", "--silent", "--database=" + copy])

            loads.append(timed(from_dump))
            mysql(f"DROP DATABASE {copy}")
        return {"dump": dump_time, "dump_mib": os.path.getsize(dump) / (1 << 20), "restore": loads}
    finally:
        mysql(f"DROP DATABASE IF EXISTS {name}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--size-mib", type=int, nargs="+", default=[64])
    args = parser.parse_args()
    print("| engine | data | pre-deploy dump (paid anyway) | copy from the dump | CREATE DATABASE … TEMPLATE |")
    print("| --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory(prefix="rehearsal-bench-") as workdir:
        for size in args.size_mib:
            pg = postgres(size, args.runs, workdir)
            print(f"| PostgreSQL | {size} MiB | {pg['dump']:.2f} s ({pg['dump_mib']:.0f} MiB file) | {summary(pg['restore'])} "
                  f"| {summary(pg['template'])} |", flush=True)
            my = mariadb(size, args.runs, workdir)
            print(f"| MariaDB | {size} MiB | {my['dump']:.2f} s ({my['dump_mib']:.0f} MiB file) | {summary(my['restore'])} "
                  f"| not available |", flush=True)
    print(f"\nruns={args.runs}; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
