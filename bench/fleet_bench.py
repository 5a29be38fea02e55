#!/usr/bin/env python3
"""A deploy to several hosts against the one-host deploy, in one run: code-change redeploys to 1, 4 (and 8)
hosts, each host a real sshd on its own loopback address with its own deploy path and gunicorn, one shared
SQLite database. Reports wall time (and its ratio to the one-host deploy), SSH sessions per host, failed
requests during the deploy (a poller per host), and the time between the first and the last host switching.

    .tooling/bin/python bench/fleet_bench.py --runs 3 --hosts 1 --hosts 4 --hosts 8

Results go to the "Several servers: fab -H a,b,c deploy" section of docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from harness import write_results  # noqa: E402
from tests.remote._fleet import make_fleet  # noqa: E402
from tests.remote.faults import Poller  # noqa: E402

ADDRESSES = [f"127.0.0.{n}" for n in (81, 82, 83, 85, 86, 87, 88, 89)]


def measure(count, runs, base):
    """[(seconds, sessions per host, failed requests, requests, switch spread)] of `runs` code-change redeploys."""
    samples = []
    with ExitStack() as stack:
        fleet = make_fleet(base / f"hosts-{count}", ADDRESSES[:count], stack)
        stack.callback(fleet.stop)
        for name in fleet.hosts:
            fleet.fab(name, "setup").ok()
        fleet.fab(fleet.names(), "deploy").ok()
        fleet.serve()
        for _ in range(runs):
            fleet.repo.code_change()
            sessions = {name: host.sshd.session_count() for name, host in fleet.hosts.items()}
            with ExitStack() as polling:
                pollers = [polling.enter_context(Poller(host.gunicorn.url)) for host in fleet.hosts.values()]
                started = time.perf_counter()
                args = ("deploy", "--json") if count > 1 else ("deploy",)
                run = fleet.fab(fleet.names(), *args).ok()
                seconds = time.perf_counter() - started
            spread = run.json()["switch_spread_seconds"] if count > 1 else 0.0
            per_host = max(host.sshd.session_count() - sessions[name] for name, host in fleet.hosts.items())
            samples.append((seconds, per_host, sum(p.failed for p in pollers), sum(p.ok + p.failed for p in pollers),
                            spread))
            reasons = {}
            for poller in pollers:
                for reason, n in poller.reasons.items():
                    reasons[reason] = reasons.get(reason, 0) + n
            print(f"{count} host(s): {seconds:.1f}s, {per_host} sessions/host, "
                  f"{samples[-1][2]}/{samples[-1][3]} failed requests {reasons or ''}, switch spread {spread:.3f}s",
                  flush=True)
    return samples


def spread_of(values, digits=2, unit="s"):
    values = list(values)
    middle = statistics.median(values)
    unit = f" {unit}" if unit else ""
    return f"{middle:.{digits}f}{unit} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--hosts", type=int, action="append", choices=range(1, len(ADDRESSES) + 1))
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    counts = sorted(set(args.hosts or [1, 4]))
    began = time.perf_counter()
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as base:
        for count in counts:
            results[count] = measure(count, args.runs, Path(base))
    one = results.get(1)
    lines = ["| hosts | code-change redeploy | vs 1 host (run by run) | SSH sessions per host | failed requests | "
             "first → last switch |", "| --- | --- | --- | --- | --- | --- |"]
    for count, samples in results.items():
        ratio = "-"
        if one and count != 1:
            ratios = [a[0] / b[0] for a, b in zip(samples, one)]
            ratio = f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})"
        lines.append(f"| {count} | {spread_of(s[0] for s in samples)} | {ratio} | "
                     f"{spread_of((s[1] for s in samples), 0, '')} | {sum(s[2] for s in samples)} of "
                     f"{sum(s[3] for s in samples)} | "
                     + (spread_of((s[4] for s in samples), 3) if count > 1 else "-") + " |")
    table = "\n".join(lines) + "\n"
    print(table)
    if not args.no_write:
        notes = (
            f"\nHow: `.tooling/bin/python bench/fleet_bench.py --runs {args.runs} "
            + " ".join(f"--hosts {n}" for n in counts)
            + f"` (total {time.perf_counter() - began:.0f} s). Every host is an sshd on its own loopback address with its"
            " own deploy path and gunicorn (1 worker), all on this 2-core machine, sharing one SQLite file. 1 host ="
            " `fab -H web1 deploy` (the single-host deploy, supervised on the server); N hosts = `fab -H web1,…,webN"
            " deploy` (stage all at once, migrate once, switch all). Median (min-max) of wall time per code-change"
            " redeploy (venv reused, no migrations). SSH sessions = exec/sftp sessions the busiest host's sshd"
            " started during one deploy. Failed requests = non-200 answers or errors seen by one poller per host"
            " GETting its /health/ page every 50 ms during the deploy. First → last switch = spread of the moments each"
            " server switched `current` (its own clock: one clock here).\n"
        )
        write_results("Several servers: fab -H a,b,c deploy", table + notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
