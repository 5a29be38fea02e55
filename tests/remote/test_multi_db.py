"""Settings with a second DATABASES alias, on a server: `fab check` (both releases), the deploy's gate, `fab backup`
and `fab restore` name the alias deploytasks neither migrates nor backs up (they said nothing: a first deploy was
"live" while the analytics database had no tables, and backups and restores covered `default` alone, unsaid)."""
import json

from tests.test_local_multi_db import add_analytics_database

ADDRESS = "127.0.1.150"
WARNED = "only 'default' is restored; analytics, replica keep their current data"


def items(section) -> dict:
    return {item["item"]: item for item in section["items"]}


def test_check_deploy_backup_and_restore_name_the_other_databases(deployed):
    s = deployed
    s.repo.commit("an analytics database", add_analytics_database)

    check = s.fab("check", "--json").json()
    assert "other databases" not in items(check["live"])
    row = items(check["next"])["other databases"]
    assert row["verdict"] == "WARN"
    assert row["detail"].startswith("DATABASES also has analytics (tables of analytics); replica (no migrated tables")
    assert "`fab manage \"migrate --database analytics\"`" in row["detail"]

    deploy = s.fab("deploy").ok()
    assert "WARN other databases: DATABASES also has analytics" in " ".join(deploy.stdout.split()), deploy.stdout
    assert items(s.fab("check", "--live-only", "--json").ok().json())["other databases"]["verdict"] == "WARN"

    backup = s.fab("backup", "--json").ok()
    manifest = backup.json()
    assert manifest["other_databases"] == ["analytics", "replica"]
    assert "WARN only 'default' was dumped: analytics, replica are not in this backup" in " ".join(
        backup.stderr.split()), backup.stderr

    restored = s.fab("restore", manifest["file"], "--yes").ok()
    assert WARNED in " ".join(restored.stdout.split()), restored.stdout



def test_a_pre_deploy_backup_names_the_other_databases_too(deployed):
    """A `fab backup`'s manifest names the aliases it did not dump; a deploy's own backup, taken before its
    migrations, did not name them."""
    s = deployed
    s.repo.add_model("Gadget")
    s.fab("deploy").ok()
    newest = [name for name in s.backups() if name.endswith("-pre-deploy.sqlite3.json")][-1]
    manifest = json.loads((s.path / "backups" / newest).read_text())
    assert manifest["reason"] and manifest["other_databases"] == ["analytics", "replica"], manifest
