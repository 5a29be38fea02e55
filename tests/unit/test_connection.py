"""Which known_hosts files a connection trusts: ~/.ssh/config's UserKnownHostsFile first, then deploytasks'."""
import fabric

from deploytasks.host_names import known_hosts_files
from deploytasks.settings import Settings


def connection(tmp_path, host, ssh_config):
    path = tmp_path / "ssh_config"
    path.write_text(ssh_config)
    return fabric.Connection(host, config=fabric.Config(runtime_ssh_path=str(path)))


def test_the_files_of_user_known_hosts_file_come_first_and_are_expanded(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    c = connection(tmp_path, "prod", 'Host prod\n  UserKnownHostsFile ~/kh1 "/etc/my known hosts"\n')
    files = known_hosts_files(c, Settings(known_hosts=["~/.ssh/known_hosts", "/srv/extra"]))
    assert files == [f"{tmp_path}/kh1", "/etc/my known hosts", f"{tmp_path}/.ssh/known_hosts", "/srv/extra"]


def test_a_host_without_ssh_config_entry_uses_the_settings_files(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    c = connection(tmp_path, "other", "Host prod\n  UserKnownHostsFile /nowhere\n")
    assert known_hosts_files(c, Settings()) == [f"{tmp_path}/.ssh/known_hosts"]
