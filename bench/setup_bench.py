"""`inv setup` first and second run on a fresh copy of example/, against the hand-typed checklist.

    python3 bench/setup_bench.py --runs 5

Baseline (same run, same copy procedure): `python3 -m venv .venv && .venv/bin/pip install -r
requirements.txt && manage.py migrate && manage.py collectstatic --noinput`, typed twice.
pip's wheel cache is warm for both (one untimed warm-up run first), so the figures compare tools,
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
from harness import fmt_summary, median, timed, write_results  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "example"
IGNORE = shutil.ignore_patterns(".venv", "db.sqlite3*", "staticfiles", "__pycache__", "backups", "media", ".env")
ENV = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "INVOKE_"))}

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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    results = {"inv setup": ([], []), "hand checklist": ([], [])}
    with tempfile.TemporaryDirectory(prefix="setup-bench-") as tmp:
        base = Path(tmp)
        inv_setup(fresh_copy(base, "warm-up"))
        for run in range(args.runs):
            for name, action in (("inv setup", inv_setup), ("hand checklist", checklist)):
                site = fresh_copy(base, f"{name.replace(' ', '-')}-{run}")
                first, second = action(site), action(site)
                results[name][0].append(first)
                results[name][1].append(second)
                print(f"run {run + 1}: {name}: first {first:.2f}s, second {second:.2f}s", flush=True)
                shutil.rmtree(site)
    inv_first, inv_second = results["inv setup"]
    hand_first, hand_second = results["hand checklist"]
    ratios_second = [a / b for a, b in zip(inv_second, hand_second)]
    ratios_first = [a / b for a, b in zip(inv_first, hand_first)]
    text = (
        f"`python3 bench/setup_bench.py --runs {args.runs}`: a fresh copy of `example/` per run, pip cache warm.\n"
        "Medians (min-max) of wall time; ratios are computed pair by pair within a run.\n\n"
        "| | first run | second run (nothing to do) |\n|---|---|---|\n"
        f"| `inv setup --no-superuser` | {fmt_summary(inv_first)} | {fmt_summary(inv_second)} |\n"
        f"| hand checklist (venv, pip install, migrate, collectstatic) | {fmt_summary(hand_first)} | {fmt_summary(hand_second)} |\n"
        f"| ratio inv / hand | {median(ratios_first):.2f}x | {median(ratios_second):.2f}x |\n\n"
        "The second `inv setup` skips venv and pip (requirements hash unchanged), so it costs three Django start-ups;\n"
        "the hand checklist re-runs pip every time.\n"
    )
    print(text)
    write_results("inv setup", text)


if __name__ == "__main__":
    main()
