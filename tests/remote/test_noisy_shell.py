"""A server whose shell start-up prints (a welcome line from root's .bashrc on stdout and stderr, as many do) and
whose sftp subsystem is Debian's default, a program sshd starts through that shell: SFTP cannot work there, so
deploytasks sends what it uploads on a command's stdin, and says what to fix where SFTP is the only way."""
import hashlib
import shlex
import subprocess
import tarfile
from pathlib import Path

import pytest

from deploytasks.connection import secure
from deploytasks.errors import DeployTasksError
from deploytasks.transfer import sftp_of
from tests.remote.conftest import Repo, Server, give_uv
from tests.sshd import SSHServer

ADDRESS = "127.0.0.193"
WELCOME = "Welcome to prod: be careful"


@pytest.fixture(scope="module")
def noisy(tmp_path_factory):
    base = tmp_path_factory.mktemp("remote-noisy-shell")
    bashrc = base / "bashrc"
    bashrc.write_text(open("/root/.bashrc").read() + f"\necho {shlex.quote(WELCOME)}\necho 'and on stderr' >&2\n")
    wrap = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
            f'mount --bind {shlex.quote(str(bashrc))} /root/.bashrc && exec "$0" "$@"']
    noisy = SSHServer(base / "sshd", host=ADDRESS, wrap=wrap, sftp="/usr/lib/openssh/sftp-server")
    noisy.bashrc_snapshot = False  # its sessions run that .bashrc
    with noisy as sshd:
        server = Server(base, sshd, Repo(base))
        give_uv(server)
        yield server


def deployed(noisy):
    if noisy.current() is None:
        noisy.fab("setup").ok()
        noisy.fab("deploy").ok()
    return noisy


def test_the_servers_shell_prints_and_its_sftp_is_broken_by_it(noisy):
    said = subprocess.run(["ssh", "-F", str(noisy.sshd.ssh_config), noisy.sshd.alias, "true"], capture_output=True,
                          text=True, timeout=30)
    assert said.stdout.strip() == WELCOME
    c = noisy.sshd.connection()
    secure(c, type("Settings", (), {"accept_new_hosts": False, "known_hosts": [str(noisy.sshd.known_hosts)]}))
    with pytest.raises(DeployTasksError, match=r"^SFTP to .* failed \(.*\): the SSH user's shell prints text when it "
                                               r"starts \(~/.bashrc\?\); make it print nothing"):
        sftp_of(c)
    c.close()


def test_setup_deploy_backup_and_restore_work_through_it(noisy):
    noisy.fab("setup").ok()
    noisy.fab("deploy").ok()
    assert len(noisy.releases()) == 1 and noisy.revision() == noisy.repo.head()
    backup = noisy.fab("backup", "--json").json()
    assert "restored" in noisy.fab("restore", backup["local_path"], "--yes").ok().stdout
    assert any(name.endswith("pre-restore.sqlite3") for name in noisy.backups())


def test_a_release_uploaded_as_a_git_archive_works_through_it(noisy):
    deployed(noisy)
    checkout = noisy.upload_checkout()
    before = noisy.current()
    noisy.configure(strategy="upload")
    try:
        noisy.fab("deploy", "--again", cwd=checkout).ok()
    finally:
        noisy.configure(strategy="mirror")
    assert noisy.current() != before and not list(noisy.path.glob(".upload-*"))
    assert len(noisy.fab("releases", "--json").ok().json()["releases"]) == 2
    noisy.fab("rollback", "--yes").ok()
    assert noisy.current() == before


def test_commands_read_what_they_printed_not_what_the_shell_did(noisy):
    deployed(noisy)
    again = noisy.fab("setup").ok().stdout
    assert WELCOME not in again and "kept the server's shared/.env" in again  # the state read through the noise
    for shipped in (noisy.path / ".deploytasks").glob("*.pyz"):
        shipped.unlink()  # the next command finds no server code and ships it (the directory from its output)
    assert WELCOME not in noisy.fab("check").ok().stdout
    assert list((noisy.path / ".deploytasks").glob("*.pyz"))


def test_a_media_backup_downloads_the_archive_not_the_shells_welcome(noisy):
    deployed(noisy)
    media = noisy.path / "shared" / "media"
    (media / "photos").mkdir(parents=True, exist_ok=True)
    (media / "photos" / "cat.jpg").write_bytes(b"\xff\xd8not really a jpeg")
    manifest = noisy.fab("backup", "--media", "--json").ok().json()
    archive = manifest["media"]
    local = Path(manifest["local_path"]).parent / archive["file"]  # fetched with `ssh … cat` after the database
    assert hashlib.sha256(local.read_bytes()).hexdigest() == archive["sha256"]
    with tarfile.open(local) as tar:
        assert any(name.endswith("photos/cat.jpg") for name in tar.getnames())
