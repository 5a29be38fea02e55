#!/usr/bin/env python3
"""Bytes the client sends per deploy: command lines, stdin and uploads, counted in the client at paramiko's
channel (every byte deploytasks hands to SSH, before encryption), against a real sshd on 127.0.0.2.

    .tooling/bin/python bench/bytes_per_deploy.py                       # this checkout
    .tooling/bin/python bench/bytes_per_deploy.py --source /tmp/old     # another copy of deploytasks/

Scenarios: first deploy (`fab setup` + `fab deploy`), a no-op redeploy, a redeploy with one new migration
(backup, rehearsal, migrate). Prints a Markdown table (or JSON with --json) with each scenario's wall time
(one run: indicative only); writes nothing.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent


class Counter:
    """Counts what paramiko channels are given to send, and the commands they execute."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.commands = self.command_bytes = self.sent_bytes = 0

    def install(self):
        import paramiko

        counter = self
        send, exec_command = paramiko.Channel.send, paramiko.Channel.exec_command

        def counting_send(channel, data):
            sent = send(channel, data)
            counter.sent_bytes += sent
            return sent

        def counting_exec(channel, command):
            counter.commands += 1
            counter.command_bytes += len(command.encode() if isinstance(command, str) else command)
            return exec_command(channel, command)

        paramiko.Channel.send = counting_send
        paramiko.Channel.exec_command = counting_exec


def project_dir(workdir: Path, server, repo: Path, path: Path) -> Path:
    project = workdir / "project"
    project.mkdir()
    (project / "fabfile.py").write_text("from deploytasks.remote import ns\n")
    production = project / "deploy" / "testhost" / ".env"  # production's shared files come from deploy/<host>/
    production.parent.mkdir(parents=True)
    production.write_text(f"DATABASE_URL=sqlite:///{path}/shared/db.sqlite3\nSECRET_KEY=bench\nDEBUG=false\n"
                          "ALLOWED_HOSTS=localhost\n")
    (project / "fabric.yaml").write_text(f"deploytasks:\n  path: {path}\n  repo: {repo}\n")
    return project


def fab(project: Path, server, task: str) -> None:
    from fabric.main import program

    before = os.getcwd()
    os.chdir(project)
    try:
        program.run(["fab", "-S", str(server.ssh_config), "-H", "testhost", task], exit=False)
    finally:
        os.chdir(before)
    if task == "deploy":
        log = (project.parent / "srv" / "releases.log").read_text().splitlines() if (project.parent / "srv").is_dir() else []
        if not log or json.loads(log[-1]).get("result") != "ok":
            raise SystemExit(f"bench: `fab deploy` failed (releases.log: {log[-1] if log else 'empty'}): figures not written")


def commit_migration(repo: Path, number: int) -> None:
    from harness import _commit_change

    def edit(wt: Path) -> str:
        migrations = wt / "accounts" / "migrations"
        previous = sorted(p.stem for p in migrations.glob("0*.py"))[-1]
        name = migrations / f"{number:04d}_bench_table.py"
        name.write_text(
            "from django.db import migrations\n\n\n"
            "class Migration(migrations.Migration):\n"
            f"    dependencies = [('accounts', {previous!r})]\n"
            f"    operations = [migrations.RunSQL('CREATE TABLE bench_{number} (id integer)',"
            f" 'DROP TABLE bench_{number}')]\n")
        from harness import git
        git("add", str(name), cwd=wt)
        return "Add a migration"

    _commit_change(repo, edit)


def measure() -> list:
    from harness import make_example_repo, start_server

    counter = Counter()
    counter.install()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bytes-bench-") as tmp:
        workdir = Path(tmp)
        server = start_server(workdir)
        try:
            repo = make_example_repo(workdir)
            project = project_dir(workdir, server, repo, workdir / "srv")
            steps = [("first deploy (setup + deploy)", lambda: (fab(project, server, "setup"), fab(project, server, "deploy"))),
                     ("no-op redeploy", lambda: fab(project, server, "deploy")),
                     ("redeploy with one new migration", lambda: (commit_migration(repo, 17), fab(project, server, "deploy"))),
                     ("no-op redeploy (again)", lambda: fab(project, server, "deploy"))]
            for label, step in steps:
                counter.reset()
                started = time.perf_counter()
                step()
                rows.append({"scenario": label, "ssh_commands": counter.commands, "seconds": time.perf_counter() - started,
                             "command_bytes": counter.command_bytes, "sent_bytes": counter.sent_bytes})
        finally:
            server.stop()
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", help="a directory holding the deploytasks/ package to measure instead")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.source:
        sys.path.insert(0, os.path.abspath(args.source))
    sys.path.insert(0 if not args.source else 1, str(BENCH))
    import deploytasks

    print(f"deploytasks from {os.path.dirname(deploytasks.__file__)}", file=sys.stderr)
    rows = measure()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print("| scenario | SSH commands | command lines (bytes) | stdin + uploads (bytes) | total (bytes) | seconds |")
    print("|---|---:|---:|---:|---:|---:|")
    for row in rows:
        total = row["command_bytes"] + row["sent_bytes"]
        print(f"| {row['scenario']} | {row['ssh_commands']} | {row['command_bytes']:,} | {row['sent_bytes']:,} | {total:,} | {row['seconds']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
