"""A media archive sent as a delta of an earlier one (issue 14 §1): only changed files' bytes travel, and the
rebuilt archive is byte for byte the server's."""
import hashlib
import os

import pytest

from deploytasks.server import media_delta
from deploytasks.server.errors import ServerError
from deploytasks.server.media_archive import write_archive


def digest(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_second_archive_travels_as_the_changed_files_and_rebuilds_exactly(tmp_path):
    media = tmp_path / "media"
    (media / "uploads").mkdir(parents=True)
    for n in range(20):
        (media / "uploads" / f"f{n:02}.bin").write_bytes(os.urandom(64_000))
    first = tmp_path / "first.media.tar"
    write_archive(str(media), str(first))
    (media / "uploads" / "f03.bin").write_bytes(os.urandom(64_000))  # changed
    (media / "uploads" / "new.bin").write_bytes(os.urandom(10_000))  # added
    (media / "uploads" / "f07.bin").unlink()  # removed
    os.rename(media / "uploads" / "f09.bin", media / "uploads" / "renamed.bin")  # same content, new name
    second = tmp_path / "second.media.tar"
    recorded = {}
    assert write_archive(str(media), str(second), recorded) == (20, 19 * 64_000 + 10_000)
    assert recorded == media_delta.contents(str(second))  # hashed while tarring, at the right offsets

    known = media_delta.contents(str(first))
    result = media_delta.main({"archive": str(second), "known": sorted(known)})
    assert result["copied"] == 18 * 64_000  # the unchanged files and the renamed one
    assert result["literal"] == os.path.getsize(second) - result["copied"]
    assert result["size"] < 64_000 + 10_000 + 40 * 1536  # changed + added data, headers, the steps line
    rebuilt = tmp_path / "rebuilt.media.tar"
    assert media_delta.assemble(result["path"], str(first), known, str(rebuilt)) == media_delta.contents(str(second))
    assert digest(rebuilt) == digest(second)

    media_delta.main({"archive": str(second), "remove": True})
    assert not os.path.exists(result["path"])


def test_a_delta_naming_content_the_receiver_lacks_is_refused(tmp_path):
    media = tmp_path / "media"
    media.mkdir()
    (media / "a.bin").write_bytes(os.urandom(5000))
    archive = tmp_path / "a.media.tar"
    write_archive(str(media), str(archive))
    result = media_delta.main({"archive": str(archive), "known": sorted(media_delta.contents(str(archive)))})
    with pytest.raises(ServerError, match="does not hold"):
        media_delta.assemble(result["path"], str(archive), {}, str(tmp_path / "out"))
    with pytest.raises(ServerError, match="not a media archive"):
        media_delta.main({"archive": str(tmp_path / "other.tar"), "known": []})
