#!/usr/bin/env python3
"""A deploy to several hosts against the one-host deploy, in one run: code-change redeploys to 1, 4 (and 8)
hosts, each host a real sshd on its own loopback address with its own deploy path and gunicorn, one shared
SQLite database. Reports wall time (and its ratio to the one-host deploy), SSH sessions per host, failed
requests during the deploy (a poller per host), and the time between the first and the last host switching.

Every host runs on this one machine, so N hosts' server-side work competes for its cores. To tell that apart
from what the fleet's coordination costs, it also measures where the CPU went (each host's server side: the
CPU seconds of everything its sshd started; each host's gunicorn; the client, `fab`), each phase's time on
the slowest host (from `--json`), and the fleet deploy run on one host alone ("1, fleet path": the same
coordination, three phases, one migrate step, with no other host competing for the CPU).

    .tooling/bin/python bench/fleet_bench.py --runs 3 --hosts 1 --hosts 4 --hosts 8

Results go to the "Several servers: fab -H a,b,c deploy" section of docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import os
import resource
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
from tests.sshd import _child_pids  # noqa: E402

ADDRESSES = [f"127.0.0.{n}" for n in (81, 82, 83, 85, 86, 87, 88, 89)]
TICKS = os.sysconf("SC_CLK_TCK")
PHASES = ("connect", "stage", "migrate", "switch", "finalize")
# `fab -H web1 deploy` is the single-host deploy; this runs the fleet deploy's code on that one host
FLEET_PATH = '''"""Bench only: the fleet deploy (fleet_deploy.py) of the one host after -H."""
from fabric import task
from invoke import Collection

from deploytasks import fleet_deploy
from deploytasks.connection import host_name
from deploytasks.settings import COLLECTION_CONFIG


@task
def deploy(c):
    """The fleet deploy of one host."""
    fleet_deploy.deploy(c, [host_name(c)], as_json=True)


ns = Collection(deploy)
ns.configure(COLLECTION_CONFIG)
'''


def tree_cpu(pid) -> float:
    """CPU seconds (user + system) of a process, the children it has reaped, and its live descendants."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            raw = handle.read()
    except OSError:
        return 0.0
    fields = raw[raw.rfind(b")") + 2:].split()
    own = sum(int(value) for value in fields[11:15]) / TICKS  # utime, stime, cutime, cstime
    return own + sum(tree_cpu(child) for child in _child_pids(pid))


def client_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def settle(fleet, timeout=10.0):
    """Wait until every sshd has reaped its connections (their CPU is then in the sshd's own figures)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(h.sshd.connection_pids() for h in fleet.hosts.values()):
        time.sleep(0.05)


def deploy_once(fleet, kind):
    """One code-change redeploy: a sample dict."""
    fleet.repo.code_change()
    hosts = fleet.hosts.values()
    sessions = {name: host.sshd.session_count() for name, host in fleet.hosts.items()}
    server_before = [tree_cpu(h.sshd.pid) for h in hosts]
    app_before = [tree_cpu(h.gunicorn.pid) for h in hosts]
    client_before = client_cpu()
    with ExitStack() as polling:
        pollers = [polling.enter_context(Poller(host.gunicorn.url, timeout=POLL_TIMEOUT)) for host in hosts]
        started = time.perf_counter()
        if kind == "fleet path":
            run = fleet.fab(fleet.names(), "-c", "fleetpath", "deploy").ok()
        elif len(fleet.hosts) > 1:
            run = fleet.fab(fleet.names(), "deploy", "--json").ok()
        else:
            run = fleet.fab(fleet.names(), "deploy").ok()
        seconds = time.perf_counter() - started
    if run.stderr.strip():
        print(f"stderr of fab: {run.stderr.strip()[:500]}", flush=True)
    client = client_cpu() - client_before
    app = [tree_cpu(h.gunicorn.pid) - before for h, before in zip(hosts, app_before)]
    settle(fleet)
    server = [tree_cpu(h.sshd.pid) - before for h, before in zip(hosts, server_before)]
    document = run.json() if kind != "single" else {}
    phases = {phase: max((h.get("phases") or {}).get(phase, 0) for h in document["hosts"]) for phase in PHASES} \
        if document else {}
    reasons = {}
    for poller in pollers:
        for reason, n in poller.reasons.items():
            reasons[reason] = reasons.get(reason, 0) + n
    sample = {
        "seconds": seconds, "sessions": max(h.sshd.session_count() - sessions[n] for n, h in fleet.hosts.items()),
        "failed": sum(p.failed for p in pollers), "requests": sum(p.ok + p.failed for p in pollers),
        "slowest": max(p.slowest for p in pollers),
        "spread": document.get("switch_spread_seconds"), "server": server, "app": app, "client": client,
        "phases": phases,
    }
    print(f"{len(fleet.hosts)} host(s), {kind}: {seconds:.1f}s, {sample['sessions']} sessions/host, "
          f"{sample['failed']}/{sample['requests']} failed requests {reasons or ''}, spread {sample['spread']}, "
          f"CPU server {[round(s, 2) for s in server]} app {[round(a, 2) for a in app]} client {client:.2f}, "
          f"phases {phases}", flush=True)
    return sample


def measure(count, runs, base) -> dict:
    """{row label: [sample per run]}: 1 host gives the single-host deploy and the fleet path, run by run."""
    kinds = ["single", "fleet path"] if count == 1 else ["fleet"]
    samples = {kind: [] for kind in kinds}
    with ExitStack() as stack:
        fleet = make_fleet(base / f"hosts-{count}", ADDRESSES[:count], stack)
        stack.callback(fleet.stop)
        (fleet.project / "fleetpath.py").write_text(FLEET_PATH)
        for name in fleet.hosts:
            fleet.fab(name, "setup").ok()
        fleet.fab(fleet.names(), "deploy").ok()
        fleet.serve()
        for _ in range(runs):
            for kind in kinds:
                samples[kind].append(deploy_once(fleet, kind))
    return {("1" if kind == "single" else f"{count}, {kind}" if count == 1 else str(count)): s
            for kind, s in samples.items()}


def spread_of(values, digits=2, unit="s"):
    values = list(values)
    middle = statistics.median(values)
    unit = f" {unit}" if unit else ""
    return f"{middle:.{digits}f}{unit} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def median(values) -> float:
    return statistics.median(list(values))


POLL_TIMEOUT = 10.0


def tables(results, cores) -> str:
    one = results.get("1")
    lines = ["| hosts | code-change redeploy | vs 1 host (run by run) | SSH sessions per host | failed requests | "
             "slowest answer | first → last switch |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for label, samples in results.items():
        ratio = "-"
        if one and label != "1":
            ratios = [a["seconds"] / b["seconds"] for a, b in zip(samples, one)]
            ratio = f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})"
        spreads = [s["spread"] for s in samples if s["spread"] is not None]
        lines.append(f"| {label} | {spread_of(s['seconds'] for s in samples)} | {ratio} | "
                     f"{spread_of((s['sessions'] for s in samples), 0, '')} | {sum(s['failed'] for s in samples)} of "
                     f"{sum(s['requests'] for s in samples)} | {max(s['slowest'] for s in samples):.2f} s | "
                     + (spread_of(spreads, 3) if spreads and label != "1, fleet path" else "-") + " |")
    lines += ["", "Where the time and the CPU went (medians of the runs):", "",
              "| hosts | wall | CPU: server side per host | CPU: gunicorn per host | CPU: client (fab) | "
              f"all CPU / {cores} cores | slowest host: stage | migrate | switch round | finalize |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for label, samples in results.items():
        total = median(sum(s["server"]) + sum(s["app"]) + s["client"] for s in samples)
        phases = [median(s["phases"][p] for s in samples) if samples[0]["phases"] else None for p in PHASES[1:]]
        lines.append(f"| {label} | {median(s['seconds'] for s in samples):.2f} s | "
                     f"{median(median(s['server']) for s in samples):.2f} s | "
                     f"{median(median(s['app']) for s in samples):.2f} s | "
                     f"{median(s['client'] for s in samples):.2f} s | {total / cores:.2f} s | "
                     + " | ".join("-" if p is None else f"{p:.2f} s" for p in phases) + " |")
    fleet_one = results.get("1, fleet path")
    if one and fleet_one:
        lines += ["", "What a real fleet would see (each host its own CPUs): the fleet path on one host, plus the "
                  "client's extra CPU for N hosts (counted as if none of it overlapped):", "",
                  "| hosts | estimated redeploy | vs 1 host |", "| --- | --- | --- |"]
        base_wall, base_client = median(s["seconds"] for s in fleet_one), median(s["client"] for s in fleet_one)
        for label, samples in results.items():
            if label in ("1", "1, fleet path"):
                continue
            estimate = base_wall + max(0.0, median(s["client"] for s in samples) - base_client)
            lines.append(f"| {label} | {estimate:.2f} s | {estimate / median(s['seconds'] for s in one):.2f}x |")
    return "\n".join(lines) + "\n"


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
            results.update(measure(count, args.runs, Path(base)))
    table = tables(results, os.cpu_count())
    print(table)
    if not args.no_write:
        notes = (
            f"\nHow: `.tooling/bin/python bench/fleet_bench.py --runs {args.runs} "
            + " ".join(f"--hosts {n}" for n in counts)
            + f"` (total {time.perf_counter() - began:.0f} s). Every host is an sshd on its own loopback address with its"
            f" own deploy path and gunicorn (1 worker), all on this {os.cpu_count()}-core machine, sharing one SQLite"
            " file. 1 host = `fab -H web1 deploy` (the single-host deploy, supervised on the server); N hosts = `fab -H"
            " web1,…,webN deploy` (stage all at once, migrate once, switch all); 1, fleet path = that fleet deploy's"
            " code run on one host (bench/fleet_bench.py's `fleetpath` task). Median (min-max) of wall time per"
            " code-change redeploy (venv reused, no migrations). SSH sessions = exec/sftp sessions the busiest host's"
            " sshd started during one deploy. Failed requests = non-200 answers, errors or no answer within"
            f" {POLL_TIMEOUT:.0f} s (a load balancer's patience; nginx waits 60 s) seen by one poller per host GETting its"
            " /health/ page every 50 ms during the deploy; slowest answer = the longest one of them took. First → last switch = spread of the moments each"
            " server switched `current` (its own clock: one clock here). CPU: server side = user + system seconds of"
            " everything a host's sshd ran for the deploy (from /proc: the sshd's own and reaped children's times);"
            " gunicorn = its master and workers (the reload's new worker, and the poller's requests); client = the `fab` process; all CPU / cores"
            " = the least wall time this machine could do that work in. Phase times: the slowest host's, from"
            " `deploy --json` (`phases`).\n"
        )
        write_results("Several servers: fab -H a,b,c deploy", table + notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
