#!/usr/bin/env python3
"""Paired A/B of code-change (or, with --requirements, requirements-change) deploys between two checkouts of deploytasks: each checkout's own `fab` (its
interpreter, with that checkout installed) deploys the same new commit to its own deploy path on one sshd, in
turn, the side that goes first alternating; prints each pair and the median and mean of B - A. For changes
smaller than the run-to-run spread, which a side-by-side bench cannot show. Writes nothing to docs/.

    python3 bench/ab_deploy.py --pairs 20 --a /work/wt-base/.tooling/bin/python --b .tooling/bin/python
    python3 bench/ab_deploy.py --pairs 20 --a .tooling/bin/python --b .tooling/bin/python --gunicorn-conf
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from deploy_bench import DeployTasks  # noqa: E402
from harness import (BenchContext, commit_code_change, commit_requirements_change, head_sha,  # noqa: E402
                     make_example_repo, start_server, wait_served)


class Side(DeployTasks):
    """DeployTasks run by another interpreter (another checkout's)."""

    def __init__(self, ctx, name, python, conf_read=True):
        super().__init__(ctx)
        self.name, self.python, self.conf_read = name, python, conf_read

    def fab(self, path, label, *task):
        self.run([self.python, "-m", "fabric", "-S", str(self.ctx.server.ssh_config), "-H", "testhost", *task],
                 label, cwd=self.project_for(path))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=16)
    # absolute, not resolved: a venv's python is a symlink to the base interpreter
    parser.add_argument("--a", required=True, type=os.path.abspath,
                        help="the interpreter of checkout A (deploytasks installed from it)")
    parser.add_argument("--b", required=True, type=os.path.abspath, help="the interpreter of checkout B")
    parser.add_argument("--requirements", action="store_true",
                        help="each pair deploys a requirements change (a new venv) instead of a code change")
    parser.add_argument("--gunicorn-conf", action="store_true",
                        help="A starts gunicorn in the deploy path, where it does not read the example's "
                             "gunicorn.conf.py; B in the release, where it does (give --a and --b the same "
                             "interpreter)")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="ab-deploy-"))
    ctx = BenchContext(workdir=workdir, server=start_server(workdir, host="127.0.0.3"), repo=make_example_repo(workdir))
    sides = [Side(ctx, "A", args.a, conf_read=not args.gunicorn_conf), Side(ctx, "B", args.b)]
    paths = {side.name: workdir / "deploys" / side.name for side in sides}
    times = {side.name: [] for side in sides}
    try:
        for side in sides:
            side.first_deploy(paths[side.name])
            wait_served(side.health_url(paths[side.name]), head_sha(ctx.repo), side.page_url(paths[side.name]), None)
        for pair in range(args.pairs):
            if args.requirements:
                commit_requirements_change(ctx.repo)
                marker = None
            else:
                _sha, marker = commit_code_change(ctx.repo)
            for side in sides if pair % 2 == 0 else sides[::-1]:
                path = paths[side.name]
                started = time.monotonic()
                side.redeploy(path)
                times[side.name].append(time.monotonic() - started)
                wait_served(side.health_url(path), head_sha(ctx.repo), side.page_url(path), marker)
            print(f"{pair}: A {times['A'][-1]:.3f} s, B {times['B'][-1]:.3f} s", flush=True)
    finally:
        for side in sides:
            side.stop(paths[side.name])
    differences = [b - a for a, b in zip(times["A"], times["B"])]
    print(f"A median {statistics.median(times['A']):.3f} s, B median {statistics.median(times['B']):.3f} s; "
          f"B - A: median {statistics.median(differences) * 1000:+.0f} ms, mean {statistics.mean(differences) * 1000:+.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
