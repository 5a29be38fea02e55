"""Squashed migrations (issue 10 §3): check, status, backups, restore and unapply plans read them as Django does,
for a database migrated before the squash and one migrated after it; no false warning anywhere."""
from __future__ import annotations

import json

import pytest

from tests._util import Site, copy_example
from tests.squashed_app import LATER, REPLACED, SQUASHED, add_ledger


def run_json(site, *args):
    result = site.inv(*args, "--json")
    assert result.returncode == 0, result.stderr + result.stdout
    return json.loads(result.stdout)


def recorded(site):
    return [name for (name,) in site.query("SELECT name FROM django_migrations WHERE app = 'ledger' ORDER BY id")]


def assert_no_false_warning(site):
    check = run_json(site, "check")
    verdicts = {item["item"]: item for item in check["items"]}
    assert "unknown migrations" not in verdicts, verdicts
    assert verdicts["migrations"]["verdict"] == "PASS", verdicts["migrations"]
    assert check["ok"]
    ledger = {row["app"]: row for row in run_json(site, "migrations.status")["apps"]}["ledger"]
    assert ledger["pending"] == 0 and ledger["leaf"] == LATER


@pytest.fixture
def ledger_site(tmp_path, shared_venv):
    site = Site(copy_example(tmp_path / "site"), shared_venv)
    add_ledger(site.root, "squashed")
    return site


def test_a_database_migrated_before_the_squash(tmp_path, shared_venv):
    site = Site(copy_example(tmp_path / "site"), shared_venv)
    add_ledger(site.root, "before")
    assert site.inv("migrate").returncode == 0
    assert recorded(site) == REPLACED

    add_ledger(site.root, "squashed")
    check = run_json(site, "check")
    verdicts = {item["item"]: item for item in check["items"]}
    assert "unknown migrations" not in verdicts
    assert verdicts["migrations"]["detail"].endswith(f"1 pending: ledger.{LATER}"), verdicts["migrations"]
    plan = run_json(site, "migrations.plan")["plan"]
    assert [f"{p['app']}.{p['name']}" for p in plan] == [f"ledger.{LATER}"]

    assert site.inv("migrate").returncode == 0
    assert_no_false_warning(site)
    add_ledger(site.root, "trimmed")  # the replaced files deleted: their names stay in the database
    assert_no_false_warning(site)


def test_a_database_migrated_after_the_squash_backs_up_and_restores_without_unknowns(ledger_site):
    site = ledger_site
    assert site.inv("migrate").returncode == 0
    assert recorded(site) == REPLACED + [LATER, SQUASHED]  # Django records the squash last
    assert_no_false_warning(site)

    manifest = run_json(site, "backup")
    listing = site.inv("backups")
    assert listing.returncode == 0 and "ledger 0004" in listing.stdout, listing.stdout

    restored = site.inv("restore", manifest["path"], "--yes")
    assert restored.returncode == 0, restored.stderr + restored.stdout
    assert "unknown to this code" not in restored.stdout
    ledger_row = next(line for line in restored.stdout.splitlines() if "ledger" in line)
    assert LATER in ledger_row and "same as code" in ledger_row, ledger_row

    add_ledger(site.root, "trimmed")
    again = site.inv("restore", manifest["path"], "--yes")
    assert again.returncode == 0 and "unknown to this code" not in again.stdout, again.stdout
    assert_no_false_warning(site)


def test_unapply_plans_follow_the_graph_and_stop_at_the_irreversible_squash(ledger_site):
    site = ledger_site
    assert site.inv("migrate").returncode == 0
    refused = site.inv("migrations.migrate", "ledger", "zero", "--yes")
    assert refused.returncode == 1
    assert f"ledger.{SQUASHED} is irreversible" in refused.stderr, refused.stderr

    back = site.inv("migrations.migrate", "ledger", SQUASHED, "--yes")
    assert back.returncode == 0, back.stderr + back.stdout
    assert f"unapplies 1 migration(s): ledger.{LATER}" in back.stdout
    assert recorded(site) == REPLACED + [SQUASHED]
    ledger = {row["app"]: row for row in run_json(site, "migrations.status")["apps"]}["ledger"]
    assert ledger["applied"] == 1 and ledger["pending"] == 1
