#!/usr/bin/env python3
"""Baseline deploy benchmarks: the seed-style in-place script and Capistrano 3.

    python3 bench/baselines.py --runs 5                 # both baselines
    python3 bench/baselines.py --runs 3 --only capistrano

Starts one real sshd on 127.0.0.2 (throwaway keys, own temp dir), builds a bare
git repo from example/, and for each baseline measures first deploy, no-op
redeploy, code-change redeploy and requirements-change redeploy: wall time and
SSH sessions per deploy, checking /health/ after each deploy. Results are
printed and written to the "Baselines" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (  # noqa: E402
    BenchContext,
    Contender,
    make_example_repo,
    results_table,
    run_contender,
    start_server,
    write_results,
)

BASELINES = Path(__file__).resolve().parent / "baselines"
HTTP_HOST = "127.0.0.2"


class InPlace(Contender):
    """bench/baselines/inplace.sh: one checkout, 7 ssh commands per deploy."""

    name = "inplace"
    writes_revision = False  # the hand-written checklist never writes REVISION

    script = BASELINES / "inplace.sh"

    def _deploy(self, path: Path, label: str) -> None:
        srv = self.ctx.server
        env = {
            "SSH_CONFIG": str(srv.ssh_config),
            "SSH_HOST": srv.alias,
            "DEPLOY_PATH": str(path),
            "REPO_URL": str(self.ctx.repo),
            "BIND": self.ctx.bind_for(path),
        }
        self.run(["bash", str(self.script)], label, env=env)

    def first_deploy(self, path: Path) -> None:
        self._deploy(path, "first")

    def redeploy(self, path: Path) -> None:
        self._deploy(path, "redeploy")

    def pidfiles(self, path: Path) -> list[Path]:
        return [path / "gunicorn.pid"]


class Capistrano(Contender):
    """bench/baselines/capistrano: `cap bench deploy` (releases/, shared/, current)."""

    name = "capistrano"
    writes_revision = True  # deploy:set_current_revision writes <release>/REVISION

    project = BASELINES / "capistrano"

    def prepare(self) -> None:
        if shutil.which("cap") is None:
            print("[capistrano] `cap` not found: running `apt-get install -y capistrano`", flush=True)
            subprocess.run(
                ["apt-get", "install", "-y", "capistrano"], check=True, stdin=subprocess.DEVNULL,
                env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            )

    def _deploy(self, path: Path, label: str) -> None:
        srv = self.ctx.server
        env = {
            "BENCH_REPO_URL": str(self.ctx.repo),
            "BENCH_DEPLOY_TO": str(path),
            "BENCH_SSH_HOST": srv.host,
            "BENCH_SSH_PORT": str(srv.port),
            "BENCH_SSH_USER": srv.user,
            "BENCH_SSH_KEY": str(srv.client_key),
            "BENCH_KNOWN_HOSTS": str(srv.known_hosts),
            "BENCH_BIND": self.ctx.bind_for(path),
            "BENCH_ALLOWED_HOSTS": f"{HTTP_HOST},localhost,127.0.0.1",
            "BENCH_CAP_LOG": str(self.ctx.log_dir / f"capistrano-{path.name}.log"),
        }
        self.run(["cap", "bench", "deploy"], label, env=env, cwd=self.project)

    def first_deploy(self, path: Path) -> None:
        self._deploy(path, "first")

    def redeploy(self, path: Path) -> None:
        self._deploy(path, "redeploy")

    def pidfiles(self, path: Path) -> list[Path]:
        return [path / "shared" / "tmp" / "pids" / "gunicorn.pid"]


CONTENDERS = {"inplace": InPlace, "capistrano": Capistrano}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="runs per scenario (default 5)")
    parser.add_argument("--only", choices=sorted(CONTENDERS), action="append",
                        help="measure only this baseline (repeatable)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (deploys, logs)")
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    names = args.only or list(CONTENDERS)
    workdir = Path(tempfile.mkdtemp(prefix="bench-baselines-"))
    print(f"work dir: {workdir}", flush=True)
    server = None
    results = []
    started = time.perf_counter()
    try:
        server = start_server(workdir, host="127.0.0.2")
        print(f"sshd: {server}", flush=True)
        for name in names:
            # Each contender gets its own repo, so that every one starts from the same history.
            repo_dir = workdir / f"repo-{name}"
            repo_dir.mkdir()
            ctx = BenchContext(workdir=workdir, server=server, repo=make_example_repo(repo_dir),
                               http_host=HTTP_HOST)
            results.append(run_contender(CONTENDERS[name](ctx), args.runs))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        if server is not None:
            server.stop()
        if args.keep or any(r.error for r in results):
            print(f"kept {workdir} (logs in {workdir / 'logs'})")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    total = time.perf_counter() - started
    table = results_table(results, args.runs)
    print()
    print(table)
    print(f"total benchmark time: {total:.0f} s")
    if not args.no_write:
        notes = (
            "\nHow: `python3 bench/baselines.py --runs N` (see `bench/README.md`). One sshd on 127.0.0.2;"
            " the example project is deployed from a local bare git repo; gunicorn (2 workers) on"
            " 127.0.0.2. *inplace* = `bench/baselines/inplace.sh` (checklist: backup, git pull, pip"
            " install, migrate, collectstatic, HUP/start gunicorn; one `ssh` per step);"
            " *capistrano* = `cap bench deploy` with `bench/baselines/capistrano` (Capistrano 3,"
            " git SCM plugin, shared venv, keep_releases 5). Code change = a template edit;"
            " requirements change = a new pin line in requirements.txt (already-installed"
            " sqlparse version, so pip installs nothing new). Each remote command also pays for"
            " root's ~/.bashrc (pyenv init, ≈0.1-0.15 s).\n"
        )
        versions = [f"Measured {datetime.date.today().isoformat()}", f"runs={args.runs}"]
        if shutil.which("cap"):
            cap = subprocess.run(["cap", "--version"], capture_output=True, text=True).stdout.strip()
            versions.append(cap.splitlines()[0] if cap else "cap ?")
        versions.append(subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip())
        notes += "\n" + ", ".join(versions) + f", total benchmark time {total:.0f} s.\n"
        path = write_results("Baselines", table + notes)
        print(f"written to {path}")
    return 1 if any(r.error for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
