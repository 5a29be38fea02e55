"""`fab rollback`: code *and* schema back to the previous good release, with gunicorn serving it."""
from tests.remote import faults

ADDRESS = "127.0.0.3"
WIDGET_TABLE = "accounts_widget"
# Unapplying a CreateModel leaves what Django's post_migrate added (content type, permissions) and the
# AUTOINCREMENT counters; everything else must be exactly as before the deploy.
LEFT_BY_DJANGO = ("django_content_type", "auth_permission", "sqlite_sequence")


def test_rollback_after_a_migration_adding_deploy(served):
    s = served
    old_release, old_revision = s.current_name(), s.revision()
    old_migrations, old_content = s.applied_migrations(), s.fingerprint(exclude=LEFT_BY_DJANGO)

    sha = s.repo.add_model("Widget")
    s.fab("deploy").ok()
    new_release = s.current_name()
    assert new_release != old_release and s.revision() == sha
    assert WIDGET_TABLE in s.tables()
    assert ("accounts", "0017_add_widget") in s.applied_migrations()
    assert s.gunicorn.health()["revision"] == sha

    before = s.state()
    s.fab("rollback").error("pass --yes")  # no TTY to ask on: refused, nothing done
    assert s.state() == before and not s.lock.exists()
    assert "dry-run" in s.fab("--dry", "rollback").ok().stdout
    assert s.state() == before and WIDGET_TABLE in s.tables()

    run = s.fab("rollback", "--yes").ok()
    assert "accounts.0017_add_widget" in run.stdout

    assert WIDGET_TABLE not in s.tables()
    assert s.applied_migrations() == old_migrations
    assert s.fingerprint(exclude=LEFT_BY_DJANGO) == old_content
    assert s.current() == f"releases/{old_release}"
    assert s.gunicorn.health()["revision"] == old_revision  # the old code is what is served
    assert not s.lock.exists()

    data = s.fab("releases", "--json").ok().json()
    status = {r["release"]: r for r in data["releases"]}
    assert status[new_release]["status"] == "bad"
    assert status[old_release]["current"] and status[old_release]["status"] == "live"
    assert s.log()[-1]["action"] == "rollback" and s.log()[-1]["result"] == "ok"
    assert [b for b in s.backups() if "pre-rollback" in b], s.backups()


def test_a_later_rollback_skips_bad_releases(served):
    s = served
    first, bad = s.releases()
    assert s.current_name() == first
    s.fab("deploy").ok()  # main again: the Widget migration is applied again in a third release
    third = s.current_name()
    assert third not in (first, bad) and WIDGET_TABLE in s.tables()

    s.fab("rollback", "--yes").ok()

    assert s.current_name() == first  # not `bad`, although it is the one just before `third`
    assert WIDGET_TABLE not in s.tables()
    assert s.gunicorn.health()["revision"] == s.repo.initial
    statuses = {r["release"]: r.get("status") for r in s.fab("releases", "--json").ok().json()["releases"]}
    assert statuses == {first: "live", bad: "bad", third: "bad"}


def test_rollback_without_a_previous_release_is_an_error(served):
    s = served
    before, log = s.state(), s.log()
    s.fab("rollback", "--yes").error("no previous release")
    assert s.state() == before and s.log() == log
    assert not s.lock.exists()


def test_rollback_to_an_unknown_release_is_an_error(served):
    s = served
    before = s.state()
    s.fab("rollback", "--to", "20000101T000000Z", "--yes").error("no release '20000101T000000Z'")
    assert s.state() == before


def test_unhealthy_deploy_switches_back_and_unapplies_its_migrations(served):
    """The reload command does nothing, so gunicorn keeps serving the old code: the health check notices."""
    s = served
    before, tables, applied = s.state(), s.tables(), s.applied_migrations()
    content = s.fingerprint(exclude=LEFT_BY_DJANGO)
    live_revision = s.revision()
    sha = s.repo.add_model("Gizmo")
    line = s.fab("deploy", env={"FABRIC_DEPLOYTASKS_RELOAD": "true", "FABRIC_DEPLOYTASKS_HEALTHCHECK_RETRIES": "3",
                                "FABRIC_DEPLOYTASKS_HEALTHCHECK_DELAY": "0.2"}).error("failed its health check")
    assert f"still serves revision {live_revision}" in line and " migration(s)" in line.split("unapplied ", 1)[1]
    assert dict(s.state(), db=None) == dict(before, db=None)  # current, releases, lock, venvs
    assert s.fingerprint(exclude=LEFT_BY_DJANGO) == content
    assert s.tables() == tables and "accounts_gizmo" not in tables
    assert s.applied_migrations() == applied
    assert s.gunicorn.health()["revision"] == live_revision
    last = s.log()[-1]
    assert last["result"] == "unhealthy" and last["revision"] == sha


def test_migrating_the_live_release_backwards_warns_that_its_code_runs_ahead_of_the_schema(served):
    s = served
    s.fab("deploy").ok()  # main, with Gizmo's migration
    applied = [name for app, name in s.applied_migrations() if app == "accounts"]
    gizmo, previous = applied[-1], applied[-2]
    run = s.fab("migrations.migrate", "accounts", previous, "--yes").ok()
    assert "WARN the live release's code has these migrations" in run.stdout and "`fab rollback`" in run.stdout
    assert ("accounts", gizmo) not in s.applied_migrations()
    s.fab("migrations.migrate", "accounts", "latest", "--yes").ok()
    assert ("accounts", gizmo) in s.applied_migrations()


def test_rollback_to_a_release_deployed_after_the_live_one_is_refused_and_changes_nothing(served):
    """A user's report: B (newer, with a migration) rolled back to A unapplied it; `rollback --to B` then put B's
    code live without it, said so with rc 0 and marked A bad. A rollback only goes back: deploying B does it."""
    s = served
    live_revision = s.revision()
    sha = s.repo.add_model("Sprocket")
    migration = s.repo.latest_migration()
    s.fab("deploy").ok()
    newer = s.current_name()
    s.fab("rollback", "--yes").ok()
    older = s.current_name()
    assert ("accounts", migration) not in s.applied_migrations() and "accounts_sprocket" not in s.tables()

    before, log = s.state(), s.log()
    s.fab("rollback", "--to", newer, "--yes").error(
        f"{newer} was deployed after the live release {older}", "a rollback only goes back", "nothing was changed",
        f"deploy --revision {sha}`")
    assert s.state() == before and s.log() == log and not s.lock.exists()
    assert ("accounts", migration) not in s.applied_migrations()
    assert s.gunicorn.health()["revision"] == live_revision
    statuses = {r["release"]: r.get("status") for r in s.fab("releases", "--json").ok().json()["releases"]}
    assert statuses[older] == "live" and statuses[newer] == "bad"
    s.fab("check", "--live-only").ok()  # the live code has every migration it needs


def test_rollback_to_an_earlier_release_whose_migrations_the_database_lacks_is_refused(served):
    """The schema taken back by hand below what an earlier release recorded: switching to it would put its code
    live without those migrations (a rollback only unapplies), so it is refused, pointing to a deploy."""
    s = served
    earlier = s.current_name()
    s.fab("deploy", "--revision", s.revision(), "--again").ok()  # the same code in a newer release
    accounts = [name for app, name in s.applied_migrations() if app == "accounts"]
    last, previous = accounts[-1], accounts[-2]
    s.fab("migrations.migrate", "accounts", previous, "--yes").ok()
    try:
        before, log = s.state(), s.log()
        for args in (("--to", earlier), ()):
            s.fab("rollback", *args, "--yes").error(
                f"{earlier} needs migrations the database does not have (accounts.{last})", "nothing was changed",
                f"deploy --revision {s.revision(earlier)}`")
            assert s.state() == before and s.log() == log and not s.lock.exists()
    finally:
        s.fab("migrations.migrate", "accounts", "latest", "--yes").ok()


def test_a_rollback_of_migrations_that_only_add_switches_first_and_fails_no_request(served):
    """Unapplied first, the live code lost its table before its workers were replaced: a page that read it answered
    500 until then (18 of 437 requests in a load test of a rollback). Migrations that only add what the target's code
    ignores are unapplied after the switch (here the reload takes 2 s, as a loaded app server's can)."""
    s = served
    live = s.current_name()

    def edit(work):
        with open(work / "accounts" / "models.py", "a") as handle:
            handle.write("\n\nclass Doohickey(models.Model):\n    name = models.CharField(max_length=50)\n")
        s.repo.makemigrations("add_doohickey")
        views = work / "accounts" / "views.py"
        views.write_text(views.read_text().replace(
            "def home(request):\n", "def home(request):\n    from .models import Doohickey\n\n    Doohickey.objects.exists()\n"))
    s.repo.commit("a model the home page reads", edit)
    s.fab("deploy").ok()
    home = s.gunicorn.url.replace("/health/", "/")
    s.configure(reload=faults.gated_reload(s, s.base / "rollback-reload-started", 2))
    try:
        with faults.Poller(home, timeout=10) as poller:
            run = s.fab("rollback", "--yes").ok()
    finally:
        s.configure(reload=s.gunicorn.reload)
    assert "(after the switch: they only add what" in " ".join(run.stdout.split()), run.stdout
    assert poller.ok and poller.failed == 0, poller.reasons
    assert s.current_name() == live and "accounts_doohickey" not in s.tables()
    assert s.gunicorn.health()["revision"] == s.revision(live)
