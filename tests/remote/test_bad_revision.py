"""Deploying again a revision that was rolled back from says so: when, and why (issue 10 §6)."""
ADDRESS = "127.0.0.55"


def test_redeploying_a_revision_marked_bad_warns(deployed):
    s = deployed
    good = s.current_name()
    quiet = s.fab("deploy").ok()
    assert "marked bad" not in quiet.stdout
    sha = s.repo.code_change()
    s.fab("deploy").ok()
    bad = s.current_name()
    s.fab("rollback", "--to", good, "--yes").ok()

    again = s.fab("deploy").ok()
    assert s.revision() == sha
    warning = next(line for line in again.stdout.splitlines() if "marked bad" in line)
    assert warning.startswith(f"WARN revision {sha[:12]} was marked bad before: 20"), warning
    assert f"release {bad} was rolled back (to {good} by " in warning, warning
    # deployed again and live since: the next deploy of it says nothing of the old mark
    later = s.fab("deploy", "--again").ok()
    assert "marked bad" not in later.stdout, later.stdout
    # a release marked bad made live again (rolled back to): live, and no longer dated bad
    s.fab("rollback", "--to", bad, "--yes").ok()
    row = next(r for r in s.fab("releases", "--json").ok().json()["releases"] if r["release"] == bad)
    assert row["current"] and row["status"] == "live" and "bad_since" not in row, row
