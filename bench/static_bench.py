#!/usr/bin/env python3
"""A deploy's collectstatic for a release whose static files did not change, on a new Wagtail project (`wagtail
start`: Wagtail's admin and its apps' static files), with three storages: Django's plain one, the
ManifestStaticFilesStorage Wagtail's production settings name, and whitenoise's CompressedManifestStaticFilesStorage.

    python3 bench/static_bench.py --runs 5

A deploy path with two releases of the same project, the first live. Each run collects the second one with the
server's own code (`deploytasks.server.static_files.collect`, in a Django set up in that release, the time of that
call alone: the deploy's Django is set up already):
- before: the live release without its record of what its collectstatic read (what every deploy did until this
  version: collectstatic into the new directory, then unchanged files hard-linked to the live copies);
- now: with it (collectstatic not run; the live release's collected files hard-linked);
- by hand: `manage.py collectstatic --noinput` over the live release's own STATIC_ROOT, what an in-place checklist
  runs (its Django's call alone as well).
Needs wagtail, whitenoise and brotli from the package index pip is configured with (installed with uv into a venv
of the run's own). Results: section "Static files of a Wagtail project" of docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import ROOT, closing_lines, fmt_summary, publish  # noqa: E402

SECTION = "Static files of a Wagtail project"
STORAGES = {
    "plain": "django.contrib.staticfiles.storage.StaticFilesStorage",
    "manifest": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage",
    "whitenoise": "whitenoise.storage.CompressedManifestStaticFilesStorage",
}
SETTINGS = """from .production import *  # noqa: F401,F403
import os
SECRET_KEY = "bench"
ALLOWED_HOSTS = ["*"]
STORAGES["staticfiles"]["BACKEND"] = os.environ["BENCH_STORAGE"]
"""
COLLECT = """
import json, os, sys, time
sys.path.insert(0, os.getcwd())
import django
django.setup()
from deploytasks.server import static_files
params = json.loads(sys.argv[1])
start = time.perf_counter()
if params.get("by_hand"):
    from django.core.management import call_command
    call_command("collectstatic", interactive=False, verbosity=0)
    result = {}
else:
    result = static_files.collect(params)
print(json.dumps(dict(result, seconds=time.perf_counter() - start)))
"""


def uv_binary() -> str:
    try:
        import uv

        return uv.find_uv_bin()
    except (ImportError, FileNotFoundError):
        return shutil.which("uv") or sys.exit("static_bench needs uv (`pip install uv`)")


def wagtail_project(scratch: Path) -> tuple[Path, Path]:
    """(the venv's python, the project) of a new Wagtail site."""
    uv = uv_binary()
    venv = scratch / "venv"
    subprocess.run([uv, "venv", "-q", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([uv, "pip", "install", "-q", "--python", str(python), "wagtail", "whitenoise", "brotli"], check=True)
    project = scratch / "project"
    project.mkdir()
    subprocess.run([str(venv / "bin" / "wagtail"), "start", "mysite", str(project)], check=True,
                   stdout=subprocess.DEVNULL)
    (project / "mysite" / "settings" / "bench.py").write_text(SETTINGS)
    return python, project


def run_collect(python: Path, release: Path, params: dict, storage: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(DJANGO_SETTINGS_MODULE="mysite.settings.bench", BENCH_STORAGE=storage, PYTHONPATH=str(ROOT))
    done = subprocess.run([str(python), "-c", COLLECT, json.dumps(params)], cwd=release, env=env,
                          capture_output=True, text=True)
    if done.returncode:
        sys.exit("collect failed in %s:\n%s" % (release, done.stderr))
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="print the results, leave docs/benchmarks.md")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    started = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-static-") as scratch:
        scratch = Path(scratch)
        python, project = wagtail_project(scratch)
        version = subprocess.run([str(python), "-c", "from importlib.metadata import version as v; "
                                  "print(v('wagtail'), v('django'), v('whitenoise'))"],
                                 capture_output=True, text=True, check=True).stdout.split()
        for kind, storage in STORAGES.items():
            path = scratch / kind
            live, new = path / "releases" / "A", path / "releases" / "B"
            shutil.copytree(project, live)
            shutil.copytree(project, new)
            (path / "current").symlink_to(Path("releases") / "A")
            first = run_collect(python, live, {"path": str(path), "release": "A"}, storage)
            record = live / ".deploytasks-static-inputs"
            kept = record.read_text()
            files = sum(len(names) for _, _, names in os.walk(live / "static"))
            times = {"before": [], "now": [], "by hand": []}
            for run in range(args.runs):
                order = ["before", "now", "by hand"] if run % 2 == 0 else ["by hand", "now", "before"]
                for side in order:
                    shutil.rmtree(new / "static", ignore_errors=True)
                    (new / ".deploytasks-static-inputs").unlink(missing_ok=True)
                    if side == "before":
                        record.unlink(missing_ok=True)
                    else:
                        record.write_text(kept)
                    if side == "by hand":
                        result = run_collect(python, live, {"by_hand": True}, storage)
                    else:
                        result = run_collect(python, new, {"path": str(path), "release": "B"}, storage)
                        skipped = "collectstatic not run" in result["collectstatic"]
                        if skipped != (side == "now"):
                            sys.exit("%s, %s: unexpected: %s" % (kind, side, result["collectstatic"]))
                    times[side].append(result["seconds"])
            record.write_text(kept)
            rows.append((kind, storage, files, first["seconds"], times))
    total = time.perf_counter() - started

    lines = [
        f"`python3 bench/static_bench.py --runs {args.runs}`: a new Wagtail project (`wagtail start`; Wagtail "
        f"{version[0]}, Django {version[1]}, whitenoise {version[2]}), a deploy path"
        " with two releases of it, the first live. Each run collects the second release with the server's own"
        " `static_files.collect` in a Django set up there (the call alone; the deploy's Django is set up already):"
        " *before*, the live release without its record of what its collectstatic read (what every deploy did"
        " until this version: collectstatic into the new directory, then unchanged files hard-linked to the live"
        " copies); *now*, with it; *by hand*, `collectstatic --noinput` over the live release's own STATIC_ROOT"
        " (an in-place checklist's step). Medians (min-max) of the runs, the three sides' order alternating.",
        "",
        "| storage | files collected | before | now | by hand | now / before | now / by hand |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for kind, storage, files, _first, times in rows:
        before, now, by_hand = times["before"], times["now"], times["by hand"]
        lines.append(
            f"| {kind} (`{storage.rsplit('.', 1)[-1]}`) | {files} | {fmt_summary(before, digits=3)} | "
            f"{fmt_summary(now, digits=3)} | {fmt_summary(by_hand, digits=3)} | "
            f"{statistics.median(n / b for n, b in zip(now, before)):.3f}x | "
            f"{statistics.median(n / h for n, h in zip(now, by_hand)):.3f}x |")
    lines += closing_lines(load, total)
    publish(SECTION, "\n".join(lines) + "\n", write=not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
