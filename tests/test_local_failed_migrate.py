"""A failed `inv migrate`/`inv setup` names the migration that failed and says what stayed applied (issue 10 §6)."""
from __future__ import annotations

from tests._util import assert_user_error

BOOM = """from django.db import migrations


def boom(apps, schema_editor):
    raise RuntimeError("deliberate failure in a test migration")


class Migration(migrations.Migration):
    dependencies = [("accounts", "0017_note")]
    operations = [migrations.RunPython(boom, migrations.RunPython.noop)]
"""
NOTE = """from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("accounts", "0016_seed_default_plans_and_settings")]
    operations = [migrations.CreateModel("Note", [("id", models.BigAutoField(primary_key=True, serialize=False))])]
"""


def add_failing_migrations(root):
    (root / "accounts" / "migrations" / "0017_note.py").write_text(NOTE)
    (root / "accounts" / "migrations" / "0018_boom.py").write_text(BOOM)


def applied(site):
    return [name for (name,) in site.query("SELECT name FROM django_migrations WHERE app = 'accounts' ORDER BY id")]


def test_a_failed_migrate_names_the_migration_and_what_stayed_applied(migrated_site):
    site = migrated_site
    add_failing_migrations(site.root)
    line = assert_user_error(site.inv("migrate"), "migrate failed at accounts.0018_boom",
                             "deliberate failure in a test migration",
                             "the 1 migration(s) this run applied before it stayed applied (accounts.0017_note)",
                             "accounts.0018_boom itself was rolled back (unless it sets atomic = False)")
    assert "MySQL" not in line  # SQLite's case only: the engine is known
    assert applied(site)[-1] == "0017_note", line


def test_a_failed_setup_on_an_empty_database_says_how_many_stayed(site):
    add_failing_migrations(site.root)
    line = assert_user_error(site.inv("setup", "--no-superuser"), "migrate failed at accounts.0018_boom")
    kept = len(site.query("SELECT * FROM django_migrations"))
    assert f"the {kept} migration(s) this run applied before it stayed applied" in line, line
