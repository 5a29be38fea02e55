"""Settings with DATABASES aliases besides the configured one: deploytasks migrates, backs up and restores only
that one, and the checklist, `inv backup` and `inv restore` say so (they said nothing: a second database the
project routes an app to stayed unmigrated and out of every backup, and `inv check` passed)."""
from __future__ import annotations

import json

from tests._util import backup_json

ROUTER = '''class Router:
    """The analytics app lives in the analytics database; the replica gets no migrations."""

    def db_for_read(self, model, **hints):
        return "analytics" if model._meta.app_label == "analytics" else None

    db_for_write = db_for_read

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        if db == "replica":
            return False
        return (db == "analytics") == (app_label == "analytics")
'''

MODELS = '''from django.db import models


class Visit(models.Model):
    path = models.CharField(max_length=200)
'''

MIGRATION = '''from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel("Visit", [
            ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
            ("path", models.CharField(max_length=200)),
        ]),
    ]
'''

SETTINGS = '''
INSTALLED_APPS = [*INSTALLED_APPS, "analytics"]
DATABASES["analytics"] = {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "analytics.sqlite3"}
DATABASES["replica"] = {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "db.sqlite3"}
DATABASE_ROUTERS = ["analytics.routers.Router"]
'''


def with_analytics_database(site):
    """The site with an analytics app routed to its own SQLite database, and a replica alias of default."""
    add_analytics_database(site.root)
    return site


def add_analytics_database(root):
    """An analytics app in the project at `root`, routed to its own SQLite database; a replica alias of default."""
    app = root / "analytics"
    (app / "migrations").mkdir(parents=True)
    (app / "__init__.py").write_text("")
    (app / "migrations" / "__init__.py").write_text("")
    (app / "models.py").write_text(MODELS)
    (app / "routers.py").write_text(ROUTER)
    (app / "migrations" / "0001_initial.py").write_text(MIGRATION)
    settings = root / "mysite" / "settings.py"
    settings.write_text(settings.read_text() + SETTINGS)


def test_check_warns_that_only_the_configured_database_is_migrated_and_backed_up(migrated_site):
    site = with_analytics_database(migrated_site)
    result = site.inv("check", "--json")
    assert result.returncode == 0, result.stderr + result.stdout
    items = {item["item"]: item for item in json.loads(result.stdout)["items"]}
    row = items["other databases"]
    assert row["verdict"] == "WARN"
    assert row["detail"] == (
        "DATABASES also has analytics (tables of analytics); replica (no migrated tables: the routers allow none): "
        "deploytasks migrates, rehearses, backs up and restores only 'default'; migrating and backing up analytics "
        "is the project's (`manage.py migrate --database analytics`, on a server "
        "`fab manage \"migrate --database analytics\"`)")

    table = site.inv("check")
    assert table.returncode == 0, table.stderr + table.stdout
    assert "other databases" in table.stdout and "WARN" in table.stdout


def test_backup_names_the_databases_it_did_not_dump_in_its_output_and_manifest(migrated_site):
    site = with_analytics_database(migrated_site)
    result = site.inv("backup")
    assert result.returncode == 0, result.stderr + result.stdout
    assert ("WARN only 'default' was dumped: analytics, replica are not in this backup (deploytasks backs up one "
            "database: the others are the project's to back up)") in " ".join(result.stdout.split())

    manifest = backup_json(site)
    assert manifest["other_databases"] == ["analytics", "replica"]
    with open(manifest["path"] + ".json") as handle:
        assert json.load(handle)["other_databases"] == ["analytics", "replica"]

    restored = site.inv("restore", "--yes", manifest["path"])
    assert restored.returncode == 0, restored.stderr + restored.stdout
    assert ("WARN only 'default' is restored; analytics, replica keep their current data (deploytasks backs up "
            "and restores one database: the others may now hold data of another time)"
            ) in " ".join(restored.stdout.split())


def test_a_single_database_gets_no_such_row_or_field(migrated_site):
    result = migrated_site.inv("check", "--json")
    assert result.returncode == 0, result.stderr + result.stdout
    assert "other databases" not in [item["item"] for item in json.loads(result.stdout)["items"]]
    assert "other_databases" not in backup_json(migrated_site)
