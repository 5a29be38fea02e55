"""The deploy journal and recovery from it (server/journal.py, server/recovery.py), on a deploy path in tmp."""
import json
import os
import subprocess
import time
import sys

from deploytasks.server import journal as journals
from deploytasks.server.layout import ServerLayout
from deploytasks.server.lock import acquire_lock, lock_info
from deploytasks.server.recovery import recover, way_back
from deploytasks.server.releases import current_release, save_meta, switch_to


def dead_process():
    """The pid and start time of a process that has ended."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    started = journals.started_at(child.pid)
    child.wait()
    return {"pid": child.pid, "started": started}


def deploy_path(tmp_path):
    layout = ServerLayout(str(tmp_path))
    for name in ("20260101T000000Z", "20260102T000000Z"):
        os.makedirs(layout.release(name))
    save_meta(layout, "20260101T000000Z", {"revision": "abc"})
    switch_to(layout, "20260102T000000Z")  # the crashed deploy had switched
    acquire_lock(layout, "deploy", "ann@laptop")
    return layout


def test_the_journal_knows_whether_its_process_runs(tmp_path):
    layout = deploy_path(tmp_path)
    journals.update(layout, release="20260102T000000Z", **journals.me())
    assert journals.running(journals.read(layout))
    journals.update(layout, **dead_process())
    assert not journals.running(journals.read(layout))


def test_a_dead_deploy_is_switched_back_removed_logged_and_unlocked(tmp_path):
    layout = deploy_path(tmp_path)
    journals.update(layout, release="20260102T000000Z", previous="20260101T000000Z", switched=True, phase="health",
                    log={"action": "deploy"}, **dead_process())
    summary = recover(layout, {})
    assert summary.startswith("recovered the deploy of 20260102T000000Z that stopped during health")
    assert "switched back to 20260101T000000Z" in summary
    assert current_release(layout) == "20260101T000000Z"
    assert not os.path.exists(layout.release("20260102T000000Z")) and lock_info(layout) is None
    with open(layout.log) as handle:
        assert json.loads(handle.readlines()[-1])["result"] == "recovered"


def test_a_running_deploy_is_left_alone(tmp_path):
    layout = deploy_path(tmp_path)
    journals.update(layout, release="20260102T000000Z", previous="20260101T000000Z", switched=True, **journals.me())
    assert recover(layout, {}) is None
    assert lock_info(layout) is not None


def test_the_way_back_is_never_an_empty_backup(tmp_path):
    empty = tmp_path / "db-pre-deploy.sqlite3"
    empty.write_bytes(b"")
    assert "no backup holds the previous state" in way_back(str(empty))
    assert "no backup holds the previous state" in way_back(None)
    empty.write_bytes(b"SQLite format 3\0")
    assert str(empty) in way_back(str(empty))


def test_an_undone_release_that_was_recorded_and_cannot_go_yet_is_marked_bad(tmp_path):
    """A fleet host that went on alone recorded the release before the client undid it; a process still works in
    it, so it stays for now: marked bad, no rollback picks it as its target."""
    layout = deploy_path(tmp_path)
    save_meta(layout, "20260102T000000Z", {"revision": "def", "status": "live"})
    worker = subprocess.Popen(["sleep", "30"], cwd=layout.release("20260102T000000Z"))
    try:
        journals.update(layout, release="20260102T000000Z", previous="20260101T000000Z", switched=True,
                        phase="health", log={"action": "deploy"}, **dead_process())
        summary = recover(layout, {"reload_timeout": 0})
    finally:
        worker.kill()
        worker.wait()
    assert f"kept 20260102T000000Z, marked bad: process {worker.pid} (sleep) still works in it" in summary
    assert "stop it" not in summary  # a release was live before: no app server of this one serves alone
    with open(os.path.join(layout.release("20260102T000000Z"), ".deploytasks-release.json")) as handle:
        assert json.load(handle)["status"] == "bad"


def test_a_failed_first_deploys_app_server_still_in_its_release_is_named_with_how_to_stop_it(tmp_path):
    """Nothing was live before: the app server the deploy started serves the failed release until stopped."""
    layout = deploy_path(tmp_path)
    server = subprocess.Popen(["bash", "-c", "exec -a gunicorn sleep 30"], cwd=layout.release("20260102T000000Z"))
    try:
        time.sleep(0.2)  # the exec done
        journals.update(layout, release="20260102T000000Z", previous=None, switched=True, phase="health",
                        log={"action": "deploy"}, **dead_process())
        summary = recover(layout, {"reload_timeout": 0})
    finally:
        server.kill()
        server.wait()
    assert f"kept 20260102T000000Z: process {server.pid} (gunicorn) still works in it" in summary, summary
    assert f"stop it (kill {server.pid}) or deploy again once fixed" in summary, summary


def test_a_dead_deploys_reload_command_still_running_is_ended_before_the_recovery_switches_back(tmp_path):
    """The supervisor died while its reload command (a session of its own) ran: that command would go on signalling
    the app server after the recovery; it is ended first. A finished command's leftover (a server it started in
    the background) is left alone."""
    from deploytasks.server.recovery import end_orphans

    layout = deploy_path(tmp_path)
    reload = subprocess.Popen(["sh", "-c", "sleep 30"], cwd=layout.path, start_new_session=True)
    finished = subprocess.Popen(["sh", "-c", "sleep 30 >/dev/null & echo started"], cwd=layout.path,
                                start_new_session=True, stdout=subprocess.PIPE)
    finished.communicate()
    try:
        assert end_orphans(layout, {"pid": dead_process()["pid"], "command_group": reload.pid}, wait=5) >= 1
        assert reload.wait(timeout=5) == -9
        assert end_orphans(layout, {"pid": dead_process()["pid"], "command_group": finished.pid}, wait=1) == 0
    finally:
        for process in (reload,):
            if process.poll() is None:
                process.kill()
        os.killpg(finished.pid, 9)
