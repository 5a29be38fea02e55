"""Bad input to the local tasks: one-line error, exit 1, no traceback, the database untouched.

One migrated copy of the example serves the whole module: every test proves it left the database (and the
backups) as they were, and the fixture puts invoke.yaml and .env back after each test.
"""
from __future__ import annotations

import hashlib
import json
import shutil

import pytest

from tests._util import Site, assert_user_error, backup_json, backup_names, copy_example, write_config


@pytest.fixture(scope="module")
def base_site(tmp_path_factory, shared_venv):
    site = Site(copy_example(tmp_path_factory.mktemp("bad-input") / "site"), shared_venv)
    result = site.inv("migrate")
    assert result.returncode == 0, result.stderr
    site.good_backup = backup_json(site)["path"]
    return site


@pytest.fixture
def site(base_site):
    yield base_site
    base_site.configure()
    (base_site.root / ".env").unlink(missing_ok=True)


def fails_cleanly(site, *args, fragments=(), env=None):
    """The task fails with one line naming the problem and changes neither the database nor the backups."""
    before = (site.fingerprint(), backup_names(site))
    line = assert_user_error(site.inv(*args, env=env), *fragments)
    assert (site.fingerprint(), backup_names(site)) == before
    return line


def restore_args(site):
    return ("restore", site.good_backup, "--yes")


@pytest.mark.parametrize("task", ["check", "migrate", "setup", "backup", "restore", "install", "venv",
                                  "createsuperuser", "collectstatic", "migrations.status", "migrations.migrate"])
def test_no_manage_py_where_the_project_is_configured(site, tmp_path, task):
    empty = tmp_path / "empty"
    empty.mkdir()
    site.configure(project=str(empty))
    args = {"restore": restore_args(site), "migrations.migrate": ("migrations.migrate", "accounts", "0010", "--yes")}
    fails_cleanly(site, *args.get(task, (task,)), fragments=("no manage.py in", str(empty)))
    assert list(empty.iterdir()) == []


def test_project_directory_that_does_not_exist(site, tmp_path):
    site.configure(project=str(tmp_path / "nowhere"))
    fails_cleanly(site, "check", fragments=("does not exist", "deploytasks.project"))


def test_unknown_config_key_is_named_with_a_suggestion(site):
    site.configure(requirement="requirements.txt")
    fails_cleanly(site, "check", fragments=("unknown config key deploytasks.requirement (did you mean "
                                            "deploytasks.requirements?), set in the Invoke/Fabric config (invoke.yaml"))


@pytest.mark.parametrize("args", [("check",), ("check", "--json"), ("migrate",), ("migrations.status",),
                                  ("migrations.migrate", "accounts", "0010", "--yes"), ("backup",), "restore"])
def test_settings_that_fail_to_import(site, args):
    (site.root / ".env").write_text("DJANGO_SETTINGS_MODULE=mysite.nope\n")
    args = restore_args(site) if args == "restore" else args
    fails_cleanly(site, *args, fragments=("No module named 'mysite.nope'",))


@pytest.mark.parametrize("args", [("install",), ("install", "--force"), ("setup",)])
def test_missing_requirements_file(site, args):
    site.configure(requirements="nope.txt")
    fails_cleanly(site, *args, fragments=(str(site.root / "nope.txt"), "not found", "deploytasks.requirements"))


def test_a_missing_local_requirements_file_names_that_setting(site):
    site.configure(local_requirements="requirements/dev.txt")
    fails_cleanly(site, "install", fragments=(str(site.root / "requirements" / "dev.txt"), "not found",
                                              "set deploytasks.local_requirements to"))


@pytest.mark.parametrize("task", ["venv", "setup"])
def test_python_that_does_not_exist(site, task):
    new_venv = site.root / "new-venv"
    write_config(site.root, venv=str(new_venv))
    fails_cleanly(site, task, "--python", "python9.99", fragments=("'python9.99' not found", "deploytasks.python"))
    assert not new_venv.exists()


@pytest.mark.parametrize("task", ["venv", "setup"])
def test_a_venv_of_another_python_than_the_one_asked_for_is_named_not_kept(site, tmp_path, task):
    """`--python X` with a venv built by another Python version said `venv: present, kept`, and every install then
    failed on that Python (a requirement needing a newer one), run after run, with no word of the venv."""
    other = tmp_path / "python3.99"
    other.write_text("#!/bin/sh\necho 3.99\n")  # answers the version question as a Python 3.99 would
    other.chmod(0o755)
    fails_cleanly(site, task, "--python", str(other),
                  fragments=("is Python 3.", f"not {other}'s 3.99: remove it (`rm -rf ", "and run this again"))
    assert "present, kept" in site.inv("venv").stdout  # without --python: the venv as it is
    shim = tmp_path / "python3.12"  # pyenv's shim of a version that is not enabled: it runs, and fails
    shim.write_text("#!/bin/sh\necho 'pyenv: python3.12: command not found' >&2\nexit 127\n")
    shim.chmod(0o755)
    fails_cleanly(site, task, "--python", str(shim), fragments=(f"Python '{shim}' does not run here (pyenv: "
                                                                "python3.12: command not found)",))


def copy_backup(site, tmp_path, name="copy.sqlite3"):
    dump = tmp_path / name
    shutil.copyfile(site.good_backup, dump)
    shutil.copyfile(site.good_backup + ".json", str(dump) + ".json")
    return dump


def rewrite_manifest(dump, **changes):
    path = dump.with_name(dump.name + ".json")
    manifest = json.loads(path.read_text())
    manifest.update(changes)
    path.write_text(json.dumps(manifest))


def test_restore_of_a_missing_file(site, tmp_path):
    fails_cleanly(site, "restore", str(tmp_path / "nope.sqlite3"), "--yes",
                  fragments=("backup file", "nope.sqlite3 not found"))
    fails_cleanly(site, "restore", "nope.sqlite3", "--yes",
                  fragments=(str(site.root / "backups" / "nope.sqlite3"), "not found"))


def test_restore_of_a_truncated_file(site, tmp_path):
    dump = copy_backup(site, tmp_path)
    size = dump.stat().st_size
    with open(dump, "r+b") as handle:
        handle.truncate(size // 2)
    fails_cleanly(site, "restore", str(dump), "--yes",
                  fragments=(f"is {size // 2} bytes but its manifest says {size}", "truncated"))


def test_restore_of_a_file_that_does_not_match_its_sha256(site, tmp_path):
    dump = copy_backup(site, tmp_path)
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dump.write_bytes(bytes(data))
    fails_cleanly(site, "restore", str(dump), "--yes", fragments=("does not match its manifest's sha256",))


def test_restore_of_a_damaged_file_whose_manifest_matches_it(site, tmp_path):
    """sha256 matches (the manifest describes the damaged bytes), so integrity_check is what catches it: it runs
    beside the safety backup, which is then removed again: nothing is left behind."""
    dump = copy_backup(site, tmp_path)
    data = bytearray(dump.read_bytes())
    data[4096 * 4:4096 * 5] = b"\xff" * 4096  # a B-tree page overwritten
    dump.write_bytes(bytes(data))
    rewrite_manifest(dump, size=len(data), sha256=hashlib.sha256(bytes(data)).hexdigest())
    fails_cleanly(site, "restore", str(dump), "--yes", fragments=("failed PRAGMA integrity_check",))


def test_restore_of_a_file_that_is_not_sqlite(site, tmp_path):
    dump = copy_backup(site, tmp_path)
    text = b"this is not a database\n" * 100
    dump.write_bytes(text)
    rewrite_manifest(dump, engine="sqlite", size=len(text), sha256=hashlib.sha256(text).hexdigest())
    fails_cleanly(site, "restore", str(dump), "--yes", fragments=("is not an SQLite database",))


def test_restore_of_a_backup_from_another_engine(site, tmp_path):
    dump = copy_backup(site, tmp_path)
    rewrite_manifest(dump, engine="postgresql")
    fails_cleanly(site, "restore", str(dump), "--yes", fragments=("is a postgresql backup", "database is sqlite"))


def test_restore_without_a_manifest_or_with_a_broken_one(site, tmp_path):
    dump = copy_backup(site, tmp_path)
    manifest = dump.with_name(dump.name + ".json")
    manifest.write_text("{not json")
    fails_cleanly(site, "restore", str(dump), "--yes", fragments=("is not valid JSON",))
    manifest.unlink()
    fails_cleanly(site, "restore", str(dump), "--yes", fragments=("no manifest", "--unverified"))


@pytest.mark.parametrize("args, fragments", [
    (("migrations.migrate", "accounts", "0099", "--yes"), ("accounts has no migration '0099'",)),
    (("migrations.migrate", "accounts", "0099"), ("accounts has no migration '0099'",)),
    (("migrations.migrate", "nosuch", "0001", "--yes"), ("no app labelled 'nosuch'", "accounts, admin")),
    (("migrations.migrate", "accounts", "00", "--yes"), ("'00' matches several accounts migrations",)),
    (("migrations.sql", "accounts", "0099"), ("accounts has no migration '0099'",)),
    (("migrations.reset", "nosuch", "--yes"), ("no app labelled 'nosuch'",)),
])
def test_migrate_to_a_target_that_does_not_exist(site, args, fragments):
    fails_cleanly(site, *args, fragments=fragments)


@pytest.mark.parametrize("args, fragments", [
    (("--keep", "abc"), ("--keep must be a whole number", "'abc'")),
    (("--keep", "-1"), ("--keep must be a whole number", "'-1'")),
    (("--label", "../escape"), ("--label must be",)),
])
def test_backup_options_that_make_no_sense(site, args, fragments):
    for _ in range(2):  # with more than one backup there, a negative --keep used to delete the oldest
        backup_json(site, "--keep", "0")
    fails_cleanly(site, "backup", *args, fragments=fragments)
