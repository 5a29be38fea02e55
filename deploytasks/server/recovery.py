"""Undoing a deploy from its journal: by its own supervisor when it fails or is cancelled, or by the next
lock taker (or `fab unlock --force`) when the process that ran it is gone. Switch back if it switched,
unapply to the migration state before it (never below: a first deploy keeps the database), remove the
release, log it, unlock."""
import os
import signal
import subprocess
import time

from . import journal as journals
from .errors import ServerError
from .finalize_release import switch_back
from .procscan import _stat, group_members_in
from .lock import release_lock, utcnow
from .releases import append_log, finished, release_meta, remove_release, save_meta
from .results import Undone
from .static_files import unlink_dangling
from .subprocess_entry import meaningful, run_entry


def holds_state(backup) -> bool:
    """Whether `backup` (a path, or None) is there and not empty: a 0-byte one holds no state to go back to."""
    return bool(backup) and os.path.isfile(backup) and os.path.getsize(backup) > 0


def way_back(backup):
    """Which backup holds the state before the deploy or rollback (never a 0-byte or absent one)."""
    if holds_state(backup):
        return "the backup taken before them holds the previous state: %s" % backup
    return "no backup holds the previous state (the database had no data before this deploy)"


def taken_before(backup) -> str:
    """The backup a deploy took before it migrated, named where its undo says what it unapplied (the failed deploy's
    output named no backup: what the new release wrote meanwhile, in the columns the undo dropped, is only there)."""
    if holds_state(backup):
        return " (the backup taken before them: %s)" % os.path.basename(backup)
    return ""


def unapply(layout, journal):
    """Unapply down to the state before the deploy: (the migrations unapplied, a note naming what a migration
    stopped half-way left in a MySQL/MariaDB schema, which cannot roll DDL back, or None)."""
    mid_migrate = not journal.get("switched")  # the migrate may have stopped inside a migration
    result = run_entry(journal["unapply_command"], "migrate_to_state",
                       {"database": journal.get("database", "default"), "state": journal.get("migrations_before") or {},
                        "path": layout.path, "report_leftovers": mid_migrate},
                       "unapplying the release's migrations", cwd=layout.path)
    return result.get("unapplied") or [], kept_by_mysql(result.get("left_behind"), journal.get("backup"), "migration")


def kept_by_mysql(left, backup, what):
    """The note naming what a `what` ("migration", "reverse of a migration") stopped half-way left in a
    MySQL/MariaDB schema (schema_drift's differences `left`), or None when it left nothing."""
    if not left:
        return None
    return ("MySQL/MariaDB cannot roll back what the %s that stopped had done, and it stays: %s%s "
            "(`fab check --live-only` lists it; %s%s)" % (
                what, "; ".join(left[:3]), " …" if len(left) > 3 else "",
                "drop it by hand" if what == "migration" else "put it back by hand",
                ", or restore %s" % backup if backup and os.path.isfile(backup) else ""))


def reapply(layout, command, check_command, database, release, backup, half_way):
    """Migrate forward again with the live release's code after its rollback's unapply stopped: one phrase saying
    what was done. half_way: the unapply may have stopped inside a migration (MySQL/MariaDB keeps what its
    reverse had done, and Django still records it applied: named, see kept_by_mysql)."""
    done = subprocess.run(command, shell=True, cwd=layout.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True)
    if done.returncode != 0:
        return "re-applying the migrations of %s failed (%s): %s" % (release, meaningful(done.stdout), way_back(backup))
    said = "re-applied the migrations of %s" % release
    if half_way and check_command:
        try:
            left = run_entry(check_command, "schema_left_behind", {"database": database},
                             "comparing the schema with the migrations", cwd=layout.path)["left_behind"]
        except ServerError:
            left = []
        note = kept_by_mysql(left, backup, "reverse of a migration")
        if note:
            said += "; " + note
    return said


def put_back_said(layout, previous, put):
    """What the undo says of the shared files switch_back put back (went_live)."""
    return ["%s failed with shared/%s too and served again once given the one it went live with: shared/%s is that "
            "one again%s" % (previous, name, name, "; the pushed one is kept as %s (fix it, `fab shared.push`, deploy "
                             "again)" % os.path.relpath(aside, layout.path) if aside else "") for name, aside in put or ()]


def working_in(directory, previous):
    """(who works in a release the undo could not remove, what to do about it): an app server the deploy started,
    with nothing live before, serves errors from it until stopped."""
    from .procscan import users_of

    users = users_of(directory)
    if not users:
        return "a running process", ""
    named = ", ".join("%d (%s)" % (pid, (command.split() or ["?"])[0].rsplit("/", 1)[-1]) for pid, command in users[:3])
    server = min((pid for pid, command in users if "gunicorn" in command or "uwsgi" in command), default=None)
    advice = ("; nothing else was live, so this app server serves the failed release: stop it (kill %d) or deploy "
              "again once fixed" % server if server and not previous else "")
    return "process " + named, advice


def undo(layout, journal, params, reason, result="failed", explain=None) -> Undone:
    """Take the server back to before the deploy that `journal` describes; returns {"summary", ...}. explain: what
    adds to `reason` once the live release is the previous one again and before anything is unapplied (a new
    release's failed health check asked again inside it, health_diagnosis), or None."""
    release, previous = journal.get("release"), journal.get("previous")
    journals.update(layout, phase="undo")
    done = []
    if journal.get("switched"):
        back = switch_back(layout, params, previous)
        done.append("switched back to %s" % previous if previous else "removed `current` (nothing was live before)")
        if back["reload_problem"]:
            done.append("reloading %s failed too (%s)" % (previous, back["reload_problem"]))
        elif back.get("health_problem"):
            done.append("%s fails its health check too (%s)" % (previous, back["health_problem"]))
        done.extend(put_back_said(layout, previous, back.get("put_back")))
    found = explain() if explain is not None else None
    if found:
        reason = "%s; %s" % (reason, found)
    unapplied = []
    if journal.get("kind") == "rollback":
        return undo_rollback(layout, journal, reason, result, done)
    if journal.get("migrate_started"):
        if not previous:
            done.append("kept the database as migrated (no release was live before this first deploy, so nothing "
                        "is unapplied); the next deploy starts from it")
        else:
            try:
                unapplied, left_behind = unapply(layout, journal)
                if unapplied:
                    done.append("unapplied %d migration(s)" % len(unapplied) + taken_before(journal.get("backup")))
                if left_behind:
                    done.append(left_behind)
            except ServerError as exc:
                done.append("unapplying its migrations failed (%s): %s" % (
                    exc.message, way_back(journal.get("backup"))))
    # after a switch back the app server may still be reloading out of the release: wait for it to leave
    if not remove_release(layout, release, wait=params.get("reload_timeout", 60) if journal.get("switched") else None):
        if release and os.path.isdir(layout.release(release)):
            meta = release_meta(layout, release)
            if meta.get("status"):  # recorded (a fleet host that went on alone): no rollback may go to it now
                meta.update({"release": release, "status": "bad", "bad_since": utcnow()})
                save_meta(layout, release, meta)
            done.append("kept %s%s: %s still works in it (the next deploy removes it)%s" % (
                release, ", marked bad" if meta.get("status") else "", *working_in(layout.release(release), previous)))
    if not previous:
        unlink_dangling(layout, journal.get("static_link"))
    if previous and journal.get("switched"):
        done.append("%s stays live" % previous)
    summary = "; ".join([reason] + done)
    append_log(layout, dict(journal.get("log") or {}, release=release, previous=previous, result=result,
                            error=reason, summary=summary, unapplied=unapplied))
    release_lock(layout)
    return {"summary": summary, "unapplied": unapplied, "switched_back_to": previous if journal.get("switched") else None}


def undo_rollback(layout, journal, reason, result, done):
    """A rollback stopped: the release it left stays live (switched back above), its migrations re-applied."""
    previous = journal.get("previous")
    if journal.get("migrate_started") and journal.get("reapply_command"):
        done.append(reapply(layout, journal["reapply_command"], journal.get("unapply_command"),
                            journal.get("database", "default"), previous, journal.get("backup"),
                            half_way=not journal.get("unapply_done", journal.get("switched"))))
    done.append("%s stays live" % previous)
    summary = "; ".join([reason] + done)
    append_log(layout, dict(journal.get("log") or {}, release=journal.get("release"), previous=previous,
                            result=result, error=reason, summary=summary, unapplied=[]))
    release_lock(layout)
    return {"summary": summary, "unapplied": [], "switched_back_to": previous}


def recover(layout, params):
    """When the lock holds the journal of a deploy whose process is gone, undo it; returns its summary (None:
    nothing to recover)."""
    if not os.path.isdir(layout.lock):
        return None
    journal = journals.read(layout)
    if not journal or journals.running(journal) or not journal.get("release"):
        return None
    if journal.get("phase") == "finalize" and finished(layout, journal["release"]):
        summary = "recovered the deploy of %s: it was live and healthy; its process %s ended before unlocking" % (
            journal["release"], journal.get("pid"))
        append_log(layout, dict(journal.get("log") or {}, release=journal["release"], result="ok", summary=summary))
        release_lock(layout)
        return summary
    ended = end_orphans(layout, journal)
    reason = "recovered %s that stopped during %s (its process %s is gone%s)" % (
        journals.label(journal.get("kind"), journal["release"]), journal.get("phase", "?"), journal.get("pid"),
        "; %d process(es) it had started ended first" % ended if ended else "")
    return undo(layout, journal, params, reason, result="recovered")["summary"]


def end_orphans(layout, journal, wait=10):
    """End what the dead supervisor started in its session (it led it: its pid is the group's), and in the group of
    the command it ran last (a reload, a hook: a session of their own), that still works in the deploy path: a
    migrating Django above all, it would go on changing the schema under the recovery; a reload script that would
    go on signalling the app server. Returns how many were ended."""
    group, command = journal.get("pid"), journal.get("command_group")
    members = group_members_in(group, layout.path) if isinstance(group, int) else []
    if isinstance(command, int) and _stat(command) is not None:  # still running: a finished command's leftovers
        members += group_members_in(command, layout.path)      # (a server it started) are not ours to end
    for pid in members:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    deadline = time.monotonic() + wait
    while members and time.monotonic() < deadline and any(_stat(pid) is not None for pid in members):
        time.sleep(0.05)
    return len(members)
