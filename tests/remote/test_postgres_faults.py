"""Crash safety (issue 9) while a PostgreSQL deploy's pre-migration dump is made and, in the same pass, restored
into the rehearsal's scratch copy (issue 11): fab SIGKILLed, its SSH connection killed, or Ctrl-C, at the moment
the dump is half written and the copy half loaded. After each: the site serves `current`'s revision, whose
migrations are exactly the applied ones, the lock is free, no scratch database is left, every backup in
backups/ is whole (manifest, sha256, `pg_restore --list`), and the next deploy succeeds."""
from __future__ import annotations

import hashlib
import json
import subprocess

import pytest

from tests.remote import faults
from tests.remote.conftest import Gunicorn
from tests.remote.postgres import SKIP, admin, deployed_on_postgres, psycopg, rows

pytestmark = SKIP

ADDRESS = "127.0.0.196"
KINDS = ("kill-fab", "kill-connection", "sigint")


@pytest.fixture(scope="module")
def site(server):
    with deployed_on_postgres(server) as s:
        admin(f"ALTER ROLE {s.pg['name']} CREATEDB")
        # about 120 MB that neither side can skip: the dump and the copy's load each take a moment
        rows(s, "CREATE TABLE fault_ballast AS SELECT i, md5(i::text) || repeat(md5((i * 7)::text), 36) AS body "
                "FROM generate_series(1, 100000) AS i")
        s.gunicorn = Gunicorn(s).start()
        s.configure(reload=s.gunicorn.reload, healthcheck=s.gunicorn.url, healthcheck_retries=60,
                    healthcheck_delay=0.25)
        try:
            yield s
        finally:
            s.gunicorn.stop()
            s.gunicorn = None


def scratch_databases(s):
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres") as connection:
        found = connection.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                                   (s.pg["name"] + "\\_deploytasks\\_%",)).fetchall()
    return [name for (name,) in found]


def dumping_and_copying(s):
    """The fault point: the pre-migration dump half written while its scratch copy exists."""
    return any((s.path / "backups").glob("*.partial")) and bool(scratch_databases(s))


def backup_problems(s):
    """Backups in backups/ that are not whole: a partial left, no manifest, a sha256 or archive that fails."""
    problems = [f"left: {p.name}" for p in (s.path / "backups").glob("*.partial")]
    for dump in (s.path / "backups").glob("*.dump*"):
        if dump.name.endswith((".json", ".partial")):
            continue
        manifest = dump.with_name(dump.name + ".json")
        if not manifest.exists():
            problems.append(f"{dump.name} has no manifest")
            continue
        if hashlib.sha256(dump.read_bytes()).hexdigest() != json.loads(manifest.read_text())["sha256"]:
            problems.append(f"{dump.name} does not match its manifest's sha256")
        listed = subprocess.run(f"zstd -dc {dump} | pg_restore --list", shell=True, capture_output=True, text=True)
        if listed.returncode != 0 or "fault_ballast" not in listed.stdout:
            problems.append(f"{dump.name} is not a whole archive: {listed.stderr.strip()[-200:]}")
    return problems


@pytest.mark.parametrize("kind", KINDS)
def test_a_fault_while_the_dump_is_copied_into_the_rehearsal_leaves_a_consistent_site(site, kind):
    s = site
    s.applied_migrations = lambda: rows(s, "SELECT app, name FROM django_migrations ORDER BY id")
    live = s.current_name()
    model = "Fault" + kind.replace("-", " ").title().replace(" ", "")
    commit = s.repo.add_model(model)

    outcome = faults.inject(s, ("deploy",), lambda: dumping_and_copying(s), kind)
    faults.wait_gone(outcome.server_pids, timeout=60)
    print(f"{kind}: rc {outcome.run.returncode}; failed requests {outcome.failed_requests}; time to consistent "
          f"{outcome.seconds_to_consistent}; {(outcome.run.stderr.strip().splitlines() or [''])[-1]}")
    assert outcome.consistent, f"{outcome.problems}\n{outcome.run.stdout}\n{outcome.run.stderr}"
    assert not s.lock.exists()
    assert faults.wait_until(lambda: not scratch_databases(s), timeout=10), scratch_databases(s)
    assert backup_problems(s) == []
    applied = {name for app, name in s.applied_migrations() if app == "accounts"}
    if kind == "sigint":  # the backup and the rehearsal finish, then the deploy stops and is undone
        assert "interrupted (Ctrl-C) and stopped before migrate" in outcome.run.stderr, outcome.run.stderr
        assert s.current_name() == live and not any(model.lower() in name for name in applied)
    else:  # the server side carried on without its client
        assert s.revision() == commit and any(model.lower() in name for name in applied)

    s.fab("deploy").ok()
    assert s.revision() == commit and not faults.inconsistencies(s, s.gunicorn.url)
    assert scratch_databases(s) == []
