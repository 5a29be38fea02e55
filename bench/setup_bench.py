"""`inv setup` first and second run on a fresh copy of example/, against the hand-typed checklist.

    python3 bench/setup_bench.py --runs 5

Baselines (same run, same copy procedure), each typed twice:
- pip: `python3 -m venv .venv && .venv/bin/pip install -r requirements.txt && manage.py migrate &&
  manage.py collectstatic --noinput`;
- uv (the fastest hand): `uv venv --allow-existing .venv && uv pip install -r requirements.txt && manage.py migrate &&
  manage.py collectstatic --noinput`.
pip's and uv's caches are warm for all (one untimed warm-up run of each first), so the figures compare tools,
not the network.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import byte_compile_checkout, fmt_summary, median, timed, write_results  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "example"
IGNORE = shutil.ignore_patterns(".venv", "db.sqlite3*", "staticfiles", "__pycache__", "backups", "media", ".env")
ENV = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "INVOKE_"))}

UV = shutil.which("uv", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}") or "uv"
UV_CHECKLIST = (
    f"{UV} venv -q --allow-existing .venv && {UV} pip install -q --python .venv/bin/python -r requirements.txt"
    " && .venv/bin/python manage.py migrate --noinput -v 0 && .venv/bin/python manage.py collectstatic --noinput -v 0"
)
CHECKLIST = (
    "python3 -m venv .venv && .venv/bin/pip install --disable-pip-version-check -q -r requirements.txt"
    " && .venv/bin/python manage.py migrate --noinput -v 0 && .venv/bin/python manage.py collectstatic --noinput -v 0"
)


def fresh_copy(base: Path, name: str) -> Path:
    target = base / name
    shutil.copytree(EXAMPLE, target, ignore=IGNORE)
    (target / "tasks.py").write_text("from deploytasks.local import ns\n")
    return target


def inv_setup(site: Path) -> float:
    return timed([sys.executable, "-m", "invoke", "setup", "--no-superuser"], cwd=site, env=ENV,
                 stdout=subprocess.DEVNULL)


def checklist(site: Path) -> float:
    return timed(CHECKLIST, cwd=site, env=ENV, stdout=subprocess.DEVNULL)


def uv_checklist(site: Path) -> float:
    return timed(UV_CHECKLIST, cwd=site, env=ENV, stdout=subprocess.DEVNULL)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="print the results only (docs/benchmarks.md untouched)")
    args = parser.parse_args()
    contestants = (("inv setup", inv_setup), ("hand checklist", checklist), ("uv checklist", uv_checklist))
    byte_compile_checkout()
    results = {name: ([], []) for name, _ in contestants}
    with tempfile.TemporaryDirectory(prefix="setup-bench-") as tmp:
        base = Path(tmp)
        for name, action in contestants:
            action(fresh_copy(base, f"warm-up-{name.replace(' ', '-')}"))
        for run in range(args.runs):
            for name, action in contestants:
                site = fresh_copy(base, f"{name.replace(' ', '-')}-{run}")
                first, second = action(site), action(site)
                results[name][0].append(first)
                results[name][1].append(second)
                print(f"run {run + 1}: {name}: first {first:.2f}s, second {second:.2f}s", flush=True)
                shutil.rmtree(site)
    inv_first, inv_second = results["inv setup"]

    def ratios(name, which):
        return median([a / b for a, b in zip(results["inv setup"][which], results[name][which])])
    hand_first, hand_second = results["hand checklist"]
    uv_first, uv_second = results["uv checklist"]
    text = (
        f"`python3 bench/setup_bench.py --runs {args.runs}`: a fresh copy of `example/` per run, pip and uv caches warm.\n"
        "Medians (min-max) of wall time; ratios are computed pair by pair within a run.\n\n"
        "| | first run | second run (nothing to do) |\n|---|---|---|\n"
        f"| `inv setup --no-superuser` (uv) | {fmt_summary(inv_first)} | {fmt_summary(inv_second)} |\n"
        f"| hand checklist, pip (venv, pip install, migrate, collectstatic) | {fmt_summary(hand_first)} | {fmt_summary(hand_second)} |\n"
        f"| hand checklist, uv (uv venv, uv pip install, migrate, collectstatic) | {fmt_summary(uv_first)} | {fmt_summary(uv_second)} |\n"
        f"| ratio inv / hand pip | {ratios('hand checklist', 0):.2f}x | {ratios('hand checklist', 1):.2f}x |\n"
        f"| ratio inv / hand uv | {ratios('uv checklist', 0):.2f}x | {ratios('uv checklist', 1):.2f}x |\n\n"
        "The second `inv setup` skips venv and install (requirements hash unchanged), so it costs three Django start-ups;\n"
        "the hand checklists re-run the installer every time.\n"
    )
    print(text)
    if not args.no_write:
        write_results("inv setup", text)


if __name__ == "__main__":
    main()
