"""The migration safety lint (`inv check`, item "migration safety") on a fixture app with one migration per
rule (tests/_lint_app.py), on the example project's SQLite database with the real `inv`."""
from __future__ import annotations

import json

import pytest

from tests._lint_app import FLAGGED, add_app, add_steps
from tests._util import assert_user_error


@pytest.fixture
def lint_site(site):
    add_app(site.root)
    migrated = site.manage("migrate")
    assert migrated.returncode == 0, migrated.stderr
    return site


def checklist(site, *args):
    result = site.inv("check", "--json", *args)
    document = json.loads(result.stdout)
    return result, {item["item"]: item for item in document["items"]}


def by_migration(item):
    found = {}
    for finding in item["findings"]:
        found.setdefault(finding["migration"], []).append(finding["rule"])
    return found


def test_no_pending_migrations_pass_without_noise(lint_site):
    result, items = checklist(lint_site)
    assert result.returncode == 0, result.stderr
    assert items["migration safety"] == {"item": "migration safety", "verdict": "PASS",
                                         "detail": "no pending operation flagged", "findings": []}


def test_each_rule_is_flagged_once_with_why_and_what_to_do_instead(lint_site):
    add_steps(lint_site.root)
    result, items = checklist(lint_site)
    assert result.returncode == 0, result.stderr  # WARN by default
    item = items["migration safety"]
    assert item["verdict"] == "WARN"
    expected = {name: [rule] for name, rule in FLAGGED.items() if rule != "index-locks"}  # PostgreSQL only
    assert by_migration(item) == expected
    for finding in item["findings"]:
        assert finding["why"] and finding["instead"] and finding["operation"]
    removal = next(f for f in item["findings"] if f["rule"] == "remove-field")
    assert removal["operation"] == "Remove field legacy from item"
    assert "two releases" in removal["instead"] and "SeparateDatabaseAndState" in removal["instead"]


def test_on_postgresql_indexes_without_concurrently_are_flagged_too(lint_site):
    add_steps(lint_site.root)
    script = ("import json\nfrom django.db import connection\nfrom django.db.migrations.executor import MigrationExecutor\n"
              "from deploytasks_lint import lint\n"
              "executor = MigrationExecutor(connection)\n"
              "plan = executor.migration_plan(executor.loader.graph.leaf_nodes())\n"
              "print(json.dumps(lint(executor.loader, plan, 'postgresql')))\n")
    import shutil

    import deploytasks.server.migration_lint as module
    shutil.copyfile(module.__file__, lint_site.root / "deploytasks_lint.py")
    done = lint_site.manage("shell", "-c", script)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert by_migration(report) == {name: [rule] for name, rule in FLAGGED.items()}


def test_strict_migrations_turn_findings_into_a_failure(lint_site):
    add_steps(lint_site.root)
    lint_site.configure(strict_migrations=True)
    result, items = checklist(lint_site)
    assert result.returncode == 1
    assert items["migration safety"]["verdict"] == "FAIL"


def test_reviewed_migrations_are_exempt_by_marker_or_by_config(lint_site):
    add_steps(lint_site.root, marked={"0002_remove_field"})
    lint_site.configure(strict_migrations=True, safe_migrations=[
        "lintcheck.0003_delete_model", "lintcheck.0004", "lintcheck.0005", "lintcheck.0006", "lintcheck.0007",
        "lintcheck.0008", "lintcheck.0009", "lintcheck.0010"])
    result, items = checklist(lint_site)
    assert result.returncode == 0, result.stdout + result.stderr
    item = items["migration safety"]
    assert item["verdict"] == "PASS" and item["findings"] == []
    assert "8 reviewed as safe" in item["detail"] or "9 reviewed as safe" in item["detail"]
    assert "lintcheck.0002_remove_field" in item["detail"]


def test_a_migration_that_fails_to_import_is_one_clear_line(lint_site):
    add_steps(lint_site.root)
    (lint_site.root / "lintcheck" / "migrations" / "0013_broken.py").write_text(
        "from django.db import migrations\nimport no_such_module\n")
    result = lint_site.inv("check")
    assert_user_error(result, "no_such_module")


def test_the_plans_own_tables_even_renamed_and_a_new_database_are_not_flagged(lint_site):
    site = lint_site
    add_steps(site.root)
    (site.root / "lintcheck" / "migrations" / "0014_add_to_renamed.py").write_text(
        "from django.db import migrations, models\n\n\nclass Migration(migrations.Migration):\n"
        '    dependencies = [("lintcheck", "0013_slug_unique")]\n'
        '    operations = [migrations.AddField("new", "rank", models.IntegerField(default=0))]\n')
    models = site.root / "lintcheck" / "models.py"
    models.write_text(models.read_text().replace("class New(models.Model):\n    pass",
                                                 "class New(models.Model):\n    rank = models.IntegerField(default=0)"))
    unapplied = site.manage("migrate", "lintcheck", "zero")
    assert unapplied.returncode == 0, unapplied.stderr
    result, items = checklist(site)  # lintcheck's tables come with the plan: no live code uses them, renamed or not
    assert result.returncode == 0, result.stderr
    assert by_migration(items["migration safety"]) == {"lintcheck.0010_run_python": ["irreversible"]}

    site.db.unlink()  # a new database: nothing applied, nothing live
    result, items = checklist(site)
    assert result.returncode == 0, result.stderr
    assert items["migration safety"] == {
        "item": "migration safety", "verdict": "PASS", "findings": [],
        "detail": "no migration applied yet: nothing live uses the database, nothing to flag"}
