"""Off-site settings (issue 14 §2): the remote must name an rclone.conf remote (no credentials in argv), offsite_from
is local or server, and the manifest that travels carries no path of either side."""
import dataclasses

import pytest

from deploytasks.errors import DeployTasksError
from deploytasks.offsite import PARTIAL, Rclone, check_remote, first_hash, offsite_manifest
from deploytasks.settings import DEFAULTS, Settings, validate


def test_defaults():
    assert DEFAULTS["offsite"] == "" and DEFAULTS["offsite_from"] == "local" and DEFAULTS["keep_offsite"] == 10
    assert DEFAULTS["backup_offsite"] is False


@pytest.mark.parametrize("remote", ["b2:bucket/site", "sftp-store:/srv/backups", "gdrive:", "s3:bucket"])
def test_a_named_remote_is_accepted(remote):
    assert check_remote(remote) == remote


@pytest.mark.parametrize("remote", ["/srv/backups", "bucket/path", ":s3,access_key_id=AK,secret_access_key=S:bucket",
                                    "s3,secret_access_key=S:bucket", ":local:/tmp"])
def test_a_path_or_an_on_the_fly_remote_is_refused(remote):
    with pytest.raises(DeployTasksError, match="deploytasks.offsite"):
        check_remote(remote)


def test_validate_checks_offsite_from_and_the_remote():
    with pytest.raises(DeployTasksError, match="offsite_from"):
        validate(dataclasses.replace(Settings(), offsite_from="cloud"))
    with pytest.raises(DeployTasksError, match="rclone.conf"):
        validate(dataclasses.replace(Settings(), offsite=":s3,secret_access_key=S:bucket"))
    validate(dataclasses.replace(Settings(), offsite="vault:x", offsite_from="server"))


def test_rclone_commands_quote_every_word_and_pass_the_config_path():
    settings = dataclasses.replace(Settings(), offsite="vault:my backups/site/", offsite_config="/etc/rc conf")
    rclone = Rclone(None, settings, "prod")
    assert rclone.object("a.sqlite3") == "vault:my backups/site/a.sqlite3"
    assert rclone.command("cat", rclone.object("a;b")) == \
        "umask 077 && rclone --config '/etc/rc conf' cat 'vault:my backups/site/a;b'"  # what it writes: 0600
    assert Rclone(None, dataclasses.replace(settings, offsite="vault:"), "prod").object("x") == "vault:x"


def test_an_unset_remote_is_one_clear_error():
    with pytest.raises(DeployTasksError, match="set deploytasks.offsite"):
        Rclone(None, Settings(), "local")


def test_the_travelling_manifest_has_no_paths():
    manifest = {"file": "db.sqlite3", "path": "/srv/site/backups/db.sqlite3", "local_path": "/home/me/db.sqlite3",
                "pruned": [], "sha256": "ab", "media": {"file": "db.sqlite3.media.tar", "path": "/srv/x", "sha256": "cd"}}
    document = offsite_manifest(manifest)
    assert document == {"file": "db.sqlite3", "sha256": "ab", "media": {"file": "db.sqlite3.media.tar", "sha256": "cd"}}
    assert manifest["media"]["path"] == "/srv/x"  # the caller's manifest is not changed
    assert PARTIAL.startswith(".")



@pytest.mark.parametrize("stdout, expected", [
    ("da39a3ee5e6b4b0d3255bfef95601890afd80709  db.sqlite3\n", "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
    ("                                          db.sqlite3\n", ""),  # the backend could not compute it
    ("UNSUPPORTED  db.sqlite3\n", ""),
    ("", ""),
])
def test_hashsum_output_without_a_hash_is_no_hash(stdout, expected):
    assert first_hash(stdout) == expected
