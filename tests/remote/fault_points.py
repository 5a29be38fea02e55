"""The later points of a deploy (collectstatic, the pre-migration backup, the rehearsal, the switch, prune, unlock)
and of a rollback (unapply), each faulted three ways: `plan(server, point, kind)` says what to run, when the fault
point is reached and what must hold after; `run(server, point, kind)` does it and returns a faults.Outcome.
Shared by tests/remote/test_fault_points.py and bench/reliability.py.

Windows are held open by real things: a hook that sleeps right after collectstatic or the switch, a 150 MB
database whose backup takes a moment, a RunPython that sleeps on the rehearsal copy only, 20,000 files in the
release being pruned, fab stopped (SIGSTOP) until the server has unlocked.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field

from tests.remote import faults

KINDS = ("kill-fab", "kill-connection", "step-fails")
POINTS = ("collectstatic", "backup", "rehearsal", "switch", "prune", "unlock")  # and "rollback unapply", "restore apply"
NOT_APPLICABLE = {
    ("unlock", "step-fails"): "removing the lock directory it owns cannot fail by itself",
}


@dataclass
class Plan:
    args: tuple
    reached: object = None  # () -> bool: the fault point (kill kinds)
    freeze: object = None  # () -> bool: stop fab here, then wait for reached() (see faults.inject)
    expect: str | None = None  # step-fails: a fragment of the one error line; None: the command succeeds
    check: object = None  # () -> [problems] after the fault, besides the invariant
    cleanup: list = field(default_factory=list)


def branch(s, name, make):
    """The branch `name`, made once per server by make()."""
    made = s.__dict__.setdefault("fault_branches", {})
    if name not in made:
        made[name] = make()
    return name


def addmodel(s):
    return branch(s, "addmodel", lambda: s.repo.add_model("Widget", branch="addmodel"))


def journal_phase(s):
    try:
        return json.loads((s.lock / "journal.json").read_text()).get("phase")
    except (OSError, ValueError):
        return None


def marker(s, name):
    path = s.base / f"fault-{name}"
    path.unlink(missing_ok=True)
    return path


def hook(s, when, step, command, **more):
    s.configure(hooks={when: {step: [command]}}, **more)


def plan(s, point, kind) -> Plan:
    return globals()["plan_" + point](s, kind)


def plan_collectstatic(s, kind):
    if kind == "step-fails":
        return Plan(("deploy", "--again", "--revision", branch(s, "badstatic", lambda: faults.failing_collectstatic(s.repo))),
                    expect="collectstatic failed")
    started = marker(s, "collectstatic")
    hook(s, "after", "collectstatic", f"touch {started} && sleep 4")
    return Plan(("deploy", "--again", "--revision", addmodel(s)), started.exists)


def plan_backup(s, kind):
    """The pre-migration backup: slow with 150 MB of ballast; or failing on a full disk (backups/ on a 16 kB
    tmpfs)."""
    backups = s.path / "backups"
    if kind == "step-fails":
        aside, full = s.base / "backups-aside", s.base / "full-disk"
        os.rename(backups, aside)
        unmount = faults.fill_disk(full)
        backups.symlink_to(full)

        def put_back():
            backups.unlink()
            unmount()
            os.rename(aside, backups)
        return Plan(("deploy", "--again", "--revision", addmodel(s)), expect="No space left", cleanup=[put_back])
    s.query("CREATE TABLE IF NOT EXISTS fault_ballast (data BLOB)")
    s.query("INSERT INTO fault_ballast SELECT randomblob(1048576) FROM (WITH RECURSIVE n(i) AS "
            "(SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 150) SELECT i FROM n)")
    return Plan(("deploy", "--again", "--revision", addmodel(s)), lambda: any(backups.glob("*.partial")))


def plan_rehearsal(s, kind):
    """Migrations rehearsed on a copy: a RunPython that sleeps on the copy only; or one that raises."""
    if kind == "step-fails":
        return Plan(("deploy", "--again", "--revision", branch(s, "boom", lambda: s.repo.failing_migration("Boomer", "boom"))),
                    expect="in the rehearsal on a copy")
    started = s.base / "fault-rehearsal-started"
    name = branch(s, "slowcopy", lambda: faults.slow_migration(s.repo, os.path.realpath(s.db), started,
                                                                 branch="slowcopy", seconds=4, on_copy=True))
    started.unlink(missing_ok=True)
    return Plan(("deploy", "--again", "--revision", name), started.exists)


def plan_migrate(s, kind):
    """Only the step failing here (killed mid-migration: test_faults.py): a migration that passes the rehearsal
    and raises on the live database, after the model's migration was applied."""
    if kind != "step-fails":
        raise ValueError("the migrate point's kills are in test_faults.py and the bench's own cells")
    name = branch(s, "liveboom", lambda: faults.live_failing_migration(s.repo, os.path.realpath(s.db)))
    return Plan(("deploy", "--again", "--revision", name), expect="deliberate failure on the live database")


def plan_switch(s, kind):
    """`current` switched, nothing reloaded yet: an `after switch` hook sleeps; or fails (undo_on_hook_failure)."""
    if kind == "step-fails":
        hook(s, "after", "switch", "echo the switch failed >&2; exit 1", undo_on_hook_failure=True)
        return Plan(("deploy", "--again", "--revision", addmodel(s)), expect="the switch failed")
    started = marker(s, "switch")
    hook(s, "after", "switch", f"touch {started} && sleep 4")
    return Plan(("deploy", "--again", "--revision", addmodel(s)), started.exists)


def plan_prune(s, kind):
    """The oldest release is pruned by this deploy (keep_releases = the finished releases there are): 20,000
    files make its removal take a moment; or a process working in it keeps it (prune cannot remove it: the
    deploy succeeds, the release stays, a later deploy prunes it)."""
    finished = [n for n in s.releases() if n not in faults.orphans(s)]
    oldest = s.path / "releases" / finished[0]
    s.configure(keep_releases=len(finished))
    if kind == "step-fails":
        worker = subprocess.Popen(["sleep", "120"], cwd=oldest, stdin=subprocess.DEVNULL)

        def stop():
            worker.kill()
            worker.wait()

        def kept():
            return [] if oldest.is_dir() and (oldest / faults.META).exists() else [
                f"{oldest.name} was removed (or lost its metadata) while a process worked in it"]
        return Plan(("deploy", "--again", "--revision", "main"), check=kept, cleanup=[stop])
    ballast = oldest / "fault-ballast"
    ballast.mkdir(exist_ok=True)
    for i in range(20000):
        (ballast / str(i)).touch()
    return Plan(("deploy", "--again", "--revision", "main"), lambda: journal_phase(s) == "finalize",
                check=lambda: [f"{oldest.name} was not pruned"] if oldest.exists() else [])


def plan_unlock(s, kind):
    """After the server unlocked, before fab reported: fab is stopped while the server finishes."""
    return Plan(("deploy", "--again", "--revision", addmodel(s)), lambda: not s.lock.exists(),
                freeze=lambda: journal_phase(s) in ("reload and health check", "finalize"))


def plan_rollback_unapply(s, kind):
    """A rollback unapplying the live release's migrations: the slow RunPython sleeps when unapplied; or a
    migration whose reverse raises."""
    if kind == "step-fails":
        name = branch(s, "badreverse", lambda: bad_reverse(s.repo))
        s.fab("deploy", "--again", "--revision", name).ok()
        return Plan(("rollback", "--yes"), expect="deliberate failure while unapplying")
    back = s.base / "fault-rollback-slow.back"
    name = branch(s, "slowback", lambda: faults.slow_migration(
        s.repo, os.path.realpath(s.db), s.base / "fault-rollback-slow", branch="slowback", seconds=4))
    s.fab("deploy", "--again", "--revision", name).ok()
    back.unlink(missing_ok=True)
    return Plan(("rollback", "--yes"), back.exists)


def plan_restore_apply(s, kind):
    """A restore after its upload, while the server verifies, takes the safety backup and replaces the database
    (a 300 MB backup makes that take a moment); fails: a file that starts like SQLite but is cut short."""
    big = s.base / "big-upload.sqlite3"
    if not big.exists():
        faults.big_backup(s, big, 300)
    if kind == "step-fails":
        cut = s.base / "cut-short.sqlite3"
        with open(big, "rb") as source, open(cut, "wb") as target:
            target.write(source.read(1 << 20))
        return Plan(("restore", str(cut), "--yes", "--unverified"), expect="",
                    check=lambda: leftover_uploads(s))

    def applying():
        return s.lock.exists() and any(p.name.startswith("worker-") for p in s.lock.iterdir())
    return Plan(("restore", str(big), "--yes", "--unverified"), applying, check=lambda: leftover_uploads(s))


def leftover_uploads(s):
    uploaded = s.path / "backups" / "uploaded"
    faults.wait_until(lambda: not any(uploaded.glob("*")), timeout=10)
    left = sorted(p.name for p in uploaded.glob("*")) if uploaded.is_dir() else []
    return [f"uploads left in backups/uploaded: {left}"] if left else []


def bad_reverse(repo):
    """A commit adding a model and a migration whose reverse raises (it says it is reversible)."""
    def edit(work):
        with open(work / "accounts" / "models.py", "a") as handle:
            handle.write("\n\nclass BadReverse(models.Model):\n    name = models.CharField(max_length=50)\n")
        previous = repo.makemigrations("add_badreverse")
        (work / "accounts" / "migrations" / f"{int(previous[:4]) + 1:04d}_bad_reverse.py").write_text(
            "from django.db import migrations\n\n\n"
            "def backwards(apps, schema_editor):\n"
            "    raise RuntimeError('deliberate failure while unapplying')\n\n\n"
            "class Migration(migrations.Migration):\n"
            f"    dependencies = [('accounts', {previous!r})]\n"
            "    operations = [migrations.RunPython(migrations.RunPython.noop, backwards)]\n")
    return repo.commit("a migration whose reverse raises", edit, "badreverse")


def run(s, point, kind, url=None) -> faults.Outcome:
    """Fault `point` (a deploy point, or "rollback unapply") the `kind` way; the outcome's problems include a
    wrong exit (a step that did not fail, a success reported as a failure) and the plan's own check."""
    p = globals()["plan_" + point.replace(" ", "_")](s, kind)
    url = url or s.gunicorn.url
    live = s.current_name()
    try:
        if kind == "step-fails":
            outcome = faults.fail_step(s, p.args, url)
            lines = [line for line in outcome.run.stderr.splitlines() if line.strip()]
            if p.expect is None and outcome.run.returncode != 0:
                outcome.problems.append(f"fab failed: {outcome.run.stderr.strip()[-200:]}")
            elif p.expect is not None and not (outcome.run.returncode == 1 and len(lines) == 1
                                   and lines[0].startswith("deploytasks: error: ") and p.expect in lines[0]):
                outcome.problems.append(f"not one error line naming {p.expect!r}: rc {outcome.run.returncode}, "
                                        f"{outcome.run.stderr.strip()[-300:]}")
        else:
            outcome = faults.inject(s, p.args, p.reached, kind, url=url, freeze=p.freeze)
        if p.check:
            outcome.problems.extend(p.check())
        outcome.live_before = live  # what was live when the faulted command started
    finally:
        s.configure(hooks={})
        s.settings.pop("undo_on_hook_failure", None)
        s.configure()
        for undo in p.cleanup:
            undo()
    return outcome


def clear_ballast(s):
    """Drop the backup point's ballast (faults.reset puts the baseline database back anyway)."""
    s.query("DROP TABLE IF EXISTS fault_ballast")
    shutil.rmtree(s.base / "full-disk", ignore_errors=True)
