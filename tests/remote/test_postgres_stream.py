"""PostgreSQL backups made by `pg_dump --compress=0 | zstd -1` and streamed down the one connection, through the
real sshd and PostgreSQL: they restore; a plain custom-format .dump as earlier versions made still restores; a
tampered copy is refused with the database unchanged; a server without zstd falls back to pg_dump's own zlib
and says so once."""
import json
import os
import shutil
import subprocess

import pytest

from tests._util import sessions_without_zstd
from tests.remote.postgres import SKIP, deployed_on_postgres, rows

ADDRESS = "127.0.0.110"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
pytestmark = [SKIP, pytest.mark.skipif(not shutil.which("zstd"), reason="needs zstd")]


@pytest.fixture(scope="module")
def pg_deployed(server):
    with deployed_on_postgres(server) as deployed:
        yield deployed



def plans(s):
    return rows(s, "SELECT id, name FROM accounts_plan ORDER BY id")


def backup(s):
    manifest = s.fab("backup", "--json").ok().json()
    return manifest


def test_a_streamed_zstd_backup_restores(pg_deployed, sha256):
    s = pg_deployed
    before = plans(s)
    manifest = backup(s)
    local = manifest["local_path"]
    assert local.endswith(".dump.zst") and manifest["compression"] == "zstd -1"
    assert open(local, "rb").read(4) == ZSTD_MAGIC
    assert sha256(local) == manifest["sha256"] == sha256(manifest["path"])
    assert len(manifest["migrations"]["accounts"]) >= 1
    listing = subprocess.run(f"zstd -dc {local} | pg_restore --list", shell=True, capture_output=True, text=True)
    assert listing.returncode == 0 and "accounts_plan" in listing.stdout  # the bare tools read it too

    rows(s, "DELETE FROM accounts_plan")
    restore = s.fab("restore", local, "--yes").ok()
    assert plans(s) == before
    safety = [name for name in os.listdir(s.path / "backups") if name.endswith("-pre-restore.dump.zst")]
    assert safety and safety[-1] in restore.stdout


def test_an_old_plain_custom_format_dump_still_restores(pg_deployed, tmp_path):
    s = pg_deployed
    before = plans(s)
    old = tmp_path / "old-format.dump"
    subprocess.run(["pg_dump", "--format=custom", "--no-owner", "--no-acl", "--host=127.0.0.1", "--username=postgres",
                    "--dbname=" + s.pg["name"], "--file=" + str(old)], check=True)
    assert old.read_bytes()[:5] == b"PGDMP"
    rows(s, "DELETE FROM accounts_plan")
    s.fab("restore", str(old), "--yes", "--unverified").ok()
    assert plans(s) == before


def tampered_copy(source, target):
    data = bytearray(open(source, "rb").read())
    data[len(data) // 2] ^= 0xFF
    with open(target, "wb") as handle:
        handle.write(data)


def test_a_tampered_backup_is_refused_and_the_database_unchanged(pg_deployed, tmp_path):
    s = pg_deployed
    manifest = backup(s)
    rows(s, "UPDATE accounts_plan SET name = name || ' (live)'")
    live = plans(s)
    bad = tmp_path / os.path.basename(manifest["local_path"])
    tampered_copy(manifest["local_path"], bad)
    shutil.copy(manifest["local_path"] + ".json", str(bad) + ".json")
    s.fab("restore", str(bad), "--yes").error("sha256")
    assert plans(s) == live

    os.unlink(str(bad) + ".json")  # no manifest to compare with: the archive's own checks refuse it
    s.fab("restore", str(bad), "--yes", "--unverified").error("damaged")
    assert plans(s) == live


@pytest.fixture
def server_without_zstd(pg_deployed, tmp_path):
    """A server without zstd (see sessions_without_zstd)."""
    with sessions_without_zstd(pg_deployed.sshd, tmp_path):
        yield pg_deployed


def test_a_server_without_zstd_falls_back_to_pg_dumps_compression_and_says_so(server_without_zstd):
    s = server_without_zstd
    before = plans(s)
    run = s.fab("backup").ok()
    assert run.stdout.count("zstd not found on the server") == 1, run.stdout
    [made] = sorted((s.path / "backups").glob("*.dump"), key=os.path.getmtime)[-1:]
    manifest = json.loads(open(str(made) + ".json").read())
    assert manifest["compression"] == "pg_dump zlib level 1" and made.read_bytes()[:5] == b"PGDMP"
    local = [line for line in run.stdout.split() if line.endswith(made.name)][-1]
    rows(s, "DELETE FROM accounts_plan")
    s.fab("restore", local, "--yes").ok()
    assert plans(s) == before
