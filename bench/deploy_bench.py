#!/usr/bin/env python3
"""deploytasks against the baselines, in one run: first deploy, no-op, code-change and
requirements-change redeploys (wall time, SSH sessions), with ratios computed pair by pair.

    python3 bench/deploy_bench.py --runs 5                       # deploytasks, inplace, capistrano
    python3 bench/deploy_bench.py --runs 3 --only deploytasks --only inplace

Results go to the "Deploy: deploytasks vs baselines" section of docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from baselines import HTTP_HOST, Capistrano, InPlace  # noqa: E402
from harness import (  # noqa: E402
    FORCED_NOOP, SCENARIOS, BenchContext, Contender, byte_compile_checkout, make_example_repo, results_table, run_contender,
    start_server, write_results,
)


class DeployTasks(Contender):
    """`fab setup` + `fab deploy` the first time, `fab deploy` after; gunicorn reloaded with HUP."""

    name = "deploytasks"
    writes_revision = True
    conf_read = True  # gunicorn started in the release, where it reads the project's gunicorn.conf.py

    def project_for(self, path: Path) -> Path:
        project = self.ctx.workdir / "dt-projects" / path.name
        if not project.exists():
            project.mkdir(parents=True)
            (project / "fabfile.py").write_text("from deploytasks.remote import ns\n")
            host = self.ctx.http_host
            production = project / "deploy" / "testhost" / ".env"  # what `fab setup` puts in shared/.env
            production.parent.mkdir(parents=True)
            production.write_text(
                f"DATABASE_URL=sqlite:///{path}/shared/db.sqlite3\nSECRET_KEY=bench-{path.name}\nDEBUG=false\n"
                f"ALLOWED_HOSTS={host},localhost,127.0.0.1\n"
            )
            pid = path / "shared" / "gunicorn.pid"
            reload = (
                f"if [ -f {pid} ] && kill -0 $(cat {pid}) 2>/dev/null; then kill -HUP $(cat {pid}); else "
                f"set -a && . {path}/shared/.env && set +a && cd {path}/{'current' if self.conf_read else ''} && "
                f"{path}/current/.venv/bin/gunicorn --chdir {path}/current "
                f"--pid {pid} --bind {self.ctx.bind_for(path)} --workers 2 --daemon "
                f"--error-logfile {path}/shared/gunicorn.log mysite.wsgi; fi"
            )
            (project / "fabric.yaml").write_text(
                "deploytasks:\n"
                f"  path: {path}\n"
                f"  repo: {self.ctx.repo}\n"
                f"  reload: '{reload}'\n"
                f"  healthcheck: {self.ctx.url_for(path)}\n"
                "  healthcheck_retries: 50\n"
            )
        return project

    def fab(self, path: Path, label: str, *task: str) -> None:
        self.run([sys.executable, "-m", "fabric", "-S", str(self.ctx.server.ssh_config), "-H", "testhost", *task],
                 label, cwd=self.project_for(path))

    def first_deploy(self, path: Path) -> None:
        self.fab(path, "setup", "setup")
        self.fab(path, "first", "deploy")

    def redeploy(self, path: Path) -> None:
        self.fab(path, "redeploy", "deploy")

    def redeploy_forced(self, path: Path) -> None:
        """The no-op deploy done anyway (what the baselines always do)."""
        self.fab(path, "redeploy --again", "deploy", "--again")

    def pidfiles(self, path: Path) -> list[Path]:
        return [path / "shared" / "gunicorn.pid"]


CONTENDERS = {"deploytasks": DeployTasks, "inplace": InPlace, "capistrano": Capistrano}


def ratio_rows(results, runs):
    by_name = {r.name: r for r in results}
    ours = by_name.get("deploytasks")
    lines = []
    if not ours:
        return ""
    for other in ("inplace", "capistrano"):
        theirs = by_name.get(other)
        if not theirs:
            continue
        for scenario in SCENARIOS:
            pairs = list(zip(ours.samples[scenario], theirs.samples[FORCED_NOOP.get(scenario, scenario)]))
            if not pairs:
                continue
            ratios = [a.seconds / b.seconds for a, b in pairs]
            lines.append(f"| deploytasks / {other} | {scenario} | {statistics.median(ratios):.2f}x "
                         f"({min(ratios):.2f}-{max(ratios):.2f}) |")
    if not lines:
        return ""
    return ("\nRatios of wall time, pair by pair (run i of one against run i of the other), median (min-max):\n\n"
            "| pair | scenario | ratio |\n| --- | --- | --- |\n" + "\n".join(lines) + "\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", choices=sorted(CONTENDERS), action="append")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    names = args.only or list(CONTENDERS)
    byte_compile_checkout()
    workdir = Path(tempfile.mkdtemp(prefix="bench-deploy-"))
    server = None
    results = []
    started = time.perf_counter()
    try:
        server = start_server(workdir, host=HTTP_HOST)
        for name in names:
            repo_dir = workdir / f"repo-{name}"
            repo_dir.mkdir()
            ctx = BenchContext(workdir=workdir, server=server, repo=make_example_repo(repo_dir), http_host=HTTP_HOST)
            results.append(run_contender(CONTENDERS[name](ctx), args.runs))
    finally:
        if server is not None:
            server.stop()
        if any(r.error for r in results):
            print(f"kept {workdir} (logs in {workdir / 'logs'})")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    table = results_table(results, args.runs) + ratio_rows(results, args.runs)
    total = time.perf_counter() - started
    print(table)
    if any(r.error for r in results):
        print("a contender failed: docs/benchmarks.md left as it was", file=sys.stderr)
    elif not args.no_write:
        notes = (
            f"\nHow: `python3 bench/deploy_bench.py --runs {args.runs}` (contenders: {', '.join(names)}), total "
            f"{total:.0f} s. deploytasks: `fab setup` + `fab deploy` for the first deploy, `fab deploy` after; its"
            " time includes the health check that waits until gunicorn serves the new revision (the baselines"
            " return before that; their wait shows under \"ready after\"). Requirements change: deploytasks builds"
            " a new venv keyed by the requirements hash; the baselines re-run pip in their one venv.\n"
        )
        write_results("Deploy: deploytasks vs baselines", table + notes)
    return 1 if any(r.error for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
