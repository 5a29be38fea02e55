"""The shared files the live release went live with, kept and put back on real files (server/went_live.py)."""
import os

from deploytasks.server import went_live
from deploytasks.server.layout import ServerLayout


def layout_with_env(tmp_path, text="A=1\n"):
    layout = ServerLayout(str(tmp_path))
    os.makedirs(layout.shared)
    (tmp_path / "shared" / ".env").write_text(text)
    return layout


def test_what_went_live_is_kept_private_and_an_unchanged_file_is_not_changed(tmp_path):
    layout = layout_with_env(tmp_path)
    went_live.remember(layout, [".env", "absent.conf"])
    kept = tmp_path / "shared" / ".went-live" / ".env"
    assert kept.read_text() == "A=1\n" and oct(kept.stat().st_mode & 0o777) == "0o600"
    assert oct((tmp_path / "shared" / ".went-live").stat().st_mode & 0o777) == "0o700"
    assert went_live.changed(layout, [".env", "absent.conf"]) == []
    assert went_live.put_back(layout, [".env"]) == []


def test_a_changed_file_is_put_back_and_the_changed_one_set_aside_then_taken_back(tmp_path):
    layout = layout_with_env(tmp_path)
    went_live.remember(layout, [".env"])
    (tmp_path / "shared" / ".env").write_text("A=broken\n")
    assert went_live.changed(layout, [".env"]) == [".env"]
    done = went_live.put_back(layout, [".env"])
    [(name, aside)] = done
    assert name == ".env" and (tmp_path / "shared" / ".env").read_text() == "A=1\n"
    assert open(aside).read() == "A=broken\n" and aside.endswith(".failed")
    went_live.take_back(layout, done)
    assert (tmp_path / "shared" / ".env").read_text() == "A=broken\n" and not os.path.exists(aside)


def test_a_deploy_path_from_before_keeps_its_file_and_a_removed_file_comes_back(tmp_path):
    layout = layout_with_env(tmp_path)
    assert went_live.put_back(layout, [".env"]) == []  # nothing kept: nothing to put back
    went_live.remember(layout, [".env"])
    (tmp_path / "shared" / ".env").unlink()
    [(name, aside)] = went_live.put_back(layout, [".env"])
    assert aside is None and (tmp_path / "shared" / ".env").read_text() == "A=1\n"


def test_only_the_newest_set_aside_copies_are_kept(tmp_path):
    layout = layout_with_env(tmp_path)
    shared = tmp_path / "shared"
    for day in range(1, 9):
        (shared / f".env.2026010{day}T000000Z.failed").write_text("old secret\n")
    (shared / ".env.production.20260101T000000Z.failed").write_text("another file's\n")
    went_live.prune_failed(str(shared / ".env"))
    left = sorted(p.name for p in shared.glob(".env.*.failed"))
    assert left == [".env.20260104T000000Z.failed", ".env.20260105T000000Z.failed", ".env.20260106T000000Z.failed",
                    ".env.20260107T000000Z.failed", ".env.20260108T000000Z.failed",
                    ".env.production.20260101T000000Z.failed"]


def test_a_link_planted_under_a_temporary_name_is_not_written_through(tmp_path):
    """As root on a tree another user may write to: a symlink where the private write's temporary file goes
    (`<path>.tmp-<pid>`) or as shared/.went-live is replaced or refused, never followed."""
    from deploytasks.server.files import write_private

    victim = tmp_path / "victim"
    victim.write_text("untouched\n")
    target = tmp_path / "info.json"
    os.symlink(victim, f"{target}.tmp-{os.getpid()}")
    write_private(str(target), "{}")
    assert victim.read_text() == "untouched\n" and target.read_text() == "{}"
    layout = layout_with_env(tmp_path / "srv")
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", tmp_path / "srv" / "shared" / ".went-live")
    went_live.remember(layout, [".env"])
    assert list((tmp_path / "elsewhere").iterdir()) == []
