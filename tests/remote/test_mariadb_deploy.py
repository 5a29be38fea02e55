"""A MariaDB-backed deploy through the real sshd (PyMySQL as the driver): the first deploy migrates; a deploy with
a pending migration rehearses it on a scratch copy the pre-migration dump is replayed into as it is made;
`fab backup` streams down a zstd dump that matches its manifest and `fab restore` puts its rows back; and a fault while
the dump is copied into the rehearsal (fab SIGKILLed, its connection killed, Ctrl-C) leaves a consistent site,
whole backups and no scratch database (tests/remote/dump_faults.py)."""
from __future__ import annotations

import hashlib
import os
import re
import signal
import stat
import time

import pytest

from tests.remote import dump_faults, faults
from tests.remote.conftest import serving, wait_for
from tests.remote.mariadb import SKIP, deployed_on_mariadb, root, rows, scratch_databases

pytestmark = SKIP

ADDRESS = "127.0.0.197"
READABLE = "zstd -dc {} | tail -c 100 | grep -q 'Dump completed'".format  # a whole mysqldump


@pytest.fixture(scope="module")
def site(server):
    with deployed_on_mariadb(server) as s:
        with serving(s):
            yield s


def scratch(s):
    return [name for (name,) in scratch_databases(s.my["name"])]


def test_a_pending_migration_is_rehearsed_on_a_copy_replayed_as_the_backup_is_dumped(site):
    s = site
    assert ["3"] == rows(s, "SELECT COUNT(*) FROM accounts_plan")[0]  # the first deploy migrated
    s.repo.add_model("Ribbon")
    done = s.fab("deploy").ok()
    assert "1 migration(s) rehearsed on a copy (restored as the backup was dumped), then applied" in done.stdout
    assert rows(s, "SHOW TABLES LIKE 'accounts_ribbon'") == [["accounts_ribbon"]]
    assert scratch(s) == []
    assert s.gunicorn.health()["revision"] == s.revision()


def test_fab_backup_streams_a_zstd_mariadb_dump_down_its_one_command_and_restore_puts_it_back(site):
    s = site
    before = s.sshd.session_count()
    manifest = s.fab("backup", "--json").ok().json()
    assert s.sshd.session_count() - before == 1  # dumped, read back and downloaded in one command
    remote, local = manifest["path"], manifest["local_path"]
    assert manifest["engine"] == "mysql" and manifest["database"] == s.my["name"]
    assert local.endswith(".sql.zst") and manifest["compression"] == "zstd -1"
    assert len(manifest["migrations"]["accounts"]) >= 16
    assert os.path.dirname(remote) == str(s.path / "backups") and stat.S_IMODE(os.stat(remote).st_mode) == 0o600
    for copy in (remote, local):
        with open(copy, "rb") as handle:
            assert hashlib.sha256(handle.read()).hexdigest() == manifest["sha256"]
    assert s.my["password"] not in open(local + ".json").read()

    rows(s, "DELETE FROM accounts_plan")
    restored = s.fab("restore", local, "--yes").ok()
    assert rows(s, "SELECT COUNT(*) FROM accounts_plan")[0] == ["3"], restored.stdout
    assert s.my["password"] not in restored.stdout + restored.stderr


def with_ballast(s):
    """The site with about 40 MB that neither the dump nor the copy's replay can skip."""
    if not rows(s, "SHOW TABLES LIKE 'fault_ballast'"):
        rows(s, "CREATE TABLE fault_ballast (i INT PRIMARY KEY, body TEXT) AS WITH RECURSIVE "
                "a(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM a WHERE x < 400), "
                "b(y) AS (SELECT 1 UNION ALL SELECT y + 1 FROM b WHERE y < 100) "
                "SELECT x * 1000 + y AS i, REPEAT(MD5(x * 1000 + y), 32) AS body FROM a, b")
    return s


@pytest.mark.parametrize("kind", dump_faults.KINDS)
def test_a_fault_while_the_dump_is_replayed_into_the_rehearsal_leaves_a_consistent_site(site, kind):
    s = with_ballast(site)
    dump_faults.deploy_faulted_while_dumping(s, kind, lambda: scratch(s), READABLE)


def test_a_server_crash_while_the_dump_is_replayed_is_recovered_by_the_next_deploy(site):
    s = with_ballast(site)
    dump_faults.deploy_crashed_while_dumping(s, lambda: scratch(s), READABLE)


def test_ctrl_c_during_a_long_query_on_the_rehearsal_copy_kills_it(site):
    """A query MariaDB does not stop when its client goes (unlike SLEEP): only KILL QUERY ends it."""
    query = "SELECT BENCHMARK(100000000000, MD5('x'))"

    def running():
        return int(root(f"SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO = {query!r}")[0][0])
    dump_faults.deploy_interrupted_in_a_long_query_on_the_copy(site, site.my["name"], query, running,
                                                               lambda: scratch(site))


def load_pipelines(s):
    """{pid: ppid} of the restore's detached loads (`{ cat PREAMBLE && zstd -dc FILE; } | mysql …`) into the site's
    database running now (other tests' loads may run beside them)."""
    found = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as handle:
                argv = handle.read().decode(errors="replace")
            with open(f"/proc/{name}/stat") as handle:
                ppid = int(handle.read().rpartition(")")[2].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ("set -o pipefail" in argv and "deploytasks-my-pre-" in argv
                and re.search(r"--database=%s\b" % re.escape(s.my["name"]), argv)):
            found[int(name)] = ppid
    return {pid: ppid for pid, ppid in found.items() if ppid not in found}  # not the pipeline's subshells


def test_the_restores_server_process_killed_while_the_dump_loads_leaves_the_backup_loaded_whole(site):
    """An OOM kill of the restore's server process mid-load: the client it fed used to take the end of its input
    for the dump's end and keep half the tables; the load now runs in its own session to its end, and the lock is
    held until it has."""
    s = with_ballast(site)
    local = s.fab("backup", "--json").ok().json()["local_path"]
    rows(s, "DELETE FROM fault_ballast WHERE i % 2 = 0")
    rows(s, "DELETE FROM accounts_plan")
    proc = s.fab_background("restore", local, "--yes")
    try:
        assert wait_for(lambda: load_pipelines(s) or proc.poll() is not None, timeout=120)
        [(load, restorer)] = load_pipelines(s).items()
        with open(f"/proc/{load}/cmdline", "rb") as handle:
            command = handle.read().decode(errors="replace")
        preamble = set(re.findall(r"/\S*deploytasks-my-pre-\w+", command))  # removed as the load ends
        assert len(preamble) == 1 and all(os.path.exists(path) for path in preamble), command
        # the password: in a memory file the load inherits (on no disk), read by the client whenever it starts
        assert re.search(r"--defaults-extra-file=/dev/fd/\d+", command), command
        os.kill(restorer, signal.SIGKILL)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode != 0, out + err
        assert wait_for(lambda: not s.lock.exists(), timeout=120), "the lock stays held"
        assert not faults.alive(load), "the lock was freed while the load still ran"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert rows(s, "SELECT COUNT(*) FROM fault_ballast") == [["40000"]]
    assert rows(s, "SELECT COUNT(*) FROM accounts_plan") == [["3"]]
    assert not [path for path in preamble if os.path.exists(path)]
    rows(s, "DROP TABLE fault_ballast")


def test_a_migration_that_fails_half_way_on_the_live_database_names_what_mariadb_kept(site):
    """MySQL commits each DDL statement: a migration that created a table and then failed (on the live database
    only: its rehearsal on a copy passed) leaves that table after the undo. The error names it and the way out."""
    s = site
    before = rows(s, "SELECT name FROM django_migrations WHERE app = 'accounts' ORDER BY id")

    def halfway(work):
        s.repo.write_migration(
            "halfway", "def live_only(apps, schema_editor):\n"
                       "    if '_deploytasks_' not in schema_editor.connection.settings_dict['NAME']:\n"
                       "        raise RuntimeError('fails on the live database only')\n",
            "[migrations.RunSQL('CREATE TABLE ex_halfway (i INT)', 'DROP TABLE ex_halfway'),"
            " migrations.RunPython(live_only, migrations.RunPython.noop)]")

    s.repo.commit("a migration that fails half-way on the live database", halfway, branch="halfway")
    try:
        line = s.fab("deploy", "--revision", "halfway").error(
            "_halfway", "MySQL/MariaDB cannot roll back what the migration that stopped had done, and it stays: ",
            "ex_halfway", "`fab check --live-only` lists it; drop it by hand, or restore ", "-pre-deploy.sql.zst)")
        assert rows(s, "SHOW TABLES LIKE 'ex_halfway'") == [["ex_halfway"]], line  # what it says is there
        assert rows(s, "SELECT name FROM django_migrations WHERE app = 'accounts' ORDER BY id") == before
        assert s.gunicorn.health()["revision"] == s.revision()
        # deployed again as it is: the copy holds the leftover too, and the rehearsal's failure says where it came
        # from (it was a bare `Table 'ex_halfway' already exists`)
        s.fab("deploy", "--revision", "halfway").error(
            "failed in the rehearsal on a copy of the database, nothing was applied", "already exists",
            "the live database holds what this migration creates: an earlier migration that stopped half-way left it")
    finally:
        rows(s, "DROP TABLE IF EXISTS ex_halfway")


@pytest.mark.parametrize("kind", ["sigint", "kill-connection"])
def test_a_client_stopped_while_the_dump_loads_says_the_restore_may_have_finished_and_it_does(site, kind):
    """Ctrl-C or a lost connection once the server loads the dump: the load goes on without the client, so the
    client says it may have finished (it used to say `interrupted (Ctrl-C)` alone), and it does."""
    s = with_ballast(site)
    local = s.fab("backup", "--json").ok().json()["local_path"]
    rows(s, "DELETE FROM fault_ballast WHERE i % 2 = 0")
    outcome = faults.inject(s, ("restore", local, "--yes"), lambda: bool(load_pipelines(s)), kind, point_timeout=120)
    assert faults.wait_gone(outcome.server_pids, timeout=120)
    what = "interrupted (Ctrl-C)" if kind == "sigint" else "the connection to testhost was lost"
    assert f"{what} while the server restored {os.path.basename(local)}: the restore may have finished there" in \
        outcome.run.stderr, \
        outcome.run.stderr
    assert wait_for(lambda: not s.lock.exists() and not load_pipelines(s), timeout=120)
    assert rows(s, "SELECT COUNT(*) FROM fault_ballast") == [["40000"]]


def test_a_rollback_whose_unapply_stops_half_way_names_what_mariadb_dropped_and_the_backup(site):
    """A migration's reverse drops a table, then raises (on the live database: the rollback's unapply): MySQL
    committed the DROP, Django still records the migration applied, so re-applying cannot bring the table back.
    The undo says which table is missing and which backup (taken before the unapply) holds it. (Last in the module:
    this reverse keeps failing.)"""
    s = site
    s.repo.commit("a migration whose reverse stops half-way", lambda work: s.repo.write_migration(
        "unhalf", "def live_only(apps, schema_editor):\n"
                  "    if '_deploytasks_' not in schema_editor.connection.settings_dict['NAME']:\n"
                  "        raise RuntimeError('the reverse fails on the live database')\n",
        "[migrations.RunPython(migrations.RunPython.noop, live_only),"
        " migrations.RunSQL('CREATE TABLE ex_unhalf (i INT)', 'DROP TABLE ex_unhalf')]"))
    s.fab("deploy").ok()
    live = s.current_name()
    line = s.fab("rollback", "--yes").error(
        "the reverse fails on the live database", f"re-applied the migrations of {live}",
        "MySQL/MariaDB cannot roll back what the reverse of a migration that stopped had done, and it stays: ",
        "table ex_unhalf is missing (the migrations create it)", "put it back by hand, or restore ",
        "-pre-rollback.sql.zst)", f"{live} stays live")
    assert rows(s, "SHOW TABLES LIKE 'ex_unhalf'") == [], line  # what it says is gone
    assert s.current_name() == live and not s.lock.exists()
    assert s.gunicorn.health()["revision"] == s.revision()


def test_ctrl_c_once_the_load_started_leaves_the_upload_to_the_server_and_the_load_finishes(site):
    """Ctrl-C after the server started loading: fab removed the upload on its way out, and a load whose `zstd` had
    not opened it yet failed after its preamble, so the safety backup was loaded back and nothing was restored while
    fab said the restore may have finished (once in a few full runs). The load is held here before it reads the
    file, so that window is always open."""
    s = with_ballast(site)
    local = s.fab("backup", "--json").ok().json()["local_path"]
    rows(s, "DELETE FROM fault_ballast WHERE i % 2 = 0")
    proc = s.fab_background("restore", local, "--yes")
    try:
        assert wait_for(lambda: load_pipelines(s) or proc.poll() is not None, timeout=120)
        [(load, _restorer)] = load_pipelines(s).items()
        os.killpg(load, signal.SIGSTOP)
        with open(f"/proc/{load}/cmdline", "rb") as handle:
            [upload] = re.findall(r"-dc -q -- (\S+?)\"?;", handle.read().decode(errors="replace").replace("'", ""))
        proc.send_signal(signal.SIGINT)
        time.sleep(3)  # fab's clean-up of a stopped restore ran at once (it then waits for its server command)
        kept = os.path.exists(upload)
        os.killpg(load, signal.SIGCONT)
        out, err = proc.communicate(timeout=120)
        assert kept, "fab removed the upload the server's load had still to read"
        assert proc.returncode == 1 and "the restore may have finished there" in err, out + err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        try:
            os.killpg(load, signal.SIGCONT)
        except (NameError, ProcessLookupError):
            pass
    assert wait_for(lambda: not s.lock.exists() and not load_pipelines(s), timeout=120)
    assert rows(s, "SELECT COUNT(*) FROM fault_ballast") == [["40000"]]
    rows(s, "DROP TABLE fault_ballast")
