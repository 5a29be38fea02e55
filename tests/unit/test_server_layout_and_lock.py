"""The deploy path's names and the deploy lock, on a temp directory."""
import os

import pytest

from deploytasks.server.errors import ServerError
from deploytasks.server.layout import ServerLayout
from deploytasks.server.lock import LOCKED, acquire_lock, lock_info, release_lock
from deploytasks.server.releases import prune, release_names, switch_to, current_release


def test_the_layout_names_every_part_of_the_deploy_path():
    layout = ServerLayout("/srv/site")
    assert (layout.releases, layout.shared, layout.backups, layout.current) == (
        "/srv/site/releases", "/srv/site/shared", "/srv/site/backups", "/srv/site/current")
    assert (layout.lock, layout.log, layout.venvs, layout.uploaded, layout.tools) == (
        "/srv/site/.deploy-lock", "/srv/site/releases.log", "/srv/site/shared/venvs", "/srv/site/backups/uploaded",
        "/srv/site/.deploytasks")


def test_a_second_lock_is_refused_with_who_holds_it(tmp_path):
    layout = ServerLayout(str(tmp_path))
    acquire_lock(layout, "deploy", "ann@laptop")
    with pytest.raises(ServerError, match="locked: deploy by ann@laptop") as refused:
        acquire_lock(layout, "rollback", "bob@laptop")
    assert refused.value.code == LOCKED
    assert lock_info(layout)["who"] == "ann@laptop"
    release_lock(layout)
    assert lock_info(layout) is None


def test_switching_and_pruning_keep_the_live_release(tmp_path):
    layout = ServerLayout(str(tmp_path))
    for name in ("20260101T000000Z", "20260102T000000Z", "20260103T000000Z"):
        os.makedirs(layout.release(name))
    switch_to(layout, "20260101T000000Z")
    assert current_release(layout) == "20260101T000000Z"
    assert prune(layout, 1, {"20260101T000000Z", "20260103T000000Z"}) == ["20260102T000000Z"]
    assert release_names(layout) == ["20260101T000000Z", "20260103T000000Z"]
