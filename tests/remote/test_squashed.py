"""Squashed migrations on a server (issue 10 §3): deploys before and after the squash, `fab check`, `fab backups`
and `fab rollback` (whose recorded state predates the squash) read them as Django does; no false warning."""
from tests.squashed_app import LATER, REPLACED, SQUASHED, add_ledger

ADDRESS = "127.0.0.50"


def ledger_recorded(s):
    return [name for app, name in s.applied_migrations() if app == "ledger"]


def stage(s, name):
    return s.repo.commit(f"ledger: {name}", lambda work: add_ledger(work, name))


def assert_no_false_warning(run):
    text = run.stdout + run.stderr
    assert "unknown" not in text and "not in the code" not in text, text


def test_squashed_migrations_on_a_server(deployed):
    s = deployed
    stage(s, "before")
    s.fab("deploy").ok()
    assert ledger_recorded(s) == REPLACED
    before_release = s.current_name()

    stage(s, "squashed")
    check = s.fab("check", "--json").ok().json()
    next_items = {item["item"]: item for item in check["next"]["items"]}
    assert "unknown migrations" not in next_items
    assert next_items["migrations"]["detail"].endswith(f"1 pending: ledger.{LATER}"), next_items["migrations"]

    deploy = s.fab("deploy").ok()
    assert_no_false_warning(deploy)
    assert "1 migration(s)" in deploy.stdout, deploy.stdout
    assert ledger_recorded(s) == REPLACED + [LATER, SQUASHED]
    live = s.fab("check", "--live-only", "--json").ok().json()
    assert "unknown migrations" not in {item["item"] for item in live["items"]}
    assert live["ok"]

    listing = s.fab("backups").ok()
    assert "ledger 0001" not in listing.stdout

    # the release rolled back to recorded ledger's state as the replaced names: the squash counts as applied, so
    # only 0004 is unapplied (not the irreversible squash, which would refuse the rollback)
    rollback = s.fab("rollback", "--to", before_release, "--yes").ok()
    assert f"unapply ledger.{LATER}" in rollback.stdout, rollback.stdout
    assert ledger_recorded(s) == REPLACED + [SQUASHED]
    assert s.current_name() == before_release

    stage(s, "trimmed")
    trimmed = s.fab("deploy").ok()
    assert_no_false_warning(trimmed)
    live = s.fab("check", "--live-only", "--json").ok().json()
    assert live["ok"] and "unknown migrations" not in {item["item"] for item in live["items"]}
