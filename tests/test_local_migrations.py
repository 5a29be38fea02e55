"""`inv migrations.*`: status, plan, sql, history, migrate (backwards with a backup), reset."""
from __future__ import annotations

import datetime
import json
from pathlib import Path

from tests._util import assert_user_error, backup_names, sqlite_rows

ACCOUNTS = sorted(p.stem for p in (Path(__file__).resolve().parents[1] / "example/accounts/migrations").glob("0*.py"))
SEEDED = ["elite", "pro", "starter"]


def accounts_applied(site):
    return [name for (name,) in site.query("SELECT name FROM django_migrations WHERE app = 'accounts' ORDER BY id")]


def json_of(site, *args):
    result = site.inv(*args, "--json")
    assert result.returncode == 0, result.stderr + result.stdout
    return json.loads(result.stdout)


def test_status_json_counts(migrated_site):
    assert len(ACCOUNTS) == 16
    data = json_of(migrated_site, "migrations.status")
    apps = {row["app"]: row for row in data["apps"]}
    assert apps["accounts"] == {"app": "accounts", "files": 16, "applied": 16, "pending": 0,
                                "leaf": "0016_seed_default_plans_and_settings", "conflicts": ""}
    assert {app: row["files"] for app, row in apps.items()} == {
        "accounts": 16, "admin": 3, "auth": 12, "contenttypes": 2, "sessions": 1}
    assert data["pending"] == [] and data["conflicts"] == {}
    assert data["database"]["vendor"] == "sqlite"


def test_plan_on_an_unmigrated_database_lists_accounts_in_order(site):
    data = json_of(site, "migrations.plan")
    plan = data["plan"]
    assert len(plan) == 34
    assert [p["name"] for p in plan if p["app"] == "accounts"] == ACCOUNTS
    assert not any(p["backwards"] for p in plan) and all(p["reversible"] for p in plan)
    first_accounts = next(i for i, p in enumerate(plan) if p["app"] == "accounts")
    auth_names = [p["name"] for p in plan[:first_accounts] if p["app"] == "auth"]
    assert auth_names[-1] == "0012_alter_user_first_name_max_length"  # accounts.0001 depends on it

    table = site.inv("migrations.plan")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    positions = [next(i for i, line in enumerate(lines) if f"accounts.{name}" in line) for name in ACCOUNTS]
    assert positions == sorted(positions)
    assert not site.db.exists()


def test_sql_prints_exactly_what_sqlmigrate_prints(site):
    result = site.inv("migrations.sql", "accounts", "0001")
    assert result.returncode == 0, result.stderr
    assert 'CREATE TABLE "accounts_plan"' in result.stdout
    assert 'CREATE TABLE "accounts_user"' in result.stdout
    # byte for byte: long statements stay on one line, nothing is read as markup
    assert result.stdout == site.manage("sqlmigrate", "accounts", "0001_initial").stdout
    backwards = site.inv("migrations.sql", "accounts", "0010_plan", "--backwards")
    assert backwards.returncode == 0, backwards.stderr
    assert 'DROP TABLE "accounts_plan"' in backwards.stdout
    assert backwards.stdout == site.manage("sqlmigrate", "accounts", "0010_plan_slug", "--backwards").stdout


def test_history_lists_applied_migrations_with_dates(migrated_site):
    history = json_of(migrated_site, "migrations.history")["history"]
    assert len(history) == 34
    for row in history:
        assert datetime.datetime.fromisoformat(row["applied"]).year >= 2000, row
    accounts = json_of(migrated_site, "migrations.history", "--app", "accounts")["history"]
    assert [row["migration"] for row in accounts] == ACCOUNTS
    assert {row["app"] for row in accounts} == {"accounts"}

    table = migrated_site.inv("migrations.history", "--app", "accounts")
    assert table.returncode == 0, table.stderr
    day = accounts[0]["applied"][:10]
    assert sum(1 for line in table.stdout.splitlines() if day in line and "accounts" in line) == 16


def test_migrate_backwards_backs_up_first_then_forwards_again(migrated_site):
    site = migrated_site
    result = site.inv("migrations.migrate", "accounts", "0010", "--yes")
    assert result.returncode == 0, result.stderr + result.stdout
    assert "unapplies 6 migration(s)" in result.stdout
    assert "6 unapplied" in result.stdout
    assert accounts_applied(site) == ACCOUNTS[:10]
    assert "slug" in {row[1] for row in site.query("PRAGMA table_info(accounts_plan)")}  # added by 0010
    assert "maintenance_mode" not in {row[1] for row in site.query("PRAGMA table_info(accounts_sitesettings)")}

    [name] = backup_names(site)
    assert name.endswith("-pre-migrate.sqlite3")
    backup = site.root / "backups" / name
    manifest = json.loads((site.root / "backups" / (name + ".json")).read_text())
    assert manifest["migrations"]["accounts"] == ACCOUNTS  # taken before anything was unapplied
    assert sqlite_rows(backup, "SELECT slug FROM accounts_plan ORDER BY slug") == [(s,) for s in SEEDED]

    forwards = site.inv("migrations.migrate", "accounts", "latest")
    assert forwards.returncode == 0, forwards.stderr + forwards.stdout
    assert "6 applied" in forwards.stdout
    assert accounts_applied(site) == ACCOUNTS
    assert site.query("SELECT slug FROM accounts_plan ORDER BY slug") == [(s,) for s in SEEDED]
    assert backup_names(site) == [name]  # forwards takes no backup

    already = site.inv("migrations.migrate", "accounts", "0016")
    assert already.returncode == 0, already.stderr
    assert "already at 0016_seed_default_plans_and_settings" in already.stdout


def test_migrate_backwards_without_yes_and_without_tty_refuses(migrated_site):
    site = migrated_site
    before = site.fingerprint()
    result = site.inv("migrations.migrate", "accounts", "0010")
    assert_user_error(result, "refusing without confirmation", "--yes")
    assert site.fingerprint() == before
    assert accounts_applied(site) == ACCOUNTS
    assert backup_names(site) == []


def test_dry_migrate_backwards_changes_nothing(migrated_site):
    site = migrated_site
    before = site.fingerprint()
    result = site.inv("--dry", "migrations.migrate", "accounts", "0005", "--yes")
    assert result.returncode == 0, result.stderr + result.stdout
    dry = [line for line in result.stdout.splitlines() if line.startswith("dry-run:")]
    assert any("manage.py migrate --noinput accounts 0005_payment" in line for line in dry), dry
    assert any("back up" in line for line in dry), dry
    assert site.fingerprint() == before
    assert backup_names(site) == []


def test_reset_rebuilds_the_app_after_a_backup(migrated_site):
    site = migrated_site
    made = site.manage("shell", "-c", (
        "from accounts.models import Plan, User; "
        "User.objects.create_user('alice', password='x-long-password-1'); "
        "Plan.objects.create(name='Custom', slug='custom', price=5)"))
    assert made.returncode == 0, made.stderr
    assert site.query("SELECT count(*) FROM accounts_plan") == [(4,)]

    result = site.inv("migrations.reset", "accounts", "--yes")
    assert result.returncode == 0, result.stderr + result.stdout
    [name] = backup_names(site)
    assert name.endswith("-pre-reset.sqlite3")
    backup = site.root / "backups" / name
    assert sqlite_rows(backup, "SELECT username FROM accounts_user") == [("alice",)]
    assert sqlite_rows(backup, "SELECT count(*) FROM accounts_plan") == [(4,)]

    assert site.query("SELECT count(*) FROM accounts_user") == [(0,)]
    assert site.query("SELECT slug FROM accounts_plan ORDER BY slug") == [(s,) for s in SEEDED]  # 0016 seeds again
    assert site.query("SELECT count(*) FROM accounts_sitesettings") == [(1,)]
    assert accounts_applied(site) == ACCOUNTS
    # admin depends on the user model: unapplying accounts unapplied it too, reset must put it back
    assert site.query("SELECT count(*) FROM django_migrations") == [(34,)]
    assert site.query("SELECT count(*) FROM sqlite_master WHERE name = 'django_admin_log'") == [(1,)]


def test_reset_without_yes_refuses(migrated_site):
    site = migrated_site
    before = site.fingerprint()
    assert_user_error(site.inv("migrations.reset", "accounts"), "refusing without confirmation")
    assert site.fingerprint() == before
    assert backup_names(site) == []


def test_migrating_to_zero_counts_the_migrations_of_apps_that_depend_on_it(migrated_site):
    """admin's migrations depend on the custom user model: Django unapplies them too, and says so first."""
    site = migrated_site
    before = site.fingerprint()
    result = site.inv("--dry", "migrations.migrate", "accounts", "zero", "--yes")
    assert result.returncode == 0, result.stderr + result.stdout
    assert "unapplies 19 migration(s)" in result.stdout
    assert "admin.0001_initial" in result.stdout and "accounts.0001_initial" in result.stdout
    assert site.fingerprint() == before
