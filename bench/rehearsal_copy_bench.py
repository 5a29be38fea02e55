#!/usr/bin/env python3
"""What a deploy with pending migrations pays on PostgreSQL before it rehearses them: the pre-deploy dump and the
scratch copy of the database restored from it. Before session 25 the copy was restored from the dump's file once
the dump was done; now the pg_restore that reads the dump back as it is made restores it into the copy.

    python3 bench/rehearsal_copy_bench.py --runs 5 --size-mib 256
    python3 bench/rehearsal_copy_bench.py --runs 5 --size-mib 256 --engine mariadb

A database of its own (`dt_rcbench_<hex>`) grown to the size with rows as an app's tables hold them (a title and a
body of words, numbers, a timestamp, a JSON document; a primary key and two indexes), then per run, alternating
which goes first, with deploytasks' own PostgreSQL engine in this process (Django configured for that database):
*before*: `engine.backup` then `engine.copy_for_rehearsal` (restored from the file); *now*:
`engine.backup_for_rehearsal` then `engine.copy_for_rehearsal` (the copy made during the dump). Each copy is
checked to hold every row, then dropped; the dumps are deleted. Medians (min-max); ratios pair by pair. Needs
the PostgreSQL server on 127.0.0.1:5432 with trust for `postgres`, its client tools, zstd, and psycopg for this
Python; `--engine mariadb`: MariaDB on 127.0.0.1:3306 (root, no password), its `mysqldump`/`mysql` and PyMySQL
for this Python (MariaDB's copy is replayed by a `mysql` client fed the dump as it is made). Results: section
"Pre-deploy dump and rehearsal copy (<engine>)" of docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness import closing_lines, fmt_summary, publish  # noqa: E402

SECTION = "Pre-deploy dump and rehearsal copy (%s)"
ROW_BYTES = 760  # about what one row below takes with its indexes
FILL = """
CREATE TABLE bench_rows AS
SELECT g AS id,
       'Title ' || g || ' ' || md5(g::text) AS title,
       repeat('lorem ipsum dolor sit amet ' || (g %% 1000) || ' ', 12) || md5((g * 7)::text) AS body,
       (g * 37) %% 100000 AS amount,
       now() - g * interval '1 minute' AS created,
       jsonb_build_object('id', g, 'tags', jsonb_build_array('a' || (g %% 13), 'b' || (g %% 7)), 'score', g %% 97) AS doc
FROM generate_series(1, %d) g;
ALTER TABLE bench_rows ADD PRIMARY KEY (id);
CREATE INDEX ON bench_rows (created);
CREATE INDEX ON bench_rows (amount);
"""


MARIADB_FILL = """
CREATE TABLE bench_rows (id INT PRIMARY KEY, title VARCHAR(200), body TEXT, amount INT, created DATETIME, doc JSON)
  ENGINE=InnoDB;
INSERT INTO bench_rows SELECT seq, CONCAT('Title ', seq, ' ', MD5(seq)),
  CONCAT(REPEAT(CONCAT('lorem ipsum dolor sit amet ', seq %% 1000, ' '), 12), MD5(seq * 7)), (seq * 37) %% 100000,
  NOW() - INTERVAL seq MINUTE, JSON_OBJECT('id', seq, 'tags', JSON_ARRAY(CONCAT('a', seq %% 13)), 'score', seq %% 97)
  FROM seq_1_to_%d;
CREATE INDEX bench_created ON bench_rows (created);
CREATE INDEX bench_amount ON bench_rows (amount);
"""


def mariadb(sql, database=None):
    import pymysql

    connection = pymysql.connect(host="127.0.0.1", user="root", database=database, autocommit=True)
    try:
        with connection.cursor() as cursor:
            for statement in [part for part in sql.split(";") if part.strip()]:
                cursor.execute(statement)
            return cursor.fetchall()
    finally:
        connection.close()


def admin(sql, dbname="postgres"):
    import psycopg

    with psycopg.connect(host="127.0.0.1", user="postgres", dbname=dbname, autocommit=True) as connection:
        return connection.execute(sql).fetchall() if sql.lstrip().upper().startswith("SELECT") else connection.execute(sql)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--engine", choices=["postgresql", "mariadb"], default="postgresql")
    parser.add_argument("--no-write", action="store_true", help="print the results, leave docs/benchmarks.md")
    args = parser.parse_args()
    maria = args.engine == "mariadb"
    name = "dt_rcbench_" + secrets.token_hex(4)
    rows = args.size_mib * (1 << 20) // ROW_BYTES
    load = os.getloadavg()[0]
    started = time.perf_counter()
    if maria:
        import pymysql

        pymysql.install_as_MySQLdb()
        mariadb(f"CREATE DATABASE {name}")
        count = lambda database: mariadb("SELECT count(*) FROM bench_rows", database)[0][0]  # noqa: E731
        database = {"ENGINE": "django.db.backends.mysql", "USER": "root", "HOST": "127.0.0.1", "PORT": "3306"}
    else:
        admin(f"CREATE DATABASE {name}")
        count = lambda database: admin("SELECT count(*) FROM bench_rows", dbname=database)[0][0]  # noqa: E731
        database = {"ENGINE": "django.db.backends.postgresql", "USER": "postgres", "HOST": "127.0.0.1", "PORT": "5432"}
    try:
        if maria:
            mariadb(MARIADB_FILL % rows, name)
            size = mariadb(f"SELECT SUM(data_length + index_length) FROM information_schema.tables "
                           f"WHERE table_schema = '{name}'")[0][0]
        else:
            admin(FILL % rows, dbname=name)
            size = admin(f"SELECT pg_database_size('{name}')")[0][0]
        import django
        from django.conf import settings

        settings.configure(DATABASES={"default": dict(database, NAME=name)})
        django.setup()
        from deploytasks.server.django_info import engine_for_alias

        _database, engine = engine_for_alias("default")
        times = {"before": [], "now": []}
        with tempfile.TemporaryDirectory(prefix="bench-rehearsal-copy-") as dest:
            for run in range(args.runs):
                for side in (["before", "now"] if run % 2 == 0 else ["now", "before"]):
                    params = {"label": "pre-deploy", "version": "bench", "host": "bench"}
                    start = time.perf_counter()
                    backup = engine.backup_for_rehearsal if side == "now" else engine.backup
                    manifest = backup(dest, params, {"reason": "bench"})
                    copy = engine.copy_for_rehearsal(manifest["path"])
                    times[side].append(time.perf_counter() - start)
                    made_during = engine.copied_while_dumping
                    engine.copied_while_dumping = False
                    counted = count(copy["NAME"])
                    engine.drop_copy(copy)
                    if counted != rows or made_during != (side == "now"):
                        sys.exit(f"{side}: the copy holds {counted} of {rows} rows (made during the dump: {made_during})")
                    for leftover in os.listdir(dest):
                        if not leftover.startswith("."):
                            os.unlink(os.path.join(dest, leftover))
                    print(f"{side}: {times[side][-1]:.2f} s", flush=True)
            dump_size = manifest["size"]
    finally:
        if maria:
            mariadb(f"DROP DATABASE IF EXISTS {name}")
        else:
            admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    total = time.perf_counter() - started
    before, now = times["before"], times["now"]
    lines = [
        f"`python3 bench/rehearsal_copy_bench.py --runs {args.runs} --size-mib {args.size_mib}"
        f"{' --engine mariadb' if maria else ''}`: a database of {size / (1 << 20):.0f} MiB"
        f" ({'tables and indexes' if maria else '`pg_database_size`'}; {rows:,} rows of text, numbers, a timestamp"
        f" and JSON, three indexes; the dump {dump_size / (1 << 20):.1f} MiB), deploytasks' own"
        f" {'MariaDB' if maria else 'PostgreSQL'} engine in one process. Each run: the pre-deploy dump and the"
        " scratch copy the migrations are rehearsed on, until the copy is ready. *Before*: the copy restored from"
        " the dump's file once the dump is done (`engine.backup`, then `copy_for_rehearsal`); *now*: restored as the"
        f" dump is made ({'a `mysql` client fed the dump as it comes' if maria else 'by the pg_restore that reads it back'};"
        " `engine.backup_for_rehearsal`). Medians (min-max); the ratio pair by pair.",
        "",
        "| before: dump, then the copy from the file | now: the copy restored as the dump is made | now / before |",
        "| --- | --- | --- |",
        f"| {fmt_summary(before)} | {fmt_summary(now)} | "
        f"{statistics.median(n / b for n, b in zip(now, before)):.2f}x |",
        "",
        f"Every copy held all {rows:,} rows.",
    ] + closing_lines(load, total)
    publish(SECTION % ("MariaDB" if maria else "PostgreSQL"), "\n".join(lines) + "\n", write=not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
