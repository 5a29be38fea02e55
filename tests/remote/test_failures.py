"""Bad input and failures during `fab deploy`: each is one line on stderr, exit 1, no traceback, and the
server is left exactly as it was (current, the database's content, the releases, the lock, the venvs)."""
import json
import subprocess
import tempfile
from pathlib import Path

import pytest

ADDRESS = "127.0.0.4"


@pytest.fixture
def unchanged(deployed):
    """The server's state before the test; the test asserts it is the same afterwards."""
    return deployed.state()


# --- connecting ------------------------------------------------------------------------------------

def test_unknown_host_key(deployed, unchanged):
    empty = deployed.base / "known_hosts.empty"
    empty.write_text("")
    config = deployed.ssh_config_variant("unknown-host", UserKnownHostsFile=f'"{empty}"')
    deployed.fab("deploy", ssh_config=config).error("unknown host key", "accept_new_hosts")
    assert empty.read_text() == ""
    assert deployed.state() == unchanged


def test_wrong_user(deployed, unchanged):
    config = deployed.ssh_config_variant("wrong-user", User="nosuchuser")
    deployed.fab("deploy", ssh_config=config).error("authentication failed for nosuchuser@")
    assert deployed.state() == unchanged


def test_wrong_key(deployed, unchanged, tmp_path):
    key = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True,
                   stdin=subprocess.DEVNULL, capture_output=True)
    config = deployed.ssh_config_variant("wrong-key", IdentityFile=f'"{key}"')
    deployed.fab("deploy", ssh_config=config).error("authentication failed")
    assert deployed.state() == unchanged


def test_unreachable_host(deployed, unchanged, closed_port):
    config = deployed.ssh_config_variant("closed-port", HostName="127.0.0.1", Port=str(closed_port))
    deployed.fab("deploy", ssh_config=config).error("cannot reach", str(closed_port))
    assert deployed.state() == unchanged


# --- configuration and revisions ----------------------------------------------------------------

def test_deploy_path_below_a_file(deployed, unchanged):
    a_file = deployed.base / "a-file"
    a_file.write_text("not a directory\n")
    env = {"FABRIC_DEPLOYTASKS_PATH": f"{a_file}/srv"}
    deployed.fab("setup", env=env).error("cannot create or write")
    deployed.fab("deploy", env=env).error("cannot create", f"{a_file}/srv")
    assert a_file.read_text() == "not a directory\n"
    assert deployed.state() == unchanged


def test_repo_unreachable(deployed, unchanged):
    missing = deployed.base / "no-such-repo.git"
    line = deployed.fab("deploy", env={"FABRIC_DEPLOYTASKS_REPO": str(missing)}).error("cannot fetch", str(missing))
    assert "does not appear to be a git repository" in line
    assert deployed.state() == unchanged


@pytest.mark.parametrize("how", ["branch", "revision"])
def test_missing_branch_or_revision(deployed, unchanged, how):
    if how == "branch":
        deployed.fab("deploy", env={"FABRIC_DEPLOYTASKS_BRANCH": "no-such-branch"}).error(
            "branch 'no-such-branch' does not exist")
    else:
        deployed.fab("deploy", "--revision", "0123456789abcdef").error("revision '0123456789abcdef' does not exist")
    assert deployed.state() == unchanged


@pytest.mark.parametrize("name", ["main; touch {marker}", "$(touch {marker})", "`touch {marker}`",
                                  "--upload-pack=touch {marker}"])
def test_branch_with_shell_metacharacters_is_not_found_and_never_runs(deployed, unchanged, pwned_marker, name):
    name = name.format(marker=pwned_marker)
    deployed.fab("deploy", env={"FABRIC_DEPLOYTASKS_BRANCH": name}).error("does not exist")
    deployed.fab("deploy", "--revision", name).error("does not exist")
    assert not pwned_marker.exists()
    assert deployed.state() == unchanged


def test_existing_branch_with_shell_metacharacters_deploys_literally(deployed, pwned_marker):
    """git allows `;`, `$`, `(` in branch names: such a branch is deployed as a name, never run."""
    branch = f"main;touch${{IFS}}{pwned_marker}"
    sha = deployed.repo.code_change(branch=branch)
    deployed.fab("deploy", env={"FABRIC_DEPLOYTASKS_BRANCH": branch}).ok()
    assert deployed.revision() == sha
    assert not pwned_marker.exists()
    deployed.fab("deploy", "--revision", deployed.repo.initial).ok()  # back to main's code for the next tests


# --- failures while deploying --------------------------------------------------------------------

def test_migration_that_raises(deployed, unchanged):
    s = deployed
    applied, tables = s.applied_migrations(), s.tables()
    sha = s.repo.failing_migration("Gadget", branch="boom")
    line = s.fab("deploy", "--revision", "boom").error("_boom failed in the rehearsal",
                                                       "deliberate failure in a test migration")
    assert "nothing was applied" in line
    assert s.applied_migrations() == applied
    assert s.tables() == tables and "accounts_gadget" not in tables
    assert s.state() == unchanged  # current, releases (the new release dir is gone), DB, no lock
    assert not s.lock.exists()
    last = s.log()[-1]
    assert last["result"] == "failed" and last["revision"] == sha
    assert not list((s.path / "backups").glob("*.rehearsal*"))


def test_pip_install_failing(deployed, unchanged):
    s = deployed
    s.repo.requirements_change("nonexistent-pkg-deploytasks==9.9.9", branch="bad-requirements")
    line = s.fab("deploy", "--revision", "bad-requirements").error("building the venv", "nonexistent-pkg-deploytasks")
    assert "nonexistent-pkg-deploytasks" in line
    assert s.state() == unchanged  # including shared/venvs: no half-built venv is left behind


def test_collectstatic_failing(deployed, unchanged):
    s = deployed
    a_file = s.base / "static-root-file"
    a_file.write_text("")
    shared_env = s.path / "shared" / ".env"
    original = shared_env.read_text()
    shared_env.write_text(original + f"STATIC_ROOT={a_file}/static\n")
    try:
        s.fab("deploy").error("collectstatic failed")
    finally:
        shared_env.write_text(original)
    assert s.state() == unchanged


def test_deploy_refused_while_locked(deployed, unchanged):
    s = deployed
    s.lock.mkdir()
    info = {"action": "deploy", "who": "alice@laptop", "since": "2020-01-01T00:00:00Z", "pid": 1}
    (s.lock / "info.json").write_text(json.dumps(info))
    try:
        s.fab("deploy").error("is locked", "alice@laptop")
        assert json.loads((s.lock / "info.json").read_text()) == info  # the holder's lock is left alone
        assert s.state() == dict(unchanged, locked=True)
    finally:
        (s.lock / "info.json").unlink()
        s.lock.rmdir()


def test_second_deploy_while_one_runs(deployed, waiter):
    """A real deploy runs and holds the lock (its reload waits for a go-ahead); a second one is refused;
    the first then completes."""
    s = deployed
    previous = s.current_name()
    sha = s.repo.code_change()
    go = s.base / "go-ahead"
    reload = f"for i in $(seq 1000); do [ -e {go} ] && exit 0; sleep 0.1; done; exit 1"
    first = s.fab_background("deploy", env={"FABRIC_DEPLOYTASKS_RELOAD": reload})
    try:
        assert waiter(lambda: s.lock.exists() or first.poll() is not None), "the first deploy never took the lock"
        assert first.poll() is None, first.communicate()
        s.fab("deploy").error("is locked", "deploy by")
        assert first.poll() is None  # still waiting in its reload, holding the lock
        go.write_text("")
        out, err = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 0, out + err
    assert s.current_name() != previous and s.revision() == sha
    assert not s.lock.exists()
    assert s.log()[-1]["result"] == "ok"

def test_upload_strategy_leaves_no_archive_behind(deployed, unchanged):
    """strategy: upload sends a `git archive` of the local checkout; refused or done, the archive does not stay."""
    s = deployed
    checkout = s.upload_checkout()
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=checkout, capture_output=True, text=True).stdout.strip()
    s.fab("deploy", "--revision", "no-such-revision", cwd=checkout).error("does not exist in the local git repository")
    s.lock.mkdir()
    try:
        s.fab("deploy", cwd=checkout).error("is locked")
    finally:
        s.lock.rmdir()
    assert not list(s.path.glob(".upload-*"))
    assert s.state() == unchanged
    s.fab("deploy", cwd=checkout).ok()
    assert s.revision() == sha and s.current() != unchanged["current"]
    assert not list(s.path.glob(".upload-*"))
    assert not list(Path(tempfile.gettempdir()).glob(f"deploytasks-{sha[:12]}-*"))  # nor the local one
