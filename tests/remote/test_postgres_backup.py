"""`fab backup` / `fab restore` of a PostgreSQL-backed deploy, through the real sshd: the dump is made on the
server with the password in a private PGPASSFILE, downloaded and verified, and restored in one transaction."""
import json
import os
import stat

import pytest

from tests._util import on_disk
from tests.remote.postgres import SKIP, deployed_on_postgres, rows

ADDRESS = "127.0.0.7"
pytestmark = SKIP


@pytest.fixture(scope="module")
def pg_deployed(server):
    with deployed_on_postgres(server) as deployed:
        yield deployed



def test_fab_backup_and_restore_of_a_postgresql_database(pg_deployed, sha256, argv_watch):
    s = pg_deployed
    plans = rows(s, "SELECT id, name FROM accounts_plan ORDER BY id")
    assert len(plans) == 3  # migrated by the deploy
    with argv_watch() as seen:
        backup = s.fab("backup", "--json").ok()
    manifest = backup.json()
    remote = manifest["path"]
    assert os.path.dirname(remote) == str(s.path / "backups") and remote.endswith(".dump.zst")
    assert manifest["engine"] == "postgresql" and manifest["database"] == s.pg["name"]
    assert stat.S_IMODE(os.stat(remote).st_mode) == 0o600 and sha256(remote) == manifest["sha256"]
    assert len(manifest["migrations"]["accounts"]) == 16
    local = manifest["local_path"]
    assert sha256(local) == manifest["sha256"] and json.loads(open(local + ".json").read())["engine"] == "postgresql"
    assert "pg_restore" in backup.stdout
    assert on_disk(remote) and on_disk(local)  # fsynced before the backup was reported done

    rows(s, "DELETE FROM accounts_plan")
    with argv_watch() as seen_restore:
        restore = s.fab("restore", local, "--yes").ok()
    assert rows(s, "SELECT id, name FROM accounts_plan ORDER BY id") == plans
    assert "read back when this machine made it" in restore.stdout  # the server's own dump: not read whole again
    safety = [name for name in os.listdir(s.path / "backups") if name.endswith("-pre-restore.dump.zst")]
    assert len(safety) == 1 and safety[0] in restore.stdout
    safety_manifest = json.loads((s.path / "backups" / (safety[0] + ".json")).read_text())
    assert safety_manifest["compression"] == "zstd -1"  # pg_dump --compress=0 piped through zstd, as every dump
    assert not os.listdir(s.path / "backups" / "uploaded")  # the upload is gone once restored
    assert not s.lock.exists()

    password = s.pg["password"]
    for output in (backup.stdout, backup.stderr, restore.stdout, restore.stderr):
        assert password not in output
    assert not [line for line in seen | seen_restore if password in line]
    assert not pgpass_files_holding(password)  # other tests' backups may have theirs there meanwhile


def test_deploy_and_rollback_back_the_postgresql_database_up_before_migrating(pg_deployed):
    s = pg_deployed
    s.repo.add_model("Voucher")
    before = set(os.listdir(s.path / "backups"))
    deploy = s.fab("deploy").ok()
    [pre_deploy] = [name for name in set(os.listdir(s.path / "backups")) - before if name.endswith("-pre-deploy.dump.zst")]
    assert pre_deploy in deploy.stdout and "applied" in deploy.stdout
    manifest = json.loads((s.path / "backups" / (pre_deploy + ".json")).read_text())
    assert manifest["engine"] == "postgresql" and "accounts_voucher" not in json.dumps(manifest["migrations"])
    assert not [name for name in manifest["migrations"]["accounts"] if "voucher" in name]
    assert rows(s, "SELECT count(*) FROM accounts_voucher") == [(0,)]

    before = set(os.listdir(s.path / "backups"))
    s.fab("rollback", "--yes").ok()
    assert [name for name in set(os.listdir(s.path / "backups")) - before if name.endswith("-pre-rollback.dump.zst")]
    assert rows(s, "SELECT to_regclass('public.accounts_voucher')") == [(None,)]  # unapplied


def pgpass_files_holding(password) -> list:
    """The private password files left in /tmp that hold `password`."""
    left = []
    for name in os.listdir("/tmp"):
        if name.startswith("deploytasks-pgpass-"):
            try:
                with open(os.path.join("/tmp", name)) as handle:
                    if password in handle.read():
                        left.append(name)
            except OSError:  # removed meanwhile
                pass
    return left
