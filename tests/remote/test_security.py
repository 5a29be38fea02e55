"""Host keys are verified: unknown hosts are refused unless deploytasks.accept_new_hosts, changed keys always.
(Shell metacharacters in branch names: test_failures.py; secrets on command lines: test_deploy.py.)"""
import os
import stat
import subprocess

ADDRESS = "127.0.0.6"


def host_key(server):
    key_type, key = server.sshd.host_key_pub.read_text().split()[:2]
    return key_type, key


def test_unknown_host_is_refused_by_default(server, tmp_path):
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("")
    config = server.ssh_config_variant("refuse", UserKnownHostsFile=f'"{known_hosts}"')
    before = server.sshd.session_count()
    server.fab("releases", "--json", ssh_config=config).error("unknown host key", f"[{server.sshd.host}]:{server.sshd.port}")
    server.fab("setup", ssh_config=config).error("unknown host key")
    assert known_hosts.read_text() == ""
    assert server.sshd.session_count() == before  # not a single command ran
    assert not server.path.exists()  # setup did not create anything


def test_unknown_host_is_accepted_and_recorded_with_accept_new_hosts(server, tmp_path):
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("")
    config = server.ssh_config_variant("accept", UserKnownHostsFile=f'"{known_hosts}"')
    data = server.fab("releases", "--json", ssh_config=config,
                      env={"FABRIC_DEPLOYTASKS_ACCEPT_NEW_HOSTS": "true"}).ok().json()
    assert data["releases"] == []
    key_type, key = host_key(server)
    assert known_hosts.read_text() == f"[{server.sshd.host}]:{server.sshd.port} {key_type} {key}\n"
    # recorded: the next run trusts it without the setting, and OpenSSH agrees with the file
    server.fab("releases", "--json", ssh_config=config).ok()
    ssh = subprocess.run(["ssh", "-F", str(config), server.sshd.alias, "true"], stdin=subprocess.DEVNULL,
                         capture_output=True, text=True, timeout=30)
    assert ssh.returncode == 0, ssh.stderr


def test_accept_new_hosts_from_fabric_yaml(server, tmp_path):
    known_hosts = tmp_path / "known_hosts"
    config = server.ssh_config_variant("accept-yaml", UserKnownHostsFile=f'"{known_hosts}"')
    server.configure(accept_new_hosts=True)
    try:
        server.fab("releases", "--json", ssh_config=config).ok()
    finally:
        server.configure(accept_new_hosts=False)
    assert host_key(server)[1] in known_hosts.read_text()


def test_changed_host_key_is_refused_even_with_accept_new_hosts(server, tmp_path):
    other = tmp_path / "other_host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True,
                   stdin=subprocess.DEVNULL, capture_output=True)
    key_type, key = open(f"{other}.pub").read().split()[:2]
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[{server.sshd.host}]:{server.sshd.port} {key_type} {key}\n")
    config = server.ssh_config_variant("changed", UserKnownHostsFile=f'"{known_hosts}"')
    for env in (None, {"FABRIC_DEPLOYTASKS_ACCEPT_NEW_HOSTS": "true"}):
        server.fab("releases", ssh_config=config, env=env).error("does not match known_hosts")
    assert known_hosts.read_text() == f"[{server.sshd.host}]:{server.sshd.port} {key_type} {key}\n"


def test_setup_uploads_the_env_file_with_mode_0600(server):
    server.fab("setup").ok()
    shared_env = server.path / "shared" / ".env"
    assert shared_env.read_text() == server.production_env.read_text()
    assert stat.S_IMODE(shared_env.stat().st_mode) == 0o600


def test_nothing_deployed_yet(server):
    """Tasks that need a live release say so in one line."""
    server.fab("setup").ok()
    server.fab("rollback", "--yes").error("nothing is live yet")
    assert not (server.path / ".deploy-lock").exists()
    server.fab("check", "--live-only").error("run `fab deploy` first")
    server.fab("manage", "check").error("run `fab deploy` first")


def test_configuration_errors(server):
    server.fab("deploy", env={"FABRIC_DEPLOYTASKS_PATH": "relative/path"}).error("absolute deploy directory")
    server.fab("deploy", env={"FABRIC_DEPLOYTASKS_STRATEGY": "rsync"}).error("'mirror' or 'upload'")
    server.fab("setup", env={"FABRIC_DEPLOYTASKS_PYTHON": "python9.99"}).error("missing on", "python9.99")
    server.configure(pathh="/srv/typo")
    try:
        server.fab("releases").error("unknown config key deploytasks.pathh", "did you mean deploytasks.path?")
    finally:
        del server.settings["pathh"]
        server.configure()


def test_setup_never_replaces_the_servers_env_file(server):
    """A second `fab setup` with other settings in deploy/<host>/.env keeps the server's (shared.push replaces it)."""
    server.fab("setup").ok()
    shared_env = server.path / "shared" / ".env"
    production = shared_env.read_text()
    local = server.production_env
    local.write_text("DEBUG=true\nSECRET_KEY=dev\n")
    try:
        run = server.fab("setup").ok()
    finally:
        local.write_text(production)
    assert "kept the server's shared/.env" in run.stdout
    assert shared_env.read_text() == production
    assert stat.S_IMODE(shared_env.stat().st_mode) == 0o600


def test_dry_setup_creates_nothing(server):
    fresh = server.base / "fresh-dry"
    run = server.fab("--dry", "setup", env={"FABRIC_DEPLOYTASKS_PATH": str(fresh)}).ok()
    assert "dry-run" in run.stdout
    assert not fresh.exists()
    server.fab("--dry", "setup", env={"FABRIC_DEPLOYTASKS_PATH": "/etc/hostname/srv"}).error("cannot create or write")


def test_deploy_refuses_without_the_shared_env_file(server):
    """Without shared/.env a release would run on defaults: DEBUG on, and a database inside the release dir."""
    fresh = server.base / "fresh-no-env"
    (fresh / "shared").mkdir(parents=True)  # set up, but no .env in shared/
    server.fab("deploy", env={"FABRIC_DEPLOYTASKS_PATH": str(fresh)}).error(f"{fresh}/shared/.env missing on the server")
    assert not (fresh / "releases").exists() and not (fresh / "current").exists()  # nothing made
    assert not (fresh / ".deploy-lock").exists()


def test_one_config_file_for_fab_pyproject_then_its_stage_then_fabric_yaml(server):
    """[tool.deploytasks] in pyproject.toml reaches fab; a stage named like the -H host applies; fabric.yaml wins."""
    pyproject = server.project / "pyproject.toml"
    only_pyproject, of_the_stage, of_fabric_yaml, shadowed = (server.base / f"srv-{name}" for name in
                                                               ("pyproject", "stage", "fabric-yaml", "shadowed"))
    saved = dict(server.settings)
    try:
        del server.settings["path"]
        server.configure()
        pyproject.write_text(f'[tool.deploytasks]\npath = "{only_pyproject}"\n')
        server.fab("setup").ok()
        assert (only_pyproject / "releases").is_dir()

        pyproject.write_text(f'[tool.deploytasks]\npath = "{shadowed}"\n\n'
                             f'[tool.deploytasks.stages."{server.sshd.alias}"]\npath = "{of_the_stage}"\n')
        server.fab("setup").ok()
        assert (of_the_stage / "releases").is_dir()

        server.configure(path=str(of_fabric_yaml))
        server.fab("setup").ok()
        assert (of_fabric_yaml / "releases").is_dir()
        assert not shadowed.exists()

        pyproject.write_text("[tool.deploytasks]\nbrnch = 'x'\n")
        server.fab("releases").error("unknown config key deploytasks.brnch", "did you mean deploytasks.branch?")
    finally:
        pyproject.unlink()
        server.settings.clear()
        server.configure(**saved)
