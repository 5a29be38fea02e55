"""A media restore's swap keeps the replaced MEDIA_ROOT under a name no earlier restore holds."""
from deploytasks.server.media_archive import SAFETY, swap


def restore_in(tmp_path, content):
    staging = tmp_path / f"staging-{content}"
    staging.mkdir()
    (staging / "file.txt").write_text(content)
    return swap(str(tmp_path / "media"), str(staging), keep=5)


def test_restores_in_the_same_second_keep_every_replaced_directory(tmp_path):
    (tmp_path / "media").mkdir()
    (tmp_path / "media" / "file.txt").write_text("original")
    kept = [restore_in(tmp_path, name)[0] for name in ("first", "second", "third")]
    assert len(set(kept)) == 3
    assert [open(f"{path}/file.txt").read() for path in kept] == ["original", "first", "second"]
    assert (tmp_path / "media" / "file.txt").read_text() == "third"
    assert all(SAFETY in path for path in kept)
