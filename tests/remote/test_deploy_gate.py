"""`fab deploy` is gated by the checklist `fab check` shows (issue 10 §5): a FAIL on the release about to ship
stops it before anything is migrated or switched, `--force` overrides, WARNs are printed."""
ADDRESS = "127.0.0.51"


def test_a_model_change_without_its_migration_stops_the_deploy_until_forced(deployed):
    s = deployed
    live, before = s.current_name(), s.state()

    def edit(work):
        with open(work / "accounts" / "models.py", "a") as handle:
            handle.write("\n\nclass Unmigrated(models.Model):\n    name = models.CharField(max_length=50)\n")
    sha = s.repo.commit("a model without its migration", edit)

    check = s.fab("check", "--json").json()
    assert {i["item"]: i["verdict"] for i in check["next"]["items"]}["model changes"] == "FAIL"

    line = s.fab("deploy").error("model changes: models changed without migrations in accounts",
                                 "`fab deploy --force`")
    assert "nothing was migrated or switched" in line
    assert s.current_name() == live and s.state() == before and not s.lock.exists()

    forced = s.fab("deploy", "--force").ok()
    assert "FAIL model changes" in forced.stdout and "--force" in forced.stdout, forced.stdout
    assert "check passed" not in forced.stdout and "1 FAIL(s) forced past" in forced.stdout
    assert s.revision() == sha and s.current_name() != live


def test_warnings_of_the_checklist_are_printed(deployed):
    s = deployed
    s.repo.add_model("Gadget")
    run = s.fab("deploy").ok()
    assert "WARN migrations:" in run.stdout and "accounts.0017_add_gadget" in run.stdout, run.stdout
