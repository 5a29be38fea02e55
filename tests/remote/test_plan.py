"""`fab plan` / `fab deploy --plan` (issue 12 §1), the lint in a strict deploy, and `fab check`'s schema item,
through the real sshd against a deployed example (SQLite)."""
import os
import json
import sqlite3
import subprocess

ADDRESS = "127.0.0.60"


def irreversible_migration(s):
    """A commit adding a RunPython migration without a reverse (the lint's "irreversible" rule)."""
    def edit(work):
        s.repo.write_migration("one_way", "def forwards(apps, schema_editor):\n    pass\n",
                               "[migrations.RunPython(forwards)]")
    return s.repo.commit("a one-way data migration", edit)


def test_plan_shows_what_a_deploy_would_do_and_changes_nothing(deployed):
    s = deployed
    live_revision = s.revision()
    s.repo.add_model("Gadget")
    s.repo.code_change()

    def restyle(work):
        with open(work / "accounts" / "static" / "accounts" / "css" / "plans.css", "a") as handle:
            handle.write("\n.gadget { color: red; }\n")
    sha = s.repo.commit("restyle", restyle)
    before = s.state()

    plan = s.fab("plan", "--json").ok().json()

    assert s.state() == before  # no release left behind, no lock, database and venvs as they were
    assert plan["revision"] == sha and plan["live"]["revision"] == live_revision
    assert len(plan["revision_diff"]["commits"]) == 3 and plan["revision_diff"]["files_changed"] >= 4
    assert plan["revision_diff"]["commits"][0].startswith(sha[:7])
    assert plan["venv"]["action"] == "reuse"
    assert plan["requirements"] == {"added": [], "removed": [], "changed": []}
    (step,) = [step for step in plan["introspection"]["plan"] if not step["backwards"]]
    assert step["name"].endswith("_add_gadget") and step["reversible"]
    assert step["operations"] == ["Create model Gadget"]
    assert 'CREATE TABLE "accounts_gadget"' in step["sql"]
    assert plan["introspection"]["lint"]["findings"] == []
    assert plan["static"]["changed"] == ["accounts/css/plans.css"] and plan["static"]["new"] == []
    assert plan["ok"] is True
    assert {item["item"]: item["verdict"] for item in plan["checklist"]}["migration safety"] == "PASS"

    shown = s.fab("deploy", "--plan").ok().stdout
    assert "Deploy plan for" in shown and "nothing live was changed" in shown
    assert 'CREATE TABLE "accounts_gadget"' in shown and "3 commit(s)" in shown and "0 new, 1 changed" in shown
    assert s.state() == before


def test_a_revision_that_does_not_exist_is_one_line_and_changes_nothing(deployed):
    s = deployed
    before = s.state()
    s.fab("plan", "--revision", "no-such-branch").error("no-such-branch")
    assert s.state() == before


def test_strict_migrations_fail_the_plan_and_stop_the_deploy_before_anything_changes(deployed):
    s = deployed
    irreversible_migration(s)
    plan = s.fab("plan", "--json")
    assert plan.returncode == 0, str(plan)  # WARN by default
    findings = plan.json()["introspection"]["lint"]["findings"]
    assert [f["rule"] for f in findings] == ["irreversible"] and findings[0]["migration"].endswith("_one_way")
    shown = " ".join(s.fab("plan").ok().stdout.split())  # the why the checklist row points at is in the plan
    assert " ".join(f"{findings[0]['migration']}: {findings[0]['operation']} [irreversible]: {findings[0]['why']}; "
                    f"instead: {findings[0]['instead']}".split()) in shown, shown
    assert (f"{findings[0]['migration']}: {findings[0]['operation']} [irreversible] — see the lint above for why"
            in shown), shown  # not "see `fab plan`", inside the plan
    checked = s.fab("check", "--json").json()  # WARN: exit 0, its row points at the plan
    assert "— see `fab plan` for why" in json.dumps(checked, ensure_ascii=False), checked

    s.configure(strict_migrations=True)
    try:
        s.fab("plan").error("the deploy would stop")
        before = s.state()
        s.fab("deploy").error("migration safety", "_one_way", "[irreversible]", "(strict_migrations)",
                              "nothing was migrated or switched")
        assert s.state() == before
    finally:
        s.configure(strict_migrations=False)


def test_check_reports_a_column_added_by_hand_on_the_live_database(deployed):
    s = deployed
    live = {item["item"]: item for item in s.fab("check", "--live-only", "--json").ok().json()["items"]}
    assert live["schema"]["verdict"] == "PASS", live["schema"]
    connection = sqlite3.connect(s.db)
    with connection:
        connection.execute("ALTER TABLE auth_group ADD COLUMN note varchar(10) NULL")
    connection.close()
    live = {item["item"]: item for item in s.fab("check", "--live-only", "--json").ok().json()["items"]}
    assert live["schema"]["verdict"] == "WARN"
    assert live["schema"]["differences"] == [
        "column auth_group.note (CharField(10) NULL) is in the database but not in the migrations"]


def test_with_strategy_upload_the_commits_come_from_the_local_repository(deployed):
    s = deployed
    checkout = s.upload_checkout()
    expected = subprocess.run(["git", "log", "--oneline", "--no-decorate", f"{s.revision()}..HEAD"], cwd=checkout,
                              capture_output=True, text=True, check=True).stdout.splitlines()
    before = s.state()
    plan = s.fab("plan", "--json", cwd=checkout).ok().json()
    assert expected and plan["revision_diff"]["commits"] == expected
    assert s.state() == before


def test_a_requirements_change_shows_the_pins_and_a_venv_to_build(deployed):
    s = deployed
    s.repo.requirements_change("sqlparse>=0.3")
    live = s.current()
    plan = s.fab("plan", "--json").ok().json()
    assert plan["requirements"] == {"added": ["sqlparse >=0.3"], "removed": [], "changed": []}
    assert plan["venv"]["action"] == "build"
    assert s.current() == live and not s.lock.exists() and len(s.releases()) == 1


def test_a_rollback_across_an_irreversible_migration_names_the_backup_to_restore(deployed):
    """The refusal names the newest backup taken before the one-way migration (its deploy's pre-deploy backup)."""
    s = deployed
    s.repo.code_change()
    s.fab("deploy").ok()  # the release the rollback would go back to
    previous = s.current_name()
    irreversible_migration(s)
    shipped = s.fab("deploy").ok()
    assert "[irreversible] — see `fab plan`" in shipped.stdout, shipped.stdout  # not taken for Rich markup
    one_way = [name for app, name in s.applied_migrations() if name.endswith("_one_way")][-1]  # this deploy's
    line = s.fab("rollback", "--yes").error(f"accounts.{one_way} is irreversible, so the schema cannot be rolled back:"
                                            " restore the backup taken before it instead: `fab -H testhost restore ",
                                            "then `fab -H testhost rollback` again")
    named = line.split("`fab -H testhost restore ", 1)[1].split("`", 1)[0]
    assert named in s.backups() and named.endswith(("-pre-deploy.sqlite3", ".sqlite3")), (named, s.backups())
    manifest = json.loads((s.path / "backups" / (named + ".json")).read_text())
    assert one_way not in manifest["migrations"]["accounts"]
    newer = [json.loads(path.read_text()) for path in (s.path / "backups").glob("*.json")]
    assert all(one_way in m["migrations"]["accounts"] for m in newer if m["created"] > manifest["created"])
    # the advice followed: the restore says the rollback comes next (its WARN's `fab migrate` would apply the one-way
    # migration again), and the rollback then goes through
    live = s.current_name()
    restored = s.fab("restore", named, "--yes").ok()
    assert f"{named} holds the schema {previous} went live with, the release before {live}: to go back to it, `fab " \
           "-H testhost rollback` now" in " ".join(restored.stdout.split()), restored.stdout
    s.fab("rollback", "--yes").ok()
    assert s.current_name() != live and one_way not in [name for _, name in s.applied_migrations()]


def test_restoring_an_earlier_backup_at_the_previous_release_s_schema_says_the_rollback_comes_next(deployed):
    """A backup taken before the one-way migration's deploy but not by it (a `fab backup`; a failed deploy's, when the
    release after it shipped no migrations): the restore said `fab migrate`, which would apply the one-way migration
    again, and nothing about the rollback the refusal had asked for."""
    s = deployed
    s.repo.code_change()
    s.fab("deploy").ok()
    previous = s.current_name()
    taken = json.loads(s.fab("backup", "--json", "--label", "manual").ok().stdout)
    irreversible_migration(s)
    s.fab("deploy").ok()
    live = s.current_name()
    named = os.path.basename(taken["path"])
    restored = s.fab("restore", named, "--yes").ok()
    assert f"{named} holds the schema {previous} went live with, the release before {live}: to go back to it, `fab " \
           "-H testhost rollback` now" in " ".join(restored.stdout.split()), restored.stdout
    rolled = s.fab("rollback", "--yes").ok()
    assert s.current_name() == previous, rolled.stdout


def test_the_static_row_says_whether_the_deploy_collects_and_why(deployed):
    """`0 new, 0 changed` while the deploy would collect anyway (a requirements change: the venv is one of what
    collectstatic reads) read as if nothing would be done; a code change that touches nothing it reads skips it."""
    s = deployed
    s.fab("deploy").ok()
    s.repo.code_change()
    plan = s.fab("plan", "--json").ok().json()
    assert plan["static"]["collectstatic"] == {
        "runs": False, "why": "nothing it reads changed: the live release's collected files are linked"}, plan["static"]
    shown = " ".join(s.fab("plan").ok().stdout.split())
    assert "0 new, 0 changed of" in shown and "collectstatic skipped: nothing it reads changed" in shown, shown

    s.repo.requirements_change("sqlparse>=0.2")
    plan = s.fab("plan", "--json").ok().json()
    assert (plan["venv"]["action"], plan["static"]["new"], plan["static"]["changed"]) == ("build", [], [])
    assert plan["static"]["collectstatic"]["runs"] is True
    assert plan["static"]["collectstatic"]["why"].startswith("the venv changed"), plan["static"]
    deployed_now = s.fab("deploy").ok().stdout
    assert "static file" in deployed_now and "collectstatic not run" not in deployed_now, deployed_now  # as planned
