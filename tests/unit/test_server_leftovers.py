"""What killed transfers leave (issue 9, items 5, 8, 9): stale uploads and partial backups on the server,
partial downloads on the laptop, and the directories running processes use. Real files and processes."""
import os
import subprocess
import sys
import time

import pytest

from deploytasks.server.layout import ServerLayout
from deploytasks.server.leftovers import IDLE_SECONDS, remove_uploads, remove_uploads_if_unlocked
from deploytasks.server.lock import acquire_lock, hold_as, release_lock
from deploytasks.server.lock_guard import watch
from deploytasks.server.procscan import files_open, in_use
from deploytasks.server.releases import prune, release_names, remove_release, save_meta, switch_to
from deploytasks.transfer import remove_stale_partials

HOLD_OPEN = "import sys, time; handle = open(sys.argv[1]); print('ready', flush=True); time.sleep(60)"


@pytest.fixture
def holder():
    """holder(path=None, cwd=None): a process with `path` open and/or `cwd` as its directory, until the test ends."""
    started = []

    def start(path=os.devnull, cwd=None):
        process = subprocess.Popen([sys.executable, "-c", HOLD_OPEN, str(path)], cwd=cwd, stdout=subprocess.PIPE, text=True)
        started.append(process)
        assert process.stdout.readline().strip() == "ready"
        return process
    yield start
    for process in started:
        process.kill()
        process.wait()


def _layout(tmp_path):
    layout = ServerLayout(str(tmp_path))
    os.makedirs(layout.uploaded)
    return layout


def _aged(path):
    old = time.time() - IDLE_SECONDS - 60
    os.utime(path, (old, old))
    return path


def test_taking_the_lock_removes_every_upload_and_only_idle_partial_backups_nobody_has_open(tmp_path, holder):
    layout = _layout(tmp_path)
    for name in ("db.sqlite3.partial", "db.sqlite3", "db.sqlite3.json"):
        (tmp_path / "backups" / "uploaded" / name).write_text("x")
    idle = tmp_path / "backups" / "db-1.sqlite3.partial"
    idle.write_text("x")
    _aged(idle)
    recent = tmp_path / "backups" / "db-2.sqlite3.partial"
    recent.write_text("x")
    held = tmp_path / "backups" / "db-3.dump.partial"
    held.write_text("x")
    _aged(held)
    holder(held)
    kept = tmp_path / "backups" / "db-0.sqlite3"
    kept.write_text("x")

    acquire_lock(layout, "deploy", "ann@laptop")
    try:
        assert os.listdir(layout.uploaded) == []
        assert not idle.exists() and recent.exists() and held.exists() and kept.exists()
    finally:
        release_lock(layout)


def test_a_backup_removes_uploads_only_when_nobody_holds_the_lock(tmp_path):
    layout = _layout(tmp_path)
    acquire_lock(layout, "restore", "ann@laptop")
    upload = tmp_path / "backups" / "uploaded" / "db.sqlite3.partial"
    upload.write_text("x")
    assert remove_uploads_if_unlocked(layout) == [] and upload.exists()  # ann's upload may be on its way
    release_lock(layout)
    assert remove_uploads_if_unlocked(layout) == ["uploaded/db.sqlite3.partial"]
    assert not upload.exists() and not os.path.exists(layout.lock)


def test_remove_uploads_without_a_backups_directory_is_a_no_op(tmp_path):
    assert remove_uploads(ServerLayout(str(tmp_path / "missing"))) == []


def test_partial_downloads_of_fab_runs_that_are_gone_are_removed(tmp_path):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    stale = tmp_path / f".incoming-{gone.pid}.partial"
    running = tmp_path / f".incoming-{os.getppid()}.partial"
    other = tmp_path / "db.sqlite3"
    for path in (stale, running, other):
        path.write_text("x")
    assert remove_stale_partials(str(tmp_path)) == [stale.name]
    assert running.exists() and other.exists()


def test_in_use_sees_a_process_working_directory_and_open_files(tmp_path, holder):
    used, unused = tmp_path / "venv-a", tmp_path / "venv-b"
    used.mkdir()
    unused.mkdir()
    holder(cwd=used)
    assert in_use([str(used), str(unused)]) == {str(used)}
    target = unused / "file"
    target.write_text("x")
    assert files_open([str(target)]) == set()
    holder(target)
    assert files_open([str(target)]) == {str(target)}


def test_in_use_sees_a_venv_interpreter_by_the_path_it_was_started_with(tmp_path):
    venv = tmp_path / "venvs" / "abc"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    process = subprocess.Popen([str(venv / "bin" / "python"), "-c", "import time; time.sleep(60)"], cwd="/")
    try:
        time.sleep(0.3)
        assert in_use([str(venv)]) == {str(venv)}
    finally:
        process.kill()
        process.wait()
    assert in_use([str(venv)]) == set()


def _release(layout, name):
    os.makedirs(layout.release(name))
    with open(os.path.join(layout.release(name), "REVISION"), "w") as handle:
        handle.write("abc\n")
    return layout.release(name)


def test_a_release_a_process_works_in_is_kept_and_removed_once_that_process_leaves(tmp_path, holder):
    """gunicorn's master re-reads its working directory on HUP and exits when it is gone: a switched-back
    release is removed only once the reload took the master out of it."""
    layout = ServerLayout(str(tmp_path))
    left = _release(layout, "20260101T000000Z")
    _release(layout, "20260102T000000Z")
    switch_to(layout, "20260102T000000Z")
    master = holder(cwd=left)
    assert remove_release(layout, "20260101T000000Z", wait=0) is False
    assert os.path.isdir(left)
    subprocess.Popen(["sh", "-c", "sleep 0.5; kill %d" % master.pid])
    started = time.monotonic()
    assert remove_release(layout, "20260101T000000Z", wait=20) is True
    assert not os.path.exists(left) and time.monotonic() - started < 15


def test_the_live_release_and_the_caller_s_own_directory_do_not_block_removal(tmp_path):
    layout = ServerLayout(str(tmp_path))
    live = _release(layout, "20260101T000000Z")
    switch_to(layout, "20260101T000000Z")
    assert remove_release(layout, "20260101T000000Z") is False and os.path.isdir(live)
    other = _release(layout, "20260102T000000Z")
    # a shell that cd'ed into the release and started us is one of our ancestors, not a user of it
    code = ("import sys; sys.path.insert(0, %r); from deploytasks.server.layout import ServerLayout; "
            "from deploytasks.server.releases import remove_release; "
            "print(remove_release(ServerLayout(%r), '20260102T000000Z', wait=0))" % (os.getcwd(), str(tmp_path)))
    run = subprocess.run(["sh", "-c", 'cd "$1" && "$2" -c "$3"; true', "sh", other, sys.executable, code],
                         capture_output=True, text=True, timeout=30)
    assert run.stdout.strip() == "True", run.stderr
    assert not os.path.exists(other)


def test_pruning_skips_an_old_release_a_process_still_runs_from(tmp_path, holder):
    layout = ServerLayout(str(tmp_path))
    names = ["2026010%dT000000Z" % day for day in range(1, 5)]
    for name in names:
        _release(layout, name)
        save_meta(layout, name, {"release": name, "status": "live"})
    switch_to(layout, names[-1])
    holder(cwd=layout.release(names[0]))
    assert prune(layout, 1, {names[-1]}) == names[1:3]
    assert release_names(layout) == [names[0], names[-1]]


WRITES_BYTECODE_LATER = ("import importlib.machinery, os, sys, time; print('ready', flush=True); time.sleep(1); "
                         "importlib.machinery.SourceFileLoader('models', 'accounts/models.py')"
                         ".set_data(os.path.join(sys.argv[1], 'accounts/__pycache__/models.cpython-311.pyc'), b'x')")


def test_a_lost_deploy_s_release_goes_once_its_django_has_left_it_not_while_it_still_writes_there(tmp_path):
    """The standby's Django may still be starting in the new release when the client is lost: bytecode it writes
    after the removal makes the directories again (Python creates a missing __pycache__'s parents), an orphan
    release. The lock guard waits for the processes working in the release, then removes it and frees the lock."""
    layout = _layout(tmp_path)
    acquire_lock(layout, "deploy")
    hold_as(layout, os.getpid())
    release = _release(layout, "20260101T000000Z")
    django = subprocess.Popen([sys.executable, "-c", WRITES_BYTECODE_LATER, release], cwd=release,
                              stdout=subprocess.PIPE, text=True)
    assert django.stdout.readline().strip() == "ready"
    lost_connection = subprocess.Popen(["true"])
    lost_connection.wait()
    watch(layout, lost_connection.pid, os.getpid(), "20260101T000000Z", interval=0.1)
    assert django.wait(timeout=30) == 0
    assert not os.path.exists(release), sorted(str(path) for path in (tmp_path / "releases").rglob("*"))
    assert not os.path.exists(layout.lock)
