"""Where a release keeps its static files (static_files.destination) and the dangling STATIC_ROOT link a failed
first deploy would leave (static_files.unlink_dangling): real directories and symlinks."""
import os

from deploytasks.server.layout import ServerLayout
from deploytasks.server.static_files import destination, unlink_dangling


def layout_with_release(tmp_path):
    layout = ServerLayout(str(tmp_path / "srv"))
    os.makedirs(layout.release("R1"))
    os.makedirs(layout.shared)
    return layout


def test_static_root_inside_the_release_is_collected_in_place(tmp_path):
    layout = layout_with_release(tmp_path)
    root = os.path.join(layout.current, "staticfiles")
    os.symlink(os.path.join("releases", "R1"), layout.current)
    params = {"path": layout.path, "release": "R1"}
    # the release's settings name BASE_DIR / "staticfiles", BASE_DIR being the release itself
    assert destination(os.path.join(layout.release("R1"), "staticfiles"), params) == (
        "in release", os.path.realpath(layout.release("R1")) + "/staticfiles", None)
    assert destination(root, params)[0] == "in release"  # current/… while current is this release: the same place


def test_a_shared_dirs_link_and_a_shared_root_become_per_release(tmp_path):
    layout = layout_with_release(tmp_path)
    os.symlink(os.path.join(layout.shared, "staticfiles"), os.path.join(layout.release("R1"), "staticfiles"))
    params = {"path": layout.path, "release": "R1"}
    release = os.path.realpath(layout.release("R1"))
    assert destination(os.path.join(layout.release("R1"), "staticfiles"), params) == (
        "shared dir", release + "/staticfiles", os.path.join(layout.shared, "staticfiles"))
    shared_root = os.path.join(layout.shared, "static")
    assert destination(shared_root, params) == ("shared", release + "/collected_static",
                                                os.path.realpath(layout.shared) + "/static")
    assert destination(str(tmp_path / "elsewhere"), params)[0] == "outside"


def test_only_a_dangling_link_into_current_is_removed(tmp_path):
    layout = layout_with_release(tmp_path)
    ours = os.path.join(layout.shared, "staticfiles")
    os.symlink(os.path.join(layout.current, "staticfiles"), ours)
    theirs = os.path.join(layout.shared, "media")
    os.symlink(str(tmp_path / "unmounted-nfs"), theirs)  # dangling, but not ours: kept
    assert not unlink_dangling(layout, theirs) and os.path.islink(theirs)
    assert not unlink_dangling(layout, None)
    os.symlink(os.path.join("releases", "R1"), layout.current)
    os.makedirs(os.path.join(layout.release("R1"), "staticfiles"))
    assert not unlink_dangling(layout, ours) and os.path.islink(ours)  # leads somewhere: kept
    os.unlink(layout.current)
    assert unlink_dangling(layout, ours) and not os.path.lexists(ours)
