"""A squashed migration applied on a fresh database (Django runs the squash, not the migrations it replaces) is
recorded by the release under its own name only: a rollback, and the undo of a failed deploy, keep its app's
tables and rows and unapply only what came after."""
from tests.squashed_app import LEDGER, REPLACED, SQUASHED, add_ledger

ADDRESS = "127.0.0.199"


def ledger_rows(s):
    return s.query("SELECT note FROM ledger_entry")


def test_a_rollback_keeps_an_app_whose_squash_is_its_last_migration(deployed):
    s = deployed
    s.repo.commit("ledger: squash alone", lambda work: add_ledger(work, "squash alone"))
    s.fab("deploy").ok()
    with_ledger = s.current_name()
    assert [name for app, name in s.applied_migrations() if app == LEDGER] == REPLACED + [SQUASHED]
    assert ledger_rows(s) == [("opening balance",)]

    s.repo.add_model("Coupon")
    s.fab("deploy").ok()
    assert "accounts_coupon" in s.tables()

    plan = s.fab("rollback", "--yes").ok()
    assert "unapply accounts.0" in plan.stdout and "ledger" not in plan.stdout.split("unapply", 1)[1].split("\n")[0]
    assert s.current_name() == with_ledger
    assert "accounts_coupon" not in s.tables()
    assert ledger_rows(s) == [("opening balance",)]  # was dropped with its table: ledger unapplied to zero
    assert [name for app, name in s.applied_migrations() if app == LEDGER] == REPLACED + [SQUASHED]
