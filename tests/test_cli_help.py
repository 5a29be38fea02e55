"""`inv TASK --help` and `fab TASK --help` answer with the task's help, for every task the real `--list` shows."""
from __future__ import annotations

import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests._util import TASKS_PY, clean_env

FABFILE_PY = "from deploytasks.remote import ns\n"
PROGRAMS = {"inv": ("tasks.py", TASKS_PY), "fab": ("fabfile.py", FABFILE_PY)}


def run(directory, cli, *args) -> subprocess.CompletedProcess:
    """The real console script (`inv`, `fab`) of this interpreter's environment, in `directory`."""
    return subprocess.run([str(Path(sys.executable).parent / cli), *args], cwd=directory,
                          env=clean_env(HOME=str(directory)), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=120)


def listed_tasks(listing: str) -> dict:
    """Task name → the start of its one-line help, from `--list` (aliases such as "(migrations)" dropped)."""
    tasks = {}
    for line in listing.splitlines():
        match = re.match(r"^  (\S+)(?: \(\S+\))?\s{2,}(\S.*)$", line)
        if match:
            tasks[match.group(1)] = match.group(2)
    return tasks


def words(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("cli", sorted(PROGRAMS))
def test_every_listed_task_answers_help_with_exit_0_and_runs_nothing(tmp_path, cli):
    file_name, content = PROGRAMS[cli]
    (tmp_path / file_name).write_text(content)
    listing = run(tmp_path, cli, "--list")
    assert listing.returncode == 0, listing.stderr
    tasks = listed_tasks(listing.stdout)
    assert {"migrate", "migrations.migrate", "migrations.sql", "migrations.reset", "restore"} <= set(tasks), listing.stdout
    before = sorted(path.name for path in tmp_path.iterdir())

    with ThreadPoolExecutor(4) as pool:
        answers = dict(zip(tasks, pool.map(lambda name: run(tmp_path, cli, name, "--help"), tasks)))

    for name, summary in tasks.items():
        answer = answers[name]
        assert answer.returncode == 0 and answer.stderr == "", (name, answer.stderr)
        usage = re.match(r"Usage: (\S+) \[--core-opts\] (\S+) ", answer.stdout)  # Invoke's own says "inv[oke]"
        assert usage and usage.group(1).startswith(cli) and usage.group(2) == name, (name, answer.stdout)
        assert "Docstring:" in answer.stdout and words(summary) in words(answer.stdout), (name, answer.stdout)
    assert sorted(path.name for path in tmp_path.iterdir()) == before
