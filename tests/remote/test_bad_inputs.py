"""The bad-input table (issue 9): every case is refused with exit 1, one `deploytasks: error:` line naming the
problem, no traceback, and the server exactly as it was (current, releases, database, lock, venvs, backups).

One row per case: (id, command line, config changes, environment, expected fragments of the error line).
Placeholders in the command line: {backup} a real downloaded backup; {missing}, {no_manifest}, {bad_json},
{truncated}, {changed}, {marker} files made for the case. Config "@ssh" picks an ssh_config variant,
"@locked" holds the deploy lock for the run. The local (inv) cases live in tests/test_local_bad_input.py.
"""
from __future__ import annotations

import json
import shutil

import pytest

from tests.sshd import free_port

ADDRESS = "127.0.0.22"

CASES = [
    # configuration values (fabric.yaml)
    ("keep_releases-not-a-number", ("deploy",), {"keep_releases": "abc"}, {},
     ("deploytasks.keep_releases must be a number",)),
    ("keep_releases-negative", ("deploy",), {"keep_releases": -1}, {},
     ("deploytasks.keep_releases must not be negative",)),
    ("healthcheck_retries-words", ("deploy",), {"healthcheck_retries": "many"}, {},
     ("healthcheck_retries must be a number",)),
    ("healthcheck_delay-words", ("deploy",), {"healthcheck_delay": "soon"}, {},
     ("healthcheck_delay must be a number",)),
    ("lock_stale_after-negative", ("unlock",), {"lock_stale_after": -5}, {},
     ("lock_stale_after must not be negative",)),
    ("accept_new_hosts-maybe", ("releases",), {"accept_new_hosts": "maybe"}, {},
     ("accept_new_hosts must be true or false",)),
    ("collectstatic-perhaps", ("deploy",), {"collectstatic": "perhaps"}, {}, ("collectstatic must be true or false",)),
    ("shared_files-a-number", ("deploy",), {"shared_files": 42}, {}, ("shared_files must be a list",)),
    ("strategy-rsync", ("deploy",), {"strategy": "rsync"}, {}, ("'mirror' or 'upload'",)),
    ("typo-pathh", ("releases",), {"pathh": "/srv/typo"}, {},
     ("unknown config key deploytasks.pathh", "deploytasks.path?")),
    ("typo-healthchek", ("deploy",), {"healthchek": "http://x/"}, {}, ("unknown config key deploytasks.healthchek",)),
    ("path-relative", ("deploy",), {"path": "relative/path"}, {}, ("absolute deploy directory",)),
    ("path-empty", ("releases",), {"path": ""}, {}, ("absolute deploy directory",)),
    ("repo-empty", ("deploy",), {"repo": ""}, {}, ("set deploytasks.repo",)),
    ("repo-missing", ("deploy",), {"repo": "/nonexistent/repo.git"}, {}, ("cannot fetch", "/nonexistent/repo.git")),
    ("branch-missing", ("deploy",), {"branch": "no-such-branch"}, {}, ("branch 'no-such-branch' does not exist",)),
    ("branch-shell", ("deploy",), {"branch": "main; touch {marker}"}, {}, ("does not exist",)),
    ("python-missing-setup", ("setup",), {"python": "python9.99"}, {}, ("missing on", "python9.99")),
    ("path-below-a-file", ("deploy",), {"path": "/etc/hostname/srv"}, {}, ("cannot create", "/etc/hostname/srv")),
    ("setup-unwritable", ("setup",), {"path": "/etc/hostname/srv"}, {},
     ("cannot create or write", "as root: a part of it is not a directory")),
    # the same through the environment
    ("env-strategy", ("deploy",), {}, {"FABRIC_DEPLOYTASKS_STRATEGY": "ftp"}, ("'mirror' or 'upload'",)),
    ("env-path-relative", ("deploy",), {}, {"FABRIC_DEPLOYTASKS_PATH": "srv"}, ("absolute deploy directory",)),
    ("env-branch-subshell", ("deploy",), {}, {"FABRIC_DEPLOYTASKS_BRANCH": "$(touch {marker})"}, ("does not exist",)),
    # command lines
    ("revision-missing", ("deploy", "--revision", "0123456789abcdef"), {}, {},
     ("revision '0123456789abcdef' does not exist",)),
    ("revision-semicolon", ("deploy", "--revision", "main; touch {marker}"), {}, {}, ("does not exist",)),
    ("revision-backticks", ("deploy", "--revision", "`touch {marker}`"), {}, {}, ("does not exist",)),
    ("revision-option", ("deploy", "--revision", "--upload-pack=touch {marker}"), {}, {}, ("does not exist",)),
    ("check-revision-missing", ("check", "--revision", "no-such-ref"), {}, {}, ("does not exist",)),
    ("rollback-no-tty", ("rollback",), {}, {}, ("pass --yes",)),
    ("rollback-to-unknown", ("rollback", "--to", "20000101T000000Z", "--yes"), {}, {},
     ("no release '20000101T000000Z'",)),
    ("rollback-to-live", ("rollback", "--to", "{current}", "--yes"), {}, {}, ("is already live",)),
    ("manage-empty", ("manage", ""), {}, {}, ("name a management command",)),
    ("migrate-unknown-migration", ("migrations.migrate", "accounts", "0099", "--yes"), {}, {},
     ("accounts has no migration '0099'", "run `fab migrations.status`")),
    ("migrate-unknown-app", ("migrations.migrate", "nosuch", "0001", "--yes"), {}, {}, ("no app labelled 'nosuch'",)),
    ("migrate-ambiguous", ("migrations.migrate", "accounts", "00", "--yes"), {}, {},
     ("matches several accounts migrations",)),
    ("sql-unknown-migration", ("migrations.sql", "accounts", "0099"), {}, {},
     ("accounts has no migration '0099'", "run `fab migrations.status`")),
    ("reset-unknown-app", ("migrations.reset", "nosuch", "--yes"), {}, {}, ("no app labelled 'nosuch'",)),
    # backups to restore
    ("restore-missing-file", ("restore", "{missing}", "--yes"), {}, {}, ("not found",)),
    ("restore-no-manifest", ("restore", "{no_manifest}", "--yes"), {}, {}, ("no manifest", "--unverified")),
    ("restore-bad-json-manifest", ("restore", "{bad_json}", "--yes"), {}, {}, ("is not valid JSON",)),
    ("restore-truncated", ("restore", "{truncated}", "--yes"), {}, {}, ("truncated or changed",)),
    ("restore-sha-mismatch", ("restore", "{changed}", "--yes"), {}, {}, ("does not match its manifest's sha256",)),
    ("restore-no-tty", ("restore", "{backup}"), {}, {}, ("pass --yes",)),
    # who and where
    ("locked-deploy", ("deploy",), {"@locked": True}, {}, ("is locked", "alice@laptop")),
    ("locked-restore", ("restore", "{backup}", "--yes"), {"@locked": True}, {}, ("is locked", "alice@laptop")),
    ("locked-rollback", ("rollback", "--yes"), {"@locked": True}, {}, ("is locked", "alice@laptop")),
    ("unknown-host-key", ("deploy",), {"@ssh": "unknown-host"}, {}, ("unknown host key", "accept_new_hosts")),
    ("wrong-user", ("releases",), {"@ssh": "wrong-user"}, {}, ("authentication failed for nosuchuser@",)),
    ("closed-port", ("deploy",), {"@ssh": "closed-port"}, {}, ("cannot reach",)),
]


@pytest.fixture(scope="module")
def inputs(deployed, tmp_path_factory):
    """A real downloaded backup and damaged variants of it; ssh_config variants."""
    s = deployed
    s.fab("deploy").ok()  # a second release, so a rollback would have somewhere to go
    base = tmp_path_factory.mktemp("bad-inputs")
    run = s.fab("backup", "--json").ok()
    backup = run.json()["local_path"]
    files = {"backup": backup, "missing": str(base / "nope.sqlite3")}

    def variant(name, data=None, manifest=None):
        path = base / f"{name}.sqlite3"
        shutil.copyfile(backup, path)
        if data is not None:
            path.write_bytes(data)
        if manifest is not None:
            (base / f"{name}.sqlite3.json").write_text(manifest)
        files[name] = str(path)

    original = open(backup, "rb").read()
    good_manifest = open(backup + ".json").read()
    variant("no_manifest")
    variant("bad_json", manifest="{not json")
    variant("truncated", data=original[: len(original) // 2], manifest=good_manifest)
    changed = bytearray(original)
    changed[-100] ^= 0xFF
    variant("changed", data=bytes(changed), manifest=good_manifest)
    empty = base / "known_hosts.empty"
    empty.write_text("")
    ssh = {
        "unknown-host": s.ssh_config_variant("bad-unknown-host", UserKnownHostsFile=f'"{empty}"'),
        "wrong-user": s.ssh_config_variant("bad-wrong-user", User="nosuchuser"),
        "closed-port": s.ssh_config_variant("bad-closed-port", HostName="127.0.0.1", Port=str(free_port())),
    }
    return {"files": files, "ssh": ssh}


@pytest.mark.parametrize("args, config, env, fragments", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_a_bad_input_is_refused_in_one_line_and_changes_nothing(deployed, inputs, pwned_marker, args, config, env,
                                                                 fragments):
    s = deployed
    names = dict(inputs["files"], marker=str(pwned_marker), current=s.current_name() or "")
    args = tuple(arg.format(**names) for arg in args)
    env = {key: value.format(**names) for key, value in env.items()}
    config = {key: value.format(**names) if isinstance(value, str) else value for key, value in config.items()}
    ssh_config = inputs["ssh"].get(config.pop("@ssh", None))
    locked = config.pop("@locked", False)
    saved = dict(s.settings)
    before, backups = s.state(), backup_files(s)
    if locked:
        s.lock.mkdir()
        (s.lock / "info.json").write_text(json.dumps(
            {"action": "deploy", "who": "alice@laptop", "since": "2020-01-01T00:00:00Z", "pid": 1}))
    try:
        s.configure(**config)
        s.fab(*args, env=env, ssh_config=ssh_config).error(*fragments)
    finally:
        s.settings.clear()
        s.settings.update(saved)
        s.configure()
        if locked:
            shutil.rmtree(s.lock)
    assert not pwned_marker.exists()
    assert s.state() == before
    assert backup_files(s) == backups


def backup_files(s):
    """The files under {path}/backups (an empty directory a refused upload made is no state)."""
    return [name for name in s.backups() if not (s.path / "backups" / name).is_dir()]


def test_the_table_has_at_least_forty_cases():
    assert len(CASES) >= 40 and len({case[0] for case in CASES}) == len(CASES)


@pytest.mark.parametrize("args", [("backup",), ("manage", "check"), ("migrate",), ("check",)])
def test_a_task_on_the_live_release_refuses_while_a_shared_file_it_links_to_is_missing(deployed, args):
    """Without shared/.env the release's Django would start on the settings' defaults (DEBUG, another database)."""
    s = deployed
    env = s.path / "shared" / ".env"
    aside = env.with_name("env-aside")
    before, backups = s.state(), backup_files(s)
    env.rename(aside)
    try:
        s.fab(*args).error(f"{env} is missing on the server (", "/current/.env links to it)",
                           "put production's copy in deploy/<host>/.env beside your fabfile", "`fab shared.push`")
    finally:
        aside.rename(env)
    assert s.state() == before and backup_files(s) == backups


def test_a_deploy_before_fab_setup_names_setup_and_makes_nothing(deployed, tmp_path):
    """A new server's first `fab deploy` without `fab setup`: it made the layout, then said to put the .env in
    `deploy/<host>/` and run `fab shared.push`. It names `fab setup` and the host's own source, and makes nothing."""
    s = deployed
    path = s.settings["path"]
    fresh = tmp_path / "never-set-up"
    s.configure(path=str(fresh))
    try:
        s.fab("deploy").error(f"{fresh} has no shared/ directory: `fab setup` has not run for it",
                              f"run `fab -H {s.sshd.alias} setup` first", f"uploads deploy/{s.sshd.alias}/.env")
    finally:
        s.configure(path=path)
    assert not fresh.exists() or not any(fresh.iterdir()), list(fresh.iterdir())
