"""Shared fixtures: real copies of the example project, a shared venv, real inv runs (helpers: tests/_util.py)."""
from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from tests._util import Site, copy_example, installed_venv
from tests.sshd import SSHServer

UNIT = Path(__file__).resolve().parent / "unit"


def pytest_configure(config):
    """The tests' sshd servers skip the work of the user's ~/.bashrc, keeping what it sets (tests/bashrc_snapshot.py);
    DEPLOYTASKS_TEST_BASHRC_SNAPSHOT=0: their sessions run the file."""
    SSHServer.bashrc_snapshot = os.environ.get("DEPLOYTASKS_TEST_BASHRC_SNAPSHOT", "1") != "0"


def pytest_collection_modifyitems(items):
    """The fast tier (tests/unit: no sshd, no venv) runs first, so a broken rule fails in seconds."""
    items.sort(key=lambda item: not Path(str(item.path)).is_relative_to(UNIT))


@pytest.fixture(scope="session")
def shared_venv(tmp_path_factory) -> Path:
    """One real venv with the example's requirements, installed by the real `inv venv install`."""
    return installed_venv(tmp_path_factory.mktemp("shared"))


@pytest.fixture
def site(tmp_path, shared_venv) -> Site:
    """A fresh copy of the example project using the shared venv (no database yet)."""
    return Site(copy_example(tmp_path / "site"), shared_venv)


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory, shared_venv) -> Path:
    """A database file migrated once per session by the real `inv migrate` (WAL checkpointed into the file)."""
    site = Site(copy_example(tmp_path_factory.mktemp("migrated") / "site"), shared_venv)
    result = site.inv("migrate")
    assert result.returncode == 0, result.stderr
    connection = sqlite3.connect(site.db)
    try:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()
    assert not Path(str(site.db) + "-wal").exists()
    return site.db


@pytest.fixture
def migrated_site(site, migrated_db) -> Site:
    """A fresh copy with a migrated database (a copy of the session's really migrated one: same content)."""
    shutil.copyfile(migrated_db, site.db)
    return site
