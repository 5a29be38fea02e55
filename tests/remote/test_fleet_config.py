"""The fleet from the config file, on one shared PostgreSQL database, each host's sshd in its own mount namespace
(a private tmpfs on the one deploy path): `fab deploy` without -H deploys the
config's `hosts` (migrating once, on `migrate_host`), `fab -H prod …` the hosts a stage lists; a second deploy
while one runs is refused on every host; bad fleet settings are one line and change nothing. Three sshds on
127.0.0.140-142 (127.0.0.149: a host nobody answers for)."""
import os
import secrets
import threading
import time
from contextlib import ExitStack

import pytest

from tests.remote._fleet import make_fleet
from tests.remote.postgres import PG, SKIP, own_database, psycopg

ADDRESS = "127.0.0.140"
ADDRESSES = ["127.0.0.140", "127.0.0.141", "127.0.0.142"]
UNREACHABLE = "127.0.0.149"
PRIVATE_PATH = f"/srv/deploytasks-fleet-{secrets.token_hex(4)}"  # every host's `path`, each in its own mount
pytestmark = SKIP


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    with own_database() as (name, password), ExitStack() as stack:
        stack.callback(lambda: os.path.isdir(PRIVATE_PATH) and os.rmdir(PRIVATE_PATH))  # the mount point, last
        fleet = make_fleet(tmp_path_factory.mktemp("fleet-config"), ADDRESSES, stack, UNREACHABLE,
                           private_path=PRIVATE_PATH)
        stack.callback(fleet.stop)
        fleet.repo.requirements_change("psycopg[binary]")
        url = f"postgres://{name}:{password}@127.0.0.1:5432/{name}"
        for alias, host in fleet.hosts.items():
            (fleet.project / "deploy" / alias / ".env").write_text(
                f"DATABASE_URL={url}\nSECRET_KEY={host.secret_key}\nDEBUG=false\n")
        fleet.pg = name
        fleet.groups["prod"] = list(fleet.hosts)  # stages: {prod: [web1, web2, web3]}
        fleet.configure(hosts=list(fleet.hosts), migrate_host="web2")
        for alias in fleet.hosts:
            fleet.fab(alias, "setup").ok()
        fleet.fab("prod", "deploy").ok()  # the first deploy (an empty database: nothing to back up)
        yield fleet


def applied(fleet, migration) -> int:
    with psycopg.connect(**dict(PG, dbname=fleet.pg)) as connection:
        return connection.execute("SELECT count(*) FROM django_migrations WHERE app = 'accounts' AND name = %s",
                                  (migration,)).fetchone()[0]


def test_fab_deploy_without_h_deploys_the_configured_hosts_migrating_once_on_the_migrate_host(fleet):
    sha = fleet.repo.add_model("Configured")
    migration = fleet.repo.latest_migration()
    run = fleet.fab(None, "deploy").ok()
    [release] = set(fleet.currents().values())
    assert release is not None, run
    for name, host in fleet.hosts.items():
        assert host.revision() == sha and not host.lock.exists()
        assert f"[{name}] ✓ release {release}" in run.stdout
    assert applied(fleet, migration) == 1  # one row: migrated once, on the shared database
    assert run.stdout.count("migrations of the shared database, once, here") == 1
    assert "[web2] migrations of the shared database" in run.stdout
    assert [b for b in fleet.hosts["web2"].backups() if "pre-deploy" in b]
    assert not [b for b in fleet.hosts["web1"].backups() if "pre-deploy" in b]
    assert "is live on 3 hosts" in run.stdout



def test_each_host_has_its_own_deploy_path(fleet):
    """One `path` for all, each host's in its own mount namespace: this machine sees an empty mount point."""
    assert os.listdir(PRIVATE_PATH) == []
    web1, web2, web3 = fleet.hosts["web1"], fleet.hosts["web2"], fleet.hosts["web3"]
    assert len({web1.path, web2.path, web3.path}) == 3
    assert web1.releases() and web1.releases() == web2.releases() == web3.releases()
    (web1.path / "only-on-web1").write_text("x")
    assert not (web2.path / "only-on-web1").exists() and not (web3.path / "only-on-web1").exists()
    (web1.path / "only-on-web1").unlink()


def test_a_stage_listing_hosts_is_the_fleet_after_h(fleet):
    [release] = set(fleet.currents().values())
    run = fleet.fab("prod", "releases").ok()
    assert f"all 3 hosts on {release}" in run.stdout
    assert "web1" in run.stdout and "web2" in run.stdout and "web3" in run.stdout


def test_bad_fleet_settings_are_one_line_and_change_nothing(fleet):
    before = fleet.states()
    fleet.repo.code_change()
    fleet.fab(None, "deploy", env={"FABRIC_DEPLOYTASKS_STAGE": "prd"}).error(
        "deploytasks.stage 'prd' is not a stage in deploytasks.stages")
    fleet.configure(migrate_host="web9")
    try:
        fleet.fab(None, "deploy").error("deploytasks.migrate_host 'web9' is not one of the hosts (web1, web2, web3)")
        fleet.fab("prod", "deploy").error("deploytasks.migrate_host 'web9' is not one of the hosts (web1, web2, web3)")
    finally:
        fleet.configure(migrate_host="web2")
    fleet.fab(None, "setup").error("no host: this task runs on the hosts after -H")
    assert fleet.states() == before


def test_a_second_deploy_while_one_runs_is_refused_on_every_host(fleet):
    fleet.repo.code_change()
    fleet.configure(hooks={"before": {"collectstatic": ["sleep 6"]}})  # the first deploy holds its locks a while
    try:
        first = {}
        running = threading.Thread(target=lambda: first.update(run=fleet.fab(None, "deploy")))
        running.start()
        deadline = time.monotonic() + 120
        while not all(h.lock.exists() for h in fleet.hosts.values()) and time.monotonic() < deadline:
            time.sleep(0.1)
        second = fleet.fab("prod", "deploy", "--json")
        running.join()
    finally:
        fleet.configure(hooks={})
    assert second.returncode == 1 and "Traceback" not in second.stderr, second
    document = second.json()
    assert {h["host"]: h["result"] for h in document["hosts"]} == dict.fromkeys(fleet.hosts, "failed"), document
    assert all("is locked" in h["error"] for h in document["hosts"]), document
    first["run"].ok()  # the deploy that held the locks went through, untouched by the refused one
    assert len(set(fleet.currents().values())) == 1
    assert not any(h.lock.exists() for h in fleet.hosts.values())
