"""The first deploy (issue 10 §1): the README's path for servers run as written (fabfile.example.py with its
values filled in, `fab setup`, `fab deploy`), starting the app server that does not run yet; and a first
deploy that fails: no unapply below what was there, the database kept, a state the next deploy starts from.
"""
from __future__ import annotations

import os
import signal
import sqlite3
from pathlib import Path

import pytest

from tests.remote.conftest import FABFILE, give_uv, health_at, readme_project
from tests.sshd import free_port

ADDRESS = "127.0.0.30"


def stop(pidfile: Path):
    """SIGTERM the gunicorn master a `start` command left running (by its pid file)."""
    if pidfile.exists():
        try:
            os.kill(int(pidfile.read_text().strip()), signal.SIGTERM)
        except (ProcessLookupError, ValueError):
            pass


def lend_uv(path: Path, server):
    """The state `fab setup` leaves where it installed uv (see conftest.give_uv), for another deploy path."""
    tools = path / ".deploytasks"
    tools.mkdir(parents=True, exist_ok=True)
    give_uv(server)
    for name in ("uv", "uv-cache"):
        if not os.path.lexists(tools / name):
            (tools / name).symlink_to(os.readlink(server.path / ".deploytasks" / name))


def test_the_readmes_path_for_servers_works_on_the_first_try(server):
    """README "Use it in your own project", step 3: fabfile.example.py with its values set, production's
    settings in deploy/production/.env, `fab setup`, `fab deploy`: the site serves the deployed revision."""
    s = server
    path, port = s.base / "readme-srv", free_port("127.0.0.1")
    project = readme_project(s.base / "readme-project", path, s.repo.bare, port, f"readme-{s.secret_key}")
    lend_uv(path, s)
    try:
        s.fab("setup", cwd=project, fresh=True).ok()  # real `fab` processes, as the README has them typed
        plan = s.fab("plan", "--json", cwd=project).ok().json()  # (not a README step) nothing live to compare with
        assert plan["static"] == {"skipped": "no live release to compare with (first deploy): every file is new"}
        shown = " ".join(s.fab("plan", cwd=project).ok().stdout.split())  # the project's SQL, not Django's own
        assert "-- accounts.0001_initial" in shown and 'CREATE TABLE "auth_user"' not in shown, shown
        django_own = sum(step["app"] in ("admin", "auth", "contenttypes", "sessions")
                         for step in plan["introspection"]["plan"])
        assert f"the SQL of Django's own apps' {django_own} migration(s) is not shown" in shown, shown
        s.fab("deploy", cwd=project, fresh=True).ok()
        assert health_at(f"http://127.0.0.1:{port}/health/")["revision"][:12] == s.repo.initial[:12]
        s.repo.code_change(branch="readme-next")
        s.fab("deploy", "--revision", "readme-next", cwd=project, fresh=True).ok()  # and the next one reloads it
        assert health_at(f"http://127.0.0.1:{port}/health/")["revision"][:12] == s.repo.head("readme-next")[:12]
    finally:
        stop(path / "shared" / "gunicorn.pid")


def test_a_failed_first_deploy_keeps_the_database_and_the_next_one_starts_from_it(server, tmp_path):
    s = server
    give_uv(s)
    s.fab("setup").ok()
    pidfile = s.path / "shared" / "gunicorn.pid"
    port = free_port("127.0.0.1")
    url = f"http://127.0.0.1:{port}/health/"
    s.configure(reload=f"kill -HUP $(cat {pidfile})", healthcheck=url, healthcheck_retries=3, healthcheck_delay=0.2)
    line = s.fab("deploy").error("reload command failed")
    assert "No such file or directory" in line, line  # the first error line (cat's), not kill's usage
    assert "kept the database" in line and "nothing is unapplied" in line and "restore" not in line, line
    assert s.current() is None and s.releases() == [] and not s.lock.exists()
    assert "accounts_plan" in s.tables()  # nothing unapplied
    assert s.log()[-1]["result"] == "unhealthy"

    s.fab("backups").ok()  # no live release: listing needs none
    copy = tmp_path / "copy.sqlite3"
    with sqlite3.connect(s.db) as source, sqlite3.connect(copy) as target:
        source.backup(target)
    refused = s.fab("restore", str(copy), "--yes", "--unverified").error("run `fab deploy` first")
    assert "no release on the server has a venv" in refused

    s.configure(start=f"set -a && . ./shared/.env && set +a && exec ./current/.venv/bin/gunicorn --daemon "
                      f"--chdir {s.path}/current --pid {pidfile} --bind 127.0.0.1:{port} mysite.wsgi",
                healthcheck_retries=60, healthcheck_delay=0.25)
    try:
        s.fab("deploy").ok()
        assert health_at(url)["revision"][:12] == s.repo.initial[:12]
        restored = s.fab("restore", str(copy), "--yes", "--unverified").ok()
        assert "restored" in restored.stdout
    finally:
        stop(pidfile)
        for key in ("start", "healthcheck_retries", "healthcheck_delay"):
            s.settings.pop(key, None)
        s.configure(reload="", healthcheck="")


def test_restore_with_no_live_release_uses_the_newest_release_on_disk(server, tmp_path):
    s = server
    give_uv(s)
    s.fab("setup").ok()
    if s.current() is None:
        s.fab("deploy").ok()
    copy = tmp_path / "copy.sqlite3"
    with sqlite3.connect(s.db) as source, sqlite3.connect(copy) as target:
        source.backup(target)
    newest = s.releases()[-1]
    (s.path / "current").unlink()
    try:
        run = s.fab("restore", str(copy), "--yes", "--unverified").ok()
        assert f"using the code of {newest}" in run.stdout, run.stdout
    finally:
        os.symlink(os.path.join("releases", newest), s.path / "current")


@pytest.fixture(autouse=True)
def _fabfile(server):
    (server.project / "fabfile.py").write_text(FABFILE)
