"""The deploy path's names and the deploy lock, on a temp directory."""
import os

import pytest

from deploytasks.server.errors import ServerError
from deploytasks.server.layout import ServerLayout
from deploytasks.server.lock import LOCKED, acquire_lock, lock_info, release_lock
from deploytasks.server.releases import current_release, prune, release_names, save_meta, switch_to


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
        save_meta(layout, name, {"revision": "abc"})
    switch_to(layout, "20260101T000000Z")
    assert current_release(layout) == "20260101T000000Z"
    assert prune(layout, 1, {"20260101T000000Z", "20260103T000000Z"}) == ["20260102T000000Z"]
    assert release_names(layout) == ["20260101T000000Z", "20260103T000000Z"]


def test_orphans_never_count_and_go_first(tmp_path):
    from deploytasks.server.releases import remove_orphans

    layout = ServerLayout(str(tmp_path))
    for name in ("20260101T000000Z", "20260102T000000Z", "20260103T000000Z", "20260104T000000Z"):
        os.makedirs(layout.release(name))
        if name != "20260103T000000Z":
            save_meta(layout, name, {"revision": "abc"})
    assert remove_orphans(layout, {"20260104T000000Z"}) == ["20260103T000000Z"]
    assert prune(layout, 2, {"20260104T000000Z"}) == ["20260101T000000Z"]


def test_the_lock_age_comes_from_since(tmp_path):
    import json

    layout = ServerLayout(str(tmp_path))
    os.mkdir(layout.lock)
    with open(os.path.join(layout.lock, "info.json"), "w") as handle:
        json.dump({"since": "2020-01-01T00:00:00Z"}, handle)
    assert lock_info(layout)["age"] > 5 * 365 * 24 * 3600


def test_a_hanging_command_is_killed_with_its_group(tmp_path):
    from deploytasks.server.commands import run_command

    layout = ServerLayout(str(tmp_path))
    problem = run_command(layout, "sleep 30 & sleep 30", "reload", timeout=0.5)
    assert problem.startswith("reload command timed out after 0.5s")
    failed = run_command(layout, "cat /nonexistent/gunicorn.pid; kill -l 999", "reload")
    assert "No such file" in failed
    said = run_command(layout, "echo restarting the app server; echo 'it did not start: address in use' >&2; exit 1",
                       "reload")  # what went wrong, not the progress line before it
    assert said == "reload command failed (exit 1): it did not start: address in use", said
    quiet = run_command(layout, "echo only this; exit 3", "reload")
    assert quiet == "reload command failed (exit 3): only this", quiet


def ended_process_pid():
    import subprocess

    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def held_by(layout, **info):
    import json

    os.mkdir(layout.lock)
    with open(os.path.join(layout.lock, "info.json"), "w") as handle:
        json.dump(dict({"action": "rollback", "who": "ann@laptop", "since": "2026-12-07T07:00:00Z"}, **info), handle)


def test_a_lock_whose_holder_has_ended_is_taken_over_and_said_so(tmp_path):
    layout = ServerLayout(str(tmp_path))
    gone = ended_process_pid()
    held_by(layout, pid=gone)
    taken = acquire_lock(layout, "deploy", "bob@laptop")
    assert taken == f"took over the lock rollback by ann@laptop left at 2026-12-07T07:00:00Z: its process {gone} had ended"
    assert lock_info(layout)["who"] == "bob@laptop" and lock_info(layout)["pid"] == os.getpid()
    assert [name for name in os.listdir(tmp_path) if "abandoned" in name] == []


def test_a_lock_whose_holder_pid_was_reused_is_taken_over(tmp_path):
    layout = ServerLayout(str(tmp_path))
    held_by(layout, pid=os.getpid(), started=1)  # this pid, but not the process that took the lock
    assert "took over the lock rollback" in acquire_lock(layout, "deploy", "bob@laptop")


def test_a_lock_held_by_a_live_process_or_naming_none_is_refused(tmp_path):
    from deploytasks.server.journal import started_at

    layout = ServerLayout(str(tmp_path))
    held_by(layout, pid=os.getpid(), started=started_at(os.getpid()))
    with pytest.raises(ServerError, match="locked: rollback by ann@laptop"):
        acquire_lock(layout, "deploy", "bob@laptop")
    release_lock(layout)
    held_by(layout)  # being taken right now (info.json without its pid yet), or by an earlier version
    with pytest.raises(ServerError, match="locked: rollback by ann@laptop"):
        acquire_lock(layout, "deploy", "bob@laptop")


def test_a_lock_whose_info_was_never_written_is_refused_at_first_and_taken_over_after_two_minutes(tmp_path):
    """Its taker died between mkdir and info.json, or the disk was full: nobody will free it."""
    layout = ServerLayout(str(tmp_path))
    os.mkdir(layout.lock)
    open(os.path.join(layout.lock, "info.json.tmp"), "w").close()  # what a full disk left
    with pytest.raises(ServerError, match="is locked"):
        acquire_lock(layout, "deploy", "bob@laptop")
    old = os.stat(layout.lock).st_mtime - 300
    os.utime(layout.lock, (old, old))
    assert "took over the lock" in acquire_lock(layout, "deploy", "bob@laptop")
    assert lock_info(layout)["who"] == "bob@laptop"


def test_a_lock_that_cannot_name_its_holder_is_not_taken(tmp_path, monkeypatch):
    from deploytasks.server import lock

    def full_disk(path, text):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(lock, "write_private", full_disk)
    layout = ServerLayout(str(tmp_path))
    with pytest.raises(ServerError, match=r"cannot take the deploy lock .* writing its info.json failed \(No space"):
        acquire_lock(layout, "deploy", "bob@laptop")
    assert not os.path.exists(layout.lock)


def test_an_abort_leaves_alone_a_lock_taken_over_since_its_taking(tmp_path):
    """`fab migrate` whose holder on the server was killed: a deploy took the lock over; the migrate's own abort,
    when it ends, must not free the deploy's lock (it did: the deploy ran on unlocked)."""
    from deploytasks.server.releases import read_log
    from deploytasks.server.server_admin import abort

    layout = ServerLayout(str(tmp_path))
    os.makedirs(layout.releases)
    acquire_lock(layout, "migrate", "ann@laptop")
    first = lock_info(layout)["taking"]
    release_lock(layout)  # as taken over: moved aside, taken again by the deploy
    acquire_lock(layout, "deploy", "bob@laptop")
    done = abort(layout, {"release": None, "taking": first, "log": {"action": "migrate"}, "result": "ok"})
    assert done["lost_lock"].startswith("deploy by bob@laptop since ") and lock_info(layout)["who"] == "bob@laptop"
    assert read_log(layout)[-1]["action"] == "migrate"  # what the migrate did is logged all the same
    assert abort(layout, {"release": None, "taking": lock_info(layout)["taking"]}) == {"aborted": None}
    assert lock_info(layout) is None


def test_releases_log_survives_a_torn_line_and_lines_that_are_not_entries(tmp_path):
    """A kill or a full disk can cut the last line short: the next entry starts a line of its own; lines that are
    not JSON objects are skipped, and do not count towards `last`."""
    from deploytasks.server.releases import append_log, read_log

    layout = ServerLayout(str(tmp_path))
    append_log(layout, {"action": "deploy", "release": "r1", "result": "ok"})
    with open(layout.log, "a") as handle:
        handle.write('[1, 2, 3]\n"just a string"\n{"action": "deploy", "rele')  # torn: no newline
    append_log(layout, {"action": "restore", "file": "db.sqlite3", "result": "ok"})
    assert [e["action"] for e in read_log(layout)] == ["deploy", "restore"]
    assert [e["action"] for e in read_log(layout, last=1)] == ["restore"]


def test_fab_history_shows_entries_whose_fields_are_not_the_usual_strings(capsys):
    from deploytasks.tables import show_server_history

    show_server_history({"entries": [{"action": "deploy", "time": 12345, "revision": 123, "release": 7},
                                     {"action": "migrate", "migrations": [1, "accounts.0002_x"]}], "lock": None},
                        False, "web1", "/srv/site")
    out = capsys.readouterr().out
    assert "12345" in out and "accounts.0002_x" in out


def test_a_restore_s_abort_after_its_server_side_restored_and_freed_the_lock_logs_nothing(tmp_path):
    """Ctrl-C as the server's restore ended: it logged `ok` and freed the lock, then the client's abort logged
    `failed` above it, and `fab history` showed a restore that had happened as failed."""
    from deploytasks.server.releases import append_log, read_log
    from deploytasks.server.server_admin import abort

    layout = ServerLayout(str(tmp_path))
    os.makedirs(layout.releases)
    acquire_lock(layout, "restore", "ann@laptop")
    taking = lock_info(layout)["taking"]
    append_log(layout, {"action": "restore", "file": "db.dump", "result": "ok"})  # the server side's, then it frees
    release_lock(layout)
    abort(layout, {"release": None, "taking": taking, "log": {"action": "restore", "error": "interrupted (Ctrl-C)"}})
    assert [entry["result"] for entry in read_log(layout)] == ["ok"]
    acquire_lock(layout, "restore", "ann@laptop")  # one that failed on the server keeps the lock: its abort logs
    abort(layout, {"release": None, "taking": lock_info(layout)["taking"], "log": {"action": "restore", "error": "x"}})
    assert [entry["result"] for entry in read_log(layout)] == ["ok", "failed"] and lock_info(layout) is None


def test_releases_log_is_read_from_its_end_block_by_block(tmp_path):
    """`fab history` and a deploy's look at the log read its end, not the whole file (at 200,000 entries a deploy
    took 6 s more and its server side 350 MB); lines cut by a block boundary come out whole."""
    from deploytasks.server.bad_revisions import marks
    from deploytasks.server.releases import append_log, read_log, tail_lines

    layout = ServerLayout(str(tmp_path))
    for number in range(3000):
        append_log(layout, {"action": "deploy", "release": "r%05d" % number, "revision": "a" * 40, "result": "ok"})
    append_log(layout, {"action": "deploy", "release": "r99998", "revision": "b" * 40, "result": "ok"})
    append_log(layout, {"action": "rollback", "from": "r99998", "release": "r02999", "result": "ok", "by": "ann"})
    assert [entry["release"] for entry in read_log(layout, last=3)] == ["r02999", "r99998", "r02999"]
    every = tail_lines(layout.log, 10 ** 6, block=97)  # block boundaries inside lines
    assert len(every) == 3002 and all(line.startswith("{") and line.endswith("}") for line in every)
    assert marks(layout, "b" * 40) and marks(layout, "a" * 40) == []
