"""A media archive restored is extracted only when nothing in it would be written outside the staging directory,
through a symlink it makes first included (server/media_archive.py), on real tar files."""
import hashlib
import io
import json
import tarfile

import pytest

from deploytasks.server.errors import ServerError
from deploytasks.server.media_archive import check_members, prepare


def write_tar(path, members):
    """(name, kind, link target) members: kind file, dir, sym or lnk."""
    with tarfile.open(path, "w") as tar:
        for name, kind, target in members:
            info = tarfile.TarInfo(name)
            data = None
            if kind == "sym":
                info.type, info.linkname = tarfile.SYMTYPE, target
            elif kind == "lnk":
                info.type, info.linkname = tarfile.LNKTYPE, target
            elif kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
            else:
                data = b"uploaded\n"
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data else None)


def checked(tmp_path, members):
    write_tar(tmp_path / "media.tar", members)
    with tarfile.open(tmp_path / "media.tar") as tar:
        check_members(tar, "media.tar")


@pytest.mark.parametrize("members, said", [
    ([("s", "sym", "."), ("e", "sym", "s/.."), ("e/outside", "file", None)], "symlink pointing out of MEDIA_ROOT"),
    ([("a", "sym", "b"), ("b", "sym", "a")], "symlink pointing out of MEDIA_ROOT"),  # a loop lands nowhere
    ([("d", "dir", None), ("l", "sym", "d"), ("l/f", "file", None)], "its path goes through the archive's symlink l"),
    ([("d", "dir", None), ("l", "sym", "d"), ("d/f", "file", None), ("h", "lnk", "l/f")], "links through"),
    ([("up", "sym", "../..")], "pointing out of MEDIA_ROOT"),
    ([("../outside", "file", None)], "its path leaves MEDIA_ROOT"),
])
def test_a_member_written_through_a_symlink_or_outside_is_refused(tmp_path, members, said):
    with pytest.raises(ServerError, match=said):
        checked(tmp_path, members)


def test_symlinks_that_stay_inside_are_kept_as_a_backup_makes_them(tmp_path):
    checked(tmp_path, [("d", "dir", None), ("d/f", "file", None), ("l", "sym", "d/f"), ("m", "sym", "l"),
                       ("h", "lnk", "d/f"), ("d/up", "sym", ".."), ("current", "sym", "d"),
                       ("latest", "sym", "current/f")])  # a link through a link that lands inside (a regression)


def test_a_crafted_archive_writes_nothing_outside_before_it_is_refused(tmp_path):
    """The reviewer's archive (`s -> .`, `e -> s/..`, `e/outside`) next to a real dump and manifest: refused, and
    no file appears beside MEDIA_ROOT."""
    shared = tmp_path / "srv" / "shared"
    shared.mkdir(parents=True)
    write_tar(tmp_path / "db.sqlite3.media.tar", [("s", "sym", "."), ("e", "sym", "s/.."),
                                                  ("e/outside", "file", None)])
    (tmp_path / "db.sqlite3").write_bytes(b"")
    digest = hashlib.sha256((tmp_path / "db.sqlite3.media.tar").read_bytes()).hexdigest()
    (tmp_path / "db.sqlite3.json").write_text(json.dumps({"media": {"file": "db.sqlite3.media.tar", "sha256": digest,
                                                                    "files": 1, "bytes": 9}}))
    with pytest.raises(ServerError, match=r"symlink pointing out of MEDIA_ROOT \(to s/\.\.\); the live media is untouched"):
        prepare(str(shared / "media"), str(tmp_path / "db.sqlite3"))
    assert sorted(p.name for p in shared.iterdir()) == [] and not (shared.parent / "outside").exists()
