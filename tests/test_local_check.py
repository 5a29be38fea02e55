"""`inv check`: the pre-deployment checklist, on real copies of the example project."""
from __future__ import annotations

import json

from tests._util import assert_user_error

ITEMS = ["migrations", "model changes", "check --database", "conflicts", "migrate --plan", "migration safety", "schema"]

CONFLICT = '''from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("accounts", "0015_plan_index_userplan_unique")]
    operations = []
'''


def verdicts(site, expect_ok=True):
    result = site.inv("check", "--json")
    if expect_ok:
        assert result.returncode == 0, result.stderr + result.stdout
    else:
        assert_user_error(result, "the checklist has failures")
    data = json.loads(result.stdout)
    assert data["ok"] is expect_ok
    return {item["item"]: (item["verdict"], item["detail"]) for item in data["items"]}


def test_check_passes_on_the_migrated_example_and_shows_a_table(migrated_site):
    result = migrated_site.inv("check")
    assert result.returncode == 0, result.stderr + result.stdout
    assert result.stderr == ""
    assert "Pre-deployment checklist" in result.stdout
    rows = [line.split("│")[1:4] for line in result.stdout.splitlines() if line.startswith("│")]
    table = {item.strip(): (verdict.strip(), detail.strip()) for item, verdict, detail in rows if item.strip()}
    assert sorted(table) == sorted(ITEMS)
    assert {verdict for verdict, _ in table.values()} == {"PASS"}
    assert table["migrations"][1] == "34 applied, none pending"


def test_check_json_has_an_item_and_verdict_for_each_check(migrated_site):
    items = verdicts(migrated_site)
    assert list(items) == ITEMS
    assert all(verdict == "PASS" and detail for verdict, detail in items.values()), items


def test_pending_migrations_warn_but_pass(migrated_site):
    site = migrated_site
    back = site.manage("migrate", "accounts", "0014")
    assert back.returncode == 0, back.stderr
    items = verdicts(site)
    assert items["migrations"][0] == "WARN"
    assert "32 applied, 2 pending" in items["migrations"][1]
    assert "accounts.0015_plan_index_userplan_unique" in items["migrations"][1]
    assert items["migrate --plan"] == ("PASS", "2 to run: accounts.0015_plan_index_userplan_unique, "
                                               "accounts.0016_seed_default_plans_and_settings")
    assert "FAIL" not in {verdict for verdict, _ in items.values()}


def test_check_without_a_database_warns_and_does_not_create_one(site):
    items = verdicts(site)
    assert items["migrations"][0] == "WARN"
    assert items["migrations"][1].startswith("0 applied, 34 pending")
    assert items["migrate --plan"][1].startswith("34 to run: contenttypes.0001_initial")
    assert not site.db.exists()


def test_model_change_without_a_migration_fails(migrated_site):
    site = migrated_site
    models = site.root / "accounts" / "models.py"
    models.write_text(models.read_text() + (
        '\n\nPlan.add_to_class("promo_code", models.CharField(max_length=20, blank=True, default=""))\n'))
    items = verdicts(site, expect_ok=False)
    assert items["model changes"][0] == "FAIL"
    assert "accounts" in items["model changes"][1] and "makemigrations" in items["model changes"][1]
    assert items["migrations"][0] == "PASS"

    table = site.inv("check")
    assert_user_error(table, "the checklist has failures")
    assert "models changed without migrations in accounts" in table.stdout


def test_migration_conflict_fails_with_merge_advice(migrated_site):
    site = migrated_site
    (site.root / "accounts" / "migrations" / "0016_conflict.py").write_text(CONFLICT)
    items = verdicts(site, expect_ok=False)
    verdict, detail = items["conflicts"]
    assert verdict == "FAIL"
    assert "0016_conflict" in detail and "0016_seed_default_plans_and_settings" in detail
    assert "makemigrations --merge" in detail
    assert items["migrations"][0] == "WARN"  # the new file is not applied
