#!/usr/bin/env python3
"""How long `inv` and `fab` take to start with deploytasks' tasks, against the same program with a one-task file.

    python3 bench/startup_bench.py --runs 30
    python3 bench/startup_bench.py --runs 30 --checkout /path/to/other/checkout --no-write   # another version

Every command deploytasks runs pays this start before its first step (and every test that runs `inv` or `fab`):
Python, Invoke (and for `fab` Fabric and paramiko), then the task collection. The baseline is the floor a user
cannot go below with these programs: `inv --list` / `fab --list` over a tasks.py / fabfile.py holding one empty
task. Ours: the README's one-line tasks.py (`from deploytasks.local import ns`) and fabfile.py (`from
deploytasks.remote import ns`). Each run times `--list` and `--help TASK` of both, alternating which goes first;
medians (min-max), ratios pair by pair. Results: section "Client start-up (inv, fab)" of docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import ROOT, fmt_summary, machine_description, publish  # noqa: E402

SECTION = "Client start-up (inv, fab)"
BARE_TASKS = "from invoke import task\n\n\n@task\ndef hello(c):\n    \"\"\"Say nothing.\"\"\"\n"
BARE_FABFILE = "from fabric import task\n\n\n@task\ndef hello(c):\n    \"\"\"Say nothing.\"\"\"\n"
OURS_TASKS = "from deploytasks.local import ns\n"
OURS_FABFILE = "from deploytasks.remote import ns\n"


def byte_compile(checkout: Path) -> None:
    """As a pip install leaves the package: this machine sets PYTHONDONTWRITEBYTECODE."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(checkout / "deploytasks")], check=True,
                   stdout=subprocess.DEVNULL)


def project(parent: Path, name: str, files: dict) -> Path:
    directory = parent / name
    directory.mkdir()
    for file, text in files.items():
        (directory / file).write_text(text)
    return directory


def timed(argv: list, cwd: Path, env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE, check=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--checkout", type=Path, default=ROOT, help="the deploytasks checkout to measure")
    parser.add_argument("--no-write", action="store_true", help="print the results, leave docs/benchmarks.md")
    args = parser.parse_args()

    checkout = args.checkout.resolve()
    byte_compile(checkout)
    bin_dir = Path(sys.executable).parent
    env = dict(os.environ, PYTHONPATH=str(checkout))
    load = os.getloadavg()[0]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as scratch:
        scratch = Path(scratch)
        places = {"bare": project(scratch, "bare", {"tasks.py": BARE_TASKS, "fabfile.py": BARE_FABFILE}),
                  "ours": project(scratch, "ours", {"tasks.py": OURS_TASKS, "fabfile.py": OURS_FABFILE})}
        commands = {
            "inv --list": ([str(bin_dir / "inv"), "--list"], None),
            "inv --help TASK": ([str(bin_dir / "inv"), "--help"], {"bare": "hello", "ours": "backup"}),
            "fab --list": ([str(bin_dir / "fab"), "--list"], None),
            "fab --help TASK": ([str(bin_dir / "fab"), "--help"], {"bare": "hello", "ours": "deploy"}),
        }
        times = {(command, side): [] for command in commands for side in places}
        for run in range(args.runs):
            sides = ["bare", "ours"] if run % 2 == 0 else ["ours", "bare"]
            for command, (argv, task) in commands.items():
                for side in sides:
                    times[command, side].append(timed(argv + ([task[side]] if task else []), places[side], env))
    total = time.perf_counter() - started

    lines = [
        f"`python3 bench/startup_bench.py --runs {args.runs}`: each command {args.runs} times on each side, alternating"
        " which goes first. Ours: the README's one-line tasks.py (`from deploytasks.local import ns`) and fabfile.py"
        " (`from deploytasks.remote import ns`); bare: the same program over a file holding one empty task, the floor"
        " of `inv`/`fab` themselves. Medians (min-max); ratios pair by pair.",
        "",
        "| command | deploytasks | bare program | added | ratio |",
        "| --- | --- | --- | --- | --- |",
    ]
    for command in commands:
        ours, bare = times[command, "ours"], times[command, "bare"]
        added = [a - b for a, b in zip(ours, bare)]
        ratios = [a / b for a, b in zip(ours, bare)]
        lines.append(f"| `{command}` | {fmt_summary(ours, digits=3)} | {fmt_summary(bare, digits=3)} | "
                     f"{statistics.median(added) * 1000:.0f} ms | {statistics.median(ratios):.2f}x |")
    lines += [
        "",
        "What `inv`/`fab` load: Invoke (and for `fab` Fabric, paramiko and cryptography), then the collection. Since"
        " session 18 `inv` imports neither Fabric nor paramiko (the host names and known_hosts files its shared code"
        " needs live in `host_names.py`; the `fab`-only functions import Fabric when they run), and rich's tables and"
        " progress bars load when one is drawn: measured with this script (`--runs 30 --no-write`, before = commit"
        " b2b88ce): `inv --list` 0.205 s -> 0.149 s (Invoke alone 0.094 s; 113 -> 54 ms added), `fab --list` 64 -> 53"
        " ms added to Fabric's 0.151 s. What is left is mostly rich's console (about 20 ms; nearly every command"
        " prints) and the collection's own modules. Each command also stopped zipping the server bundle to learn its"
        " name (found in `~/.cache/deploytasks/index/` by the sources' sizes and mtimes: 10 ms -> 1.4 ms), and a"
        " conversation's command (`fab deploy`'s one SSH command) is seen to end within Invoke's 10 ms poll instead"
        " of up to 60 ms later: a no-op `fab deploy`, 15 runs twice, 0.61/0.56 s -> 0.54/0.54 s.",
        "",
        f"Checkout measured: {'this one' if checkout == ROOT else checkout}; modules byte-compiled first, as a pip"
        f" install leaves them. Load average (1 min) at the start {load:.2f}, at the end {os.getloadavg()[0]:.2f};"
        f" total {total:.0f} s.",
        "",
        machine_description().rstrip("\n"),
    ]
    publish(SECTION, "\n".join(lines) + "\n", write=not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
