"""The runner's wire format, the entry table and the engine table."""
import io
import json
import re
import subprocess
import sys

import pytest

from deploytasks.server import entries, runner
from deploytasks.server.engines import ENGINES, engine_class, engine_for, sniff
from deploytasks.server.engines.base import Engine
from deploytasks.server.errors import ServerError
from deploytasks.shell import parse_marked_text
from deploytasks.errors import DeployTasksError


def test_the_runner_turns_a_server_error_into_the_error_document_and_its_exit_code(monkeypatch):
    def refuse(params):
        raise ServerError("deploy path is locked", code=75)

    monkeypatch.setattr(runner, "resolve", lambda name: refuse)
    assert runner.run({"entry": "refuse", "params": {}}) == ({"error": "deploy path is locked"}, 75)


def test_what_the_runner_prints_is_what_the_client_reads():
    out = io.StringIO()
    runner.emit({"error": "no such release"}, out)
    with pytest.raises(DeployTasksError, match="^no such release$"):
        parse_marked_text(out.getvalue(), "", 3, "x")
    out = io.StringIO()
    runner.emit({"ok": True}, out)
    assert parse_marked_text("noise\n" + out.getvalue(), "", 0, "x") == {"ok": True}


def test_every_entry_names_a_function_that_exists():
    for name, target in entries.ENTRIES.items():
        module, function = target.split(":")
        source = (entries.__file__.rsplit("/", 1)[0] + f"/{module}.py")
        assert f"def {function}(params)" in open(source).read(), name


def test_a_plain_entry_runs_in_a_fresh_interpreter_through_stdin(tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("django\n")
    document = json.dumps({"entry": "requirements_hash", "params": {"requirements": str(requirements)}})
    done = subprocess.run([sys.executable, "-c", "from deploytasks.server.runner import main; main()"],
                          input=document, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert len(parse_marked_text(done.stdout, done.stderr, 0, "x")["hash"]) == 64


def test_a_refused_request_exits_with_its_code_after_its_answer(tmp_path):
    document = json.dumps({"entry": "requirements_hash", "params": {"requirements": str(tmp_path / "missing.txt")}})
    done = subprocess.run([sys.executable, "-c", "from deploytasks.server.runner import main; main()"],
                          input=document, capture_output=True, text=True)
    assert done.returncode == 3 and done.stderr == ""
    with pytest.raises(DeployTasksError, match="missing.txt not found"):
        parse_marked_text(done.stdout, done.stderr, done.returncode, "x")


def test_engines_are_found_by_vendor_and_share_the_interface():
    assert set(ENGINES) == {"sqlite", "postgresql", "mysql"}
    for vendor in ENGINES:
        cls = engine_class(vendor)
        assert issubclass(cls, Engine) and cls.vendor == vendor and cls.suffix
    assert engine_class("oracle") is None


def test_an_unknown_vendor_is_none_or_the_callers_error():
    database = {"vendor": "oracle", "alias": "default", "name": "x"}
    assert engine_for(database) is None
    with pytest.raises(ServerError, match="backups of oracle databases are not supported"):
        engine_for(database, unsupported="backups of %s databases are not supported")


def test_sniff_tells_the_engine_from_the_first_bytes(tmp_path):
    cases = {"a": b"SQLite format 3\x00rest", "b": b"PGDMP\x01\x0f", "c": b"\x1f\x8b\x08\x00", "d": b"hello"}
    for name, head in cases.items():
        (tmp_path / name).write_bytes(head)
    assert [sniff(str(tmp_path / n)) for n in "abcd"] == ["sqlite", "postgresql", "mysql", None]


def test_scratch_databases_are_named_to_be_found_again_and_fit_the_identifier_limit():
    from deploytasks.server.engines import scratch

    name = scratch.new_name({"name": "shop"}, "rehearsal")
    assert re.fullmatch(r"shop_deploytasks_rehearsal_\d{14}", name)
    long = scratch.new_name({"name": "x" * 80}, "rehearsal")
    assert len(long) <= 63 and long.startswith(scratch.prefix({"name": "x" * 80}, "rehearsal"))
    assert scratch.like_pattern("my_db%") == "my\\_db\\%%"
    assert scratch.quoted("postgresql", 'a"b') == '"a""b"' and scratch.quoted("mysql", "a`b") == "`a``b`"


def test_a_process_the_shell_reports_killed_is_said_so_without_its_command_line():
    from deploytasks.server.subprocess_entry import meaningful

    line = "bash: line 1: 16104 Killed                  /srv/site/.venv/bin/python manage.py shell -c 'import os'"
    assert meaningful(line) == "its process was killed (SIGKILL: by hand, or the out-of-memory killer)"
    assert meaningful("Killed") == meaningful(line)
    assert meaningful("sh: 1: 77 Terminated python") == "its process was terminated (SIGTERM)"
    assert meaningful("Killed processes are listed in dmesg") == "Killed processes are listed in dmesg"
