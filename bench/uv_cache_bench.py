#!/usr/bin/env python3
"""The server's uv cache across a year of Django patch releases: a deploy path whose requirements move from one
Django 5.2.x to the next (ten requirements changes), each a new venv built by the real uv from a cache of the run's
own, the venvs past `keep` removed as a deploy's prune removes them; then, as the deploy does, the cache's
packages no venv uses any more removed (`deploytasks.server.uv_cache.prune_unused`) or not (`prune_uv_cache:
false`).

    python3 bench/uv_cache_bench.py [--keep 5] [--no-write]

Reports the cache's size on disk after each change both ways, the time of the prune in the deploy (the scan and
the entries set aside under uv's lock) and of the background removal of their files. The packages come from the
index uv is configured with (PyPI here). Results: section "uv cache across requirements changes" of
docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import ROOT, closing_lines, publish  # noqa: E402

sys.path.insert(0, str(ROOT))
from deploytasks.server import uv_cache  # noqa: E402

SECTION = "uv cache across requirements changes"
VERSIONS = [f"5.2.{patch}" for patch in range(10, 20)]


def uv_binary():
    import uv

    return uv.find_uv_bin()


def disk_mib(directory: Path) -> float:
    """Blocks of the files under `directory`, each inode counted once."""
    seen, total = set(), 0
    for root, _dirs, files in os.walk(directory):
        for name in files:
            info = os.lstat(os.path.join(root, name))
            if info.st_ino not in seen:
                seen.add(info.st_ino)
                total += info.st_blocks * 512
    return total / 1048576


def build(uv, cache: Path, venv: Path, django: str):
    env = dict(os.environ, UV_CACHE_DIR=str(cache))
    env.pop("UV_LINK_MODE", None)
    subprocess.run([uv, "venv", "-q", str(venv)], check=True, env=env)
    subprocess.run([uv, "pip", "install", "-q", "--python", str(venv / "bin" / "python"), f"Django=={django}",
                    "gunicorn==27.0.1"], check=True, env=env)


def wait_removed(cache: Path) -> float:
    started = time.monotonic()
    while list(cache.glob(uv_cache.ASIDE + "*")):
        time.sleep(0.005)
    return time.monotonic() - started


def sequence(uv, base: Path, keep: int, prune: bool) -> dict:
    cache, venvs = base / "cache", []
    sizes, prune_seconds, removal_seconds, removed = [], [], [], 0
    for number, django in enumerate(VERSIONS):
        venv = base / f"venv-{number}"
        build(uv, cache, venv, django)
        venvs.append(venv)
        while len(venvs) > keep:
            shutil.rmtree(venvs.pop(0))
            if prune:
                started = time.monotonic()
                report = uv_cache.prune_unused(str(cache), str(venv))
                prune_seconds.append(time.monotonic() - started)
                removal_seconds.append(wait_removed(cache))
                removed += len(report.get("removed", []))
        sizes.append(disk_mib(cache))
    return {"sizes": sizes, "prune": prune_seconds, "removal": removal_seconds, "removed": removed}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=int, default=5, help="venvs kept, as keep_releases keeps releases")
    parser.add_argument("--no-write", action="store_true", help="print only; do not update docs/benchmarks.md")
    args = parser.parse_args()
    uv, started, load = uv_binary(), time.monotonic(), os.getloadavg()[0]
    results = {}
    with tempfile.TemporaryDirectory(prefix="dt-uvcache-") as scratch:
        for prune in (False, True):
            base = Path(scratch) / ("prune" if prune else "keep")
            base.mkdir()
            results[prune] = sequence(uv, base, args.keep, prune)
    keep, pruned = results[False], results[True]
    rows = "\n".join(f"| {number + 1} | Django {django} | {keep['sizes'][number]:.1f} MiB | "
                     f"{pruned['sizes'][number]:.1f} MiB |" for number, django in enumerate(VERSIONS))
    timings = pruned["prune"]
    text = "\n".join([
        f"A deploy path's venvs over {len(VERSIONS)} requirements changes (Django {VERSIONS[0]} to {VERSIONS[-1]}, "
        f"gunicorn 27.0.1), {args.keep} venvs kept; the uv cache's size on disk after each:",
        "",
        "| change | requirements | `prune_uv_cache: false` | `prune_uv_cache: true` (the default) |",
        "| --- | --- | --- | --- |",
        rows,
        "",
        f"Pruned {pruned['removed']} unused package(s) in {len(timings)} prunes. The prune in the deploy (scan, "
        f"entries set aside under uv's lock): median {sorted(timings)[len(timings) // 2] * 1000:.1f} ms "
        f"(max {max(timings) * 1000:.1f} ms); their files' removal afterwards, in a process of its own: median "
        f"{sorted(pruned['removal'])[len(timings) // 2]:.2f} s.",
        "",
        f"How: `python3 bench/uv_cache_bench.py --keep {args.keep}`: each venv built by `uv venv` + `uv pip install` "
        "from a cache of the run's own (hard links, uv's default on one file system), the oldest venv removed past "
        "the kept number as a deploy's prune removes it, then `deploytasks.server.uv_cache.prune_unused` as "
        "finalize calls it. Sizes count each inode once (the venvs' hard links are the cache's files).",
        *closing_lines(load, time.monotonic() - started),
    ])
    publish(SECTION, text, write=not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
