"""Debian's pg_wrapper skipped for commands given --host: the binary it would run, found on a real directory tree
laid out as postgresql-common lays it out (and, where this machine has it, on the real one)."""
import os
import shutil
import subprocess

import pytest

from deploytasks.server.engines.pg_wrapper import direct_binary, is_wrapper


def executable(path, text="#!/bin/sh\necho \"$0\"\n"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


@pytest.fixture
def debian(tmp_path):
    """usr/bin/<tool> -> share/postgresql-common/pg_wrapper; lib/postgresql/<version>/bin/<tool>."""
    wrapper = executable(tmp_path / "share" / "postgresql-common" / "pg_wrapper")
    for tool in ("pg_dump", "pg_restore", "psql"):
        link = tmp_path / "bin" / tool
        link.parent.mkdir(exist_ok=True)
        link.symlink_to(os.path.relpath(wrapper, link.parent))
    binroot = tmp_path / "lib" / "postgresql"
    for version in ("9.6", "13", "15"):
        for tool in ("pg_dump", "pg_restore", "psql"):
            executable(binroot / version / "bin" / tool)
    return tmp_path, binroot


def test_the_newest_version_with_the_program_is_taken_as_the_wrapper_takes_it(debian):
    root, binroot = debian
    executable(binroot / "16" / "bin" / "psql")  # a newer psql alone: pg_dump stays at 15
    assert direct_binary(str(root / "bin" / "pg_dump"), {}, binroot) == str(binroot / "15" / "bin" / "pg_dump")
    assert direct_binary(str(root / "bin" / "psql"), {}, binroot) == str(binroot / "16" / "bin" / "psql")


def test_versions_compare_as_numbers_not_as_text(debian):
    root, binroot = debian
    shutil.rmtree(binroot / "15")
    assert direct_binary(str(root / "bin" / "pg_restore"), {}, binroot) == str(binroot / "13" / "bin" / "pg_restore")


def test_pgcluster_in_the_environment_keeps_the_wrapper(debian):
    root, binroot = debian
    tool = str(root / "bin" / "pg_dump")
    assert direct_binary(tool, {"PGCLUSTER": "13/main"}, binroot) == tool


def test_a_tool_that_is_not_the_wrapper_is_kept(tmp_path):
    tool = str(executable(tmp_path / "bin" / "pg_dump"))
    assert not is_wrapper(tool)
    assert direct_binary(tool, {}, tmp_path / "lib") == tool


def test_no_installed_version_with_the_program_keeps_the_wrapper(debian):
    root, binroot = debian
    for version in ("9.6", "13", "15"):
        (binroot / version / "bin" / "pg_dump").unlink()
    (binroot / "15" / "bin" / "pg_dump").mkdir()  # not an executable file either
    tool = str(root / "bin" / "pg_dump")
    assert direct_binary(tool, {}, binroot) == tool


@pytest.mark.skipif(not (shutil.which("pg_dump") and is_wrapper(shutil.which("pg_dump"))),
                    reason="needs Debian's postgresql-client (pg_wrapper)")
def test_on_this_machine_the_binary_is_the_one_the_wrapper_runs_for_a_host():
    for tool in ("pg_dump", "pg_restore", "psql"):
        through_wrapper = subprocess.run([tool, "--version", "--host=127.0.0.1"], capture_output=True, text=True)
        direct = subprocess.run([direct_binary(shutil.which(tool)), "--version"], capture_output=True, text=True)
        assert direct.returncode == 0 and direct.stdout == through_wrapper.stdout, (direct, through_wrapper)
