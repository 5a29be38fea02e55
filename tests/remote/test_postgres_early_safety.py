"""`fab restore` of a PostgreSQL backup takes its safety dump while the upload arrives (server/early_safety.py),
and keeps it only when no transaction wrote before the restore's write locks; under writes the safety dump is
taken under the locks, and no committed row is lost either way."""
import json
import os
import time

import pytest

from tests._util import CommitWriter, command_lines, dumped_tokens
from tests.remote.postgres import SKIP, deployed_on_postgres, psycopg, rows

ADDRESS = "127.0.0.190"
pytestmark = SKIP
EARLY = "the restore: taken just before its write locks, with no transaction writing in between"


@pytest.fixture(scope="module")
def pg_deployed(server):
    with deployed_on_postgres(server) as deployed:
        rows(deployed, "CREATE TABLE fault_writes (id serial PRIMARY KEY, token text UNIQUE)")
        rows(deployed, "CREATE TABLE fault_ballast AS SELECT g AS n, md5(g::text) || repeat('x', 500) AS data "
                        "FROM generate_series(1, 100000) g")  # a dump and an upload that take a moment
        yield deployed


def backed_up(s):
    return s.fab("backup", "--json").ok().json()["local_path"]


def safety_backup(s, restored):
    [line] = [line for line in restored.stdout.splitlines() if "safety backup of what was there:" in line]
    path = line.split(":", 1)[1].strip()
    return path, json.loads(open(path + ".json").read())


def dump_tools_running(s):
    """PIDs of pg_dump/pg_restore processes still at this module's database or deploy path (an early dump not
    stopped). Debian's pg_dump is a Perl wrapper: the tool's name may be the second word."""
    names = (s.pg["name"].encode(), str(s.path).encode())
    return [pid for pid, argv in command_lines()
            if any(word.endswith((b"pg_dump", b"pg_restore")) for word in argv[:2])
            and any(name in arg for arg in argv for name in names)]


def leftovers(s):
    uploaded = s.path / "backups" / "uploaded"
    return sorted(os.listdir(uploaded)) if uploaded.exists() else []


def test_with_nothing_writing_the_dump_taken_during_the_upload_is_the_safety_backup(pg_deployed):
    """Transaction ids are the cluster's: a test writing to another database of this PostgreSQL meanwhile makes
    the restore dump again under its locks (safe, only slower), so this tries a few times."""
    s = pg_deployed
    local = backed_up(s)
    for attempt in range(6):
        token = f"after the backup {attempt}"
        rows(s, "INSERT INTO fault_writes (token) VALUES (%s)", token)
        restored = s.fab("restore", local, "--yes").ok()
        assert rows(s, "SELECT token FROM fault_writes") == []  # the backup's data is back
        path, manifest = safety_backup(s, restored)
        assert dumped_tokens(path) == {token}  # what the restore replaced is in the safety backup, either way
        assert leftovers(s) == [] and not s.lock.exists()
        if manifest["consistent_with"] == EARLY:
            break
        time.sleep(2)
    assert manifest["consistent_with"] == EARLY and os.path.dirname(path) == str(s.path / "backups")


def test_under_writes_the_early_dump_is_discarded_and_no_committed_row_is_lost(pg_deployed):
    s = pg_deployed
    local = backed_up(s)

    def insert(token):
        rows(s, "INSERT INTO fault_writes (token) VALUES (%s)", token)

    with CommitWriter(insert, psycopg.Error) as writer:
        time.sleep(1)
        restored = s.fab("restore", local, "--yes").ok()
        time.sleep(1)
    path, manifest = safety_backup(s, restored)
    assert manifest["consistent_with"] != EARLY  # taken again under the write locks
    present = {token for (token,) in rows(s, "SELECT token FROM fault_writes")} | dumped_tokens(path)
    committed = set(writer.committed)
    lost = committed - present
    print(f"writer: {len(committed)} committed, {writer.failed} failed, {len(lost)} lost")
    assert len(committed) > 50 and not lost, f"{len(lost)} of {len(committed)} committed rows are lost"
    assert leftovers(s) == [] and not s.lock.exists()
    assert dump_tools_running(s) == []


def test_a_restore_refused_at_its_confirmation_leaves_no_early_dump(pg_deployed):
    s = pg_deployed
    local = backed_up(s)
    before = sorted(os.listdir(s.path / "backups"))
    refused = s.fab("restore", local)  # no TTY and no --yes: the confirmation refuses
    assert refused.returncode != 0
    deadline = time.monotonic() + 10
    while leftovers(s) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert leftovers(s) == [] and not s.lock.exists()
    assert sorted(os.listdir(s.path / "backups")) == before


def test_fab_killed_while_the_early_dump_runs_leaves_the_database_as_it_was_and_frees_the_lock(pg_deployed):
    """SIGKILL of fab once the early dump has started: the lock guard waits for the dump, then removes it with the
    upload and frees the lock; nothing was restored."""
    s = pg_deployed
    local = backed_up(s)
    rows(s, "INSERT INTO fault_writes (token) VALUES ('still here')")
    before = rows(s, "SELECT token FROM fault_writes ORDER BY id")
    uploaded = s.path / "backups" / "uploaded"
    proc = s.fab_background("restore", local, "--yes")
    try:
        deadline = time.monotonic() + 120
        while not list(uploaded.glob("early-safety-*")) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert proc.poll() is None, proc.communicate()
        proc.kill()
        proc.communicate()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    deadline = time.monotonic() + 60
    while (s.lock.exists() or leftovers(s)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not s.lock.exists() and leftovers(s) == []
    assert rows(s, "SELECT token FROM fault_writes ORDER BY id") == before and ("still here",) in before
    assert dump_tools_running(s) == []
    s.fab("restore", local, "--yes").ok()  # nothing is left locked or half done
