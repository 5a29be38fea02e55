"""A fault while a deploy's pre-migration dump is made and, in the same pass, loaded into the rehearsal's scratch
copy (PostgreSQL, MariaDB): fab SIGKILLed, its SSH connection killed, or Ctrl-C, once the dump is half written
and the scratch database exists. Shared by tests/remote/test_postgres_faults.py and test_mariadb_deploy.py."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import threading

from tests.remote import faults

KINDS = ("kill-fab", "kill-connection", "sigint")
DUMP_TOOLS = ("pg_dump", "mysqldump", "mariadb-dump")
SIGTERM_BIT = 1 << (signal.SIGTERM - 1)


def dumps(s):
    """(dump, manifest path) of the finished backups in the server's backups/."""
    found = []
    for path in (s.path / "backups").iterdir():
        if path.is_file() and not path.name.endswith((".json", ".partial")) and not path.name.startswith("."):
            found.append((path, path.with_name(path.name + ".json")))
    return found


def backup_problems(s, readable):
    """Backups that are not whole: a partial left, no manifest, a sha256 that differs, a file `readable(path)`
    (a shell command's argv) cannot read to its end."""
    problems = [f"left: {p.name}" for p in (s.path / "backups").glob("*.partial")]
    for dump, manifest in dumps(s):
        if not manifest.exists():
            problems.append(f"{dump.name} has no manifest")
        elif hashlib.sha256(dump.read_bytes()).hexdigest() != json.loads(manifest.read_text())["sha256"]:
            problems.append(f"{dump.name} does not match its manifest's sha256")
        else:
            read = subprocess.run(readable(dump), shell=True, capture_output=True, text=True)
            if read.returncode != 0:
                problems.append(f"{dump.name} cannot be read whole: {read.stderr.strip()[-200:]}")
    return problems


def dumping_and_copying(s, scratch):
    """The fault point: the pre-migration dump half written while its scratch copy exists."""
    return any((s.path / "backups").glob("*.partial")) and bool(scratch())


def dump_tool(s):
    """PID of the dump tool the deploy holding the lock runs, None when there is none."""
    try:
        supervisor = json.loads((s.lock / "journal.json").read_text())["pid"]
    except (OSError, ValueError, KeyError):
        return None
    for pid in faults.descendants(supervisor):
        stat = faults._stat(pid)
        if stat and stat[0] in DUMP_TOOLS:
            return pid
    return None


def sigterm_pending(pid):
    """Whether a SIGTERM waits to be delivered to `pid` (a stopped process), or it is gone."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            fields = dict(line.split(":", 1) for line in handle if ":" in line)
    except OSError:
        return True
    return any(int(fields.get(key, "0").strip(), 16) & SIGTERM_BIT for key in ("SigPnd", "ShdPnd"))


def hold_the_dump(s):
    """With the fault point reached, stop (SIGSTOP) the dump tool until the server has told it to end (its
    SIGTERM pending): whatever the Ctrl-C's way to the server costs, it arrives while the dump is half written,
    not after it finished. False when no dump tool runs (yet)."""
    pid = dump_tool(s)
    if pid is None:
        return False
    os.kill(pid, signal.SIGSTOP)

    def resume():
        faults.wait_until(lambda: sigterm_pending(pid), timeout=60)
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
    threading.Thread(target=resume, daemon=True).start()
    return True


def accounts_applied(s):
    return {name for app, name in s.applied_migrations() if app == "accounts"}


def deploy_faulted_while_dumping(s, kind, scratch, readable):
    """A deploy adding a model, faulted `kind` while its dump is copied into the rehearsal (scratch(): the
    scratch databases that exist); then the invariant, no scratch database, whole backups, and the next deploy."""
    live = s.current_name()
    model = "Fault" + kind.replace("-", " ").title().replace(" ", "")
    commit = s.repo.add_model(model)
    def reached():  # after Ctrl-C the dump must still run when the cancel arrives: held until the server ends it
        return dumping_and_copying(s, scratch) and (kind != "sigint" or hold_the_dump(s))
    outcome = faults.inject(s, ("deploy",), reached, kind)
    faults.wait_gone(outcome.server_pids, timeout=60)
    print(f"{kind}: rc {outcome.run.returncode}; failed requests {outcome.failed_requests}; time to consistent "
          f"{outcome.seconds_to_consistent}; {(outcome.run.stderr.strip().splitlines() or [''])[-1]}")
    assert outcome.consistent, f"{outcome.problems}\n{outcome.run.stdout}\n{outcome.run.stderr}"
    assert not s.lock.exists()
    assert faults.wait_until(lambda: not scratch(), timeout=10), scratch()
    problems = backup_problems(s, readable)
    assert problems == [], problems
    applied = accounts_applied(s)
    if kind == "sigint":  # the dump's tools are stopped at once, the deploy is undone
        assert "interrupted (Ctrl-C) during backup and stopped" in outcome.run.stderr, outcome.run.stderr
        assert s.current_name() == live and not any(model.lower() in name for name in applied)
    else:  # the server side carried on without its client
        assert s.revision() == commit and any(model.lower() in name for name in applied)

    s.fab("deploy").ok()
    assert s.revision() == commit and not faults.inconsistencies(s, s.gunicorn.url)
    assert not scratch()


def deploy_crashed_while_dumping(s, scratch, readable):
    """The server crashes (every process of the deploy killed at once, the dump's tools included) while the dump is
    copied into the rehearsal: the lock is left to a dead deploy that applied nothing. The next deploy recovers it,
    its own rehearsal drops the scratch copy the crash left, and every finished backup is whole (the crashed dump's
    partial file stays until it has been idle for IDLE_SECONDS, then a lock holder removes it)."""
    live, applied = s.current_name(), accounts_applied(s)
    commit = s.repo.add_model("FaultCrash")
    proc = s.fab_background("deploy")
    try:
        assert faults.wait_until(lambda: dumping_and_copying(s, scratch), timeout=120), "the dump never started"
        journal = faults.crash_the_deploy(s, proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert faults.lock_holder(s) and not faults.lock_holder(s)["alive"]
    assert s.current_name() == live and accounts_applied(s) == applied and scratch()
    run = s.fab("deploy").ok()
    assert f"recovered the deploy of {journal['release']}" in run.stdout, run.stdout
    assert s.revision() == commit and any("faultcrash" in name for name in accounts_applied(s))
    assert not scratch() and not s.lock.exists()
    assert not faults.inconsistencies(s, s.gunicorn.url)
    problems = [problem for problem in backup_problems(s, readable) if not problem.startswith("left: ")]
    assert problems == [], problems


def deploy_interrupted_in_a_long_query_on_the_copy(s, database, sleep_sql, running, scratch):
    """Ctrl-C while a data migration's query (`sleep_sql`, ten minutes) runs on the rehearsal's copy, not on the live
    database `database`: the query is cancelled in the database server (running(): how many sessions still run it),
    the copy dropped and the deploy undone, all within seconds."""
    live, applied = s.current_name(), accounts_applied(s)
    started = s.base / "long-query-started"
    started.unlink(missing_ok=True)

    def edit(work):
        s.repo.write_migration(
            "long_query_on_the_copy",
            "def long_query(apps, schema_editor):\n"
            f"    if schema_editor.connection.settings_dict['NAME'] != {database!r}:\n"
            f"        open({str(started)!r}, 'w').close()\n"
            f"        schema_editor.connection.cursor().execute({sleep_sql!r})\n",
            "[migrations.RunPython(long_query, migrations.RunPython.noop)]")
    s.repo.commit("a data migration whose query runs ten minutes on the copy", edit, "longquery")
    outcome = faults.inject(s, ("deploy", "--revision", "longquery"), started.exists, "sigint")
    faults.wait_gone(outcome.server_pids, timeout=60)
    assert "interrupted (Ctrl-C) during rehearsal and stopped" in outcome.run.stderr, outcome.run.stderr
    assert outcome.consistent, outcome.problems
    assert s.current_name() == live and accounts_applied(s) == applied
    assert faults.wait_until(lambda: not running(), timeout=10), "the query still runs on the copy"
    assert faults.wait_until(lambda: not scratch(), timeout=10), scratch()
    assert not s.lock.exists()
