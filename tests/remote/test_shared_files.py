"""Production's shared files come from deploy/<host>/ (never the project's own .env): `fab setup` says what it
uploads where, `fab shared.diff` compares without showing values, `fab shared.push` replaces privately and keeps
the old copy. Also: the host named as typed, the known_hosts file actually used, private backups directories."""
import os
import re
import shutil
import stat
import time
from pathlib import Path

ADDRESS = "127.0.0.24"


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_setup_names_the_local_file_it_uploads_and_the_host_as_typed(server):
    alias = server.sshd.alias
    run = server.fab("setup").ok()
    shared_env = server.path / "shared" / ".env"
    assert f"uploaded deploy/{alias}/.env → {alias}:{shared_env} (0600)" in run.stdout, run.stdout
    assert f"{alias}:{server.path} ready" in run.stdout
    assert server.sshd.host not in run.stdout  # the address ssh_config resolved the alias to
    assert server.secret_key not in run.stdout + run.stderr
    assert shared_env.read_text() == server.production_env.read_text() and mode(shared_env) == 0o600
    assert mode(server.path / "backups") == 0o700
    assert server.fab("releases", "--json").ok().json()["host"] == alias


def test_setup_makes_an_existing_backups_directory_private(server):
    server.fab("setup").ok()
    os.chmod(server.path / "backups", 0o755)
    server.fab("setup").ok()
    assert mode(server.path / "backups") == 0o700


def test_setup_refuses_the_projects_own_env_file_as_productions(server, tmp_path):
    fresh = tmp_path / "srv"
    own = server.project / ".env"
    own.write_text("DATABASE_URL=sqlite:///db.sqlite3\nSECRET_KEY=laptop\n")
    env = {"FABRIC_DEPLOYTASKS_PATH": str(fresh)}
    try:
        server.configure(shared_sources={".env": ".env"})
        server.fab("setup", env=env).error("refusing to upload .env as production's shared/.env",
                                           f"deploy/{server.sshd.alias}/.env")
        assert not fresh.exists()
        server.configure(shared_sources={".env": "./config/../.env"})
        server.fab("setup", env=env).error("refusing to upload")
        del server.settings["shared_sources"]
        server.configure()
        # a link from deploy/<host>/.env to the project's .env is the same mistake
        moved = server.production_env.with_name(".env.real")
        server.production_env.rename(moved)
        server.production_env.symlink_to(own)
        try:
            server.fab("setup", env=env).error("refusing to upload")
        finally:
            server.production_env.unlink()
            moved.rename(server.production_env)
        assert not fresh.exists()
        server.configure(shared_sources={"other.env": "deploy/x.env"})
        server.fab("setup", env=env).error("shared_sources names other.env, not in deploytasks.shared_files")
    finally:
        server.settings.pop("shared_sources", None)
        server.configure()
        own.unlink()


def test_the_example_fabfiles_layout_uploads_the_stage_file_not_the_laptops(server, tmp_path):
    """fabfile.example.py as shipped (its shared_sources), beside a laptop .env that must stay local."""
    fresh = tmp_path / "srv"
    fabfile = server.project / "fabfile.py"
    ours = fabfile.read_text()
    own = server.project / ".env"
    production = server.project / "deploy" / "production" / ".env"
    production.parent.mkdir(parents=True)
    production.write_text(f"SECRET_KEY=stage-{server.secret_key}\nDEBUG=false\n")
    own.write_text("SECRET_KEY=laptop\nDEBUG=true\n")
    shutil.copyfile(Path(__file__).resolve().parents[2] / "fabfile.example.py", fabfile)
    try:
        run = server.fab("setup", env={"FABRIC_DEPLOYTASKS_PATH": str(fresh)}).ok()
    finally:
        fabfile.write_text(ours)
        own.unlink()
        shutil.rmtree(production.parent.parent / "production")
    assert f"uploaded deploy/production/.env → {server.sshd.alias}:{fresh}/shared/.env (0600)" in run.stdout, run.stdout
    assert (fresh / "shared" / ".env").read_text() == f"SECRET_KEY=stage-{server.secret_key}\nDEBUG=false\n"


def test_setup_without_a_production_file_says_where_to_put_it(server, tmp_path):
    fresh = tmp_path / "srv"
    moved = server.production_env.with_name(".env.away")
    server.production_env.rename(moved)
    try:
        run = server.fab("setup", env={"FABRIC_DEPLOYTASKS_PATH": str(fresh)}).ok()
    finally:
        moved.rename(server.production_env)
    assert f"write production's in deploy/{server.sshd.alias}/.env" in run.stdout
    assert not (fresh / "shared" / ".env").exists()


def test_shared_diff_shows_checksums_and_names_never_values(server):
    alias = server.sshd.alias
    server.fab("setup").ok()
    same = server.fab("shared.diff").ok()
    assert "shared/.env: same as" in same.stdout, same.stdout

    original = server.production_env.read_text()
    server.production_env.write_text(original.replace("DEBUG=false\n", "") + "NEW_TOKEN=value-one-secret\n")
    try:
        run = server.fab("shared.diff")
    finally:
        server.production_env.write_text(original)
        server.fab("shared.push", "--yes").ok()
    out = run.stdout
    assert run.returncode == 1 and not run.stderr.strip(), run  # as diff(1): they differ
    assert f"shared/.env: differs from deploy/{alias}/.env" in out, out
    assert re.search(r"^\s+-DEBUG$", out, re.M) and re.search(r"^\s+\+NEW_TOKEN$", out, re.M), out
    assert f"--- {alias}:{server.path}/shared/.env" in out
    for secret in ("value-one-secret", server.secret_key, "false", "sqlite:"):
        assert secret not in out + run.stderr, secret

    changed_value = original.replace(server.secret_key, "another-secret-key")
    server.production_env.write_text(changed_value)
    try:
        run = server.fab("shared.diff")
    finally:
        server.production_env.write_text(original)
    assert run.returncode == 1 and "differs" in run.stdout, run
    assert re.search(r"^\s+~SECRET_KEY \(value differs\)$", run.stdout, re.M), run.stdout  # which, never what
    assert len(re.findall(r"value differs", run.stdout)) == 1, run.stdout
    assert "another-secret-key" not in run.stdout and server.secret_key not in run.stdout


def test_shared_push_confirms_replaces_privately_and_keeps_the_old_copy(server):
    server.fab("setup").ok()
    shared_env = server.path / "shared" / ".env"
    before = shared_env.read_text()
    original = server.production_env.read_text()
    server.production_env.write_text(original + "EXTRA=pushed-value\n")
    try:
        server.fab("shared.push").error("pass --yes")
        assert server.fab("--dry", "shared.push").ok()
        assert shared_env.read_text() == before
        assert not list((server.path / "shared").glob(".env.*"))

        run = server.fab("shared.push", "--yes").ok()
        assert "pushed-value" not in run.stdout + run.stderr and server.secret_key not in run.stdout
        assert shared_env.read_text() == original + "EXTRA=pushed-value\n" and mode(shared_env) == 0o600
        [saved] = (server.path / "shared").glob(".env.*.bak")
        assert re.fullmatch(r"\.env\.\d{8}T\d{6}Z\.bak", saved.name)
        assert saved.read_text() == before and mode(saved) == 0o600
        assert f"the previous one is shared/{saved.name}" in run.stdout
        assert not [p.name for p in (server.path / "shared").iterdir() if "upload" in p.name]  # no partial left

        again = server.fab("shared.push", "--yes").ok()
        assert "same as" in again.stdout and "skipped" in again.stdout
        assert list((server.path / "shared").glob(".env.*.bak")) == [saved]
    finally:
        server.production_env.write_text(original)
        server.fab("shared.push", "--yes").ok()
        for saved in (server.path / "shared").glob(".env.*.bak"):
            saved.unlink()


def test_shared_push_makes_a_readable_server_copy_private(server):
    server.fab("setup").ok()
    shared_env = server.path / "shared" / ".env"
    os.chmod(shared_env, 0o644)
    assert "mode 644 on the server" in server.fab("shared.diff").stdout
    server.fab("shared.push", "--yes").ok()
    assert mode(shared_env) == 0o600
    for saved in (server.path / "shared").glob(".env.*.bak"):
        assert mode(saved) == 0o600
        saved.unlink()


def test_unknown_host_hint_names_the_known_hosts_file_in_use(server, tmp_path):
    empty = tmp_path / "elsewhere" / "known_hosts"
    empty.parent.mkdir()
    empty.write_text("")
    config = server.ssh_config_variant("elsewhere", UserKnownHostsFile=f'"{empty}"')
    line = server.fab("releases", ssh_config=config).error("unknown host key for", server.sshd.alias)
    assert f">> {empty}`" in line, line
    assert "~/.ssh/known_hosts" not in line


def test_fab_backup_keeps_local_copies_in_private_git_ignored_directories(deployed):
    alias = deployed.sshd.alias
    manifest = deployed.fab("backup", "--json").ok().json()
    local_dir = deployed.project / "backups" / alias
    assert manifest["local_path"].startswith(str(local_dir) + "/")
    assert manifest["host"] == alias
    for directory in (deployed.project / "backups", local_dir):
        assert "*" in (directory / ".gitignore").read_text().splitlines()
        assert mode(directory) == 0o700
    listed = deployed.fab("backups", "--json").ok().json()
    assert listed["host"] == alias
    assert manifest["file"] in [entry["file"] for entry in listed["local"]]


def test_a_push_in_the_same_second_as_an_earlier_one_keeps_both_old_copies(server):
    """The old copy is named by the second it was replaced in: a second push within it (a script, a retry) keeps
    its old copy under the next free number, and never writes over the copy the first push kept."""
    server.fab("setup").ok()
    shared = server.path / "shared"
    before = (shared / ".env").read_text()
    original = server.production_env.read_text()
    now = time.time()
    taken = {}
    for offset in range(-2, 30):  # every second the push could run in already has a copy
        path = shared / time.strftime(".env.%Y%m%dT%H%M%SZ.bak", time.gmtime(now + offset))
        path.write_text(f"kept at {offset}\n")
        taken[path] = path.read_text()
    server.production_env.write_text(original + "EXTRA=pushed-again\n")
    try:
        run = server.fab("shared.push", "--yes").ok()
        [saved] = [path for path in shared.glob(".env.*.bak") if path not in taken]
        assert re.fullmatch(r"\.env\.\d{8}T\d{6}Z\.2\.bak", saved.name), saved.name
        assert saved.read_text() == before and mode(saved) == 0o600
        assert f"the previous one is shared/{saved.name}" in run.stdout
        left = {path: path.read_text() for path in taken if path.exists()}  # the five newest are kept (pruned)
        assert left == {path: taken[path] for path in left} and len(left) == 4  # untouched, beside the new one
    finally:
        server.production_env.write_text(original)
        server.fab("shared.push", "--yes").ok()
        for saved in shared.glob(".env.*.bak"):
            saved.unlink()


def test_shared_push_keeps_the_five_newest_replaced_copies(server):
    """The replaced copies hold old secrets: the oldest beyond five go with each push (another shared file's
    copies, whose names share the prefix, are not counted)."""
    server.fab("setup").ok()
    shared = server.path / "shared"
    other = shared / ".env.production.20200101T000000Z.bak"  # a copy of another shared file, .env.production
    other.write_text("OTHER=1\n")
    original = server.production_env.read_text()
    try:
        for n in range(7):
            server.production_env.write_text(original + f"ROUND={n}\n")
            server.fab("shared.push", "--yes").ok()
        kept = sorted((p.read_text().rpartition("ROUND=")[2] for p in shared.glob(".env.[0-9]*.bak")))
        assert kept == ["1\n", "2\n", "3\n", "4\n", "5\n"], kept  # the newest five replaced: rounds 1-5
        assert other.exists()
    finally:
        server.production_env.write_text(original)
        server.fab("shared.push", "--yes").ok()
        for saved in shared.glob(".env*.bak"):
            saved.unlink()


def test_shared_push_refuses_an_env_file_the_servers_shell_cannot_read_or_export(server):
    """The server's commands source shared/.env: a broken one would fail every deploy, backup and restart after it.
    Refused before it travels, the line named but no value shown; the server's copy untouched."""
    server.fab("setup").ok()
    shared_env = server.path / "shared" / ".env"
    before = shared_env.read_text()
    original = server.production_env.read_text()
    try:
        server.production_env.write_text(original + "BROKEN='unterminated-secret-value\n")
        line = server.fab("shared.push", "--yes").error(f"deploy/{server.sshd.alias}/.env is not valid shell",
                                                         "nothing was uploaded")
        assert "line " in line and "unterminated-secret-value" not in line, line
        server.production_env.write_text(original + "HUGE=" + "x" * (70 << 10) + "\n")
        server.fab("shared.push", "--yes").error("bytes: exported into every command on the server")
        # valid shell that the sourcing shell would run, or change: every command printed `hunter2: command not
        # found` (a value's second word); `$cd` of a key became nothing
        number = len(original.splitlines()) + 1
        for added, why in (("SECRET_KEY=foo hunter2 `x`", "an unquoted space in the value"),
                           ("TOKEN=\"$(cat /etc/hostname)\"", "a command substitution in the value"),
                           ("SECRET_KEY=ab$cdhunter2", "a `$` in the value that the shell would expand")):
            server.production_env.write_text(original + added + "\n")
            line = server.fab("shared.push", "--yes").error(f"deploy/{server.sshd.alias}/.env line {number} (",
                                                            why, "put the value in single quotes", "nothing was uploaded")
            assert "hunter2" not in line and "hostname" not in line, line
        server.production_env.write_text(original + "QUOTED='foo hunter2 $cd `x`'\nREUSED=\"${QUOTED}\"\n")
        server.fab("shared.push", "--yes").ok()  # single quotes keep a value as written; an earlier name expands
        assert shared_env.read_text() != before
    finally:
        server.production_env.write_text(original)
