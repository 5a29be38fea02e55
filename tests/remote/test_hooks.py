"""Hooks around `fab deploy`'s steps (issue 14 §3) over a real sshd, with gunicorn serving and health-checked: the
hooks run in the new release in step order (the server-side ones inside the supervised deploy); a failing hook before
the switch fails the deploy with one line and leaves the live release serving; one after the switch is reported and
the healthy release stays live."""
import os

from tests._util import example_django_version

ADDRESS = "127.0.0.90"


def log_to(s):
    return s.path / "shared" / "hooks.log"


def hooks_logging(s, **extra):
    """Hooks that append '<moment> <what they see>' to shared/hooks.log."""
    log = log_to(s)
    record = ("import os, django; open(%r, 'a').write('after install django ' + django.get_version() + ' ' "
              "+ os.environ['SECRET_KEY'][:6] + chr(10))" % str(log))
    return {
        "before": {"venv": [f"echo before venv $(basename $PWD) >> {log}"],
                   "collectstatic": [f"test ! -d staticfiles && echo before collectstatic >> {log}"],
                   "switch": [f"echo before switch, live: $(readlink {s.path}/current) >> {log}"],
                   **extra.get("before", {})},
        "after": {"install": [f"manage.py shell -c \"{record}\""],
                  "collectstatic": [f"test -d staticfiles && echo after collectstatic >> {log}"],
                  "migrate": [f"echo after migrate >> {log}"],
                  "switch": [f"echo after switch, live: $(readlink {s.path}/current) >> {log}"],
                  "reload": [f"echo after reload >> {log}"],
                  **extra.get("after", {})},
    }


def test_deploy_runs_the_hooks_in_the_new_release_in_step_order(served):
    s = served
    previous = s.current_name()
    log_to(s).unlink(missing_ok=True)
    s.configure(hooks=hooks_logging(s))
    sha = s.repo.code_change()
    try:
        run = s.fab("deploy").ok()
    finally:
        s.configure(hooks={})
    new = s.current_name()
    assert new != previous and s.revision() == sha
    assert s.gunicorn.health()["revision"] == sha
    assert log_to(s).read_text().splitlines() == [
        f"before venv {new}",
        f"after install django {example_django_version()} {s.secret_key[:6]}",
        "before collectstatic",
        "after collectstatic",
        "after migrate",
        f"before switch, live: releases/{previous}",
        f"after switch, live: releases/{new}",
        "after reload",
    ]
    assert "hook after install: manage.py shell" in run.stdout
    assert s.secret_key not in run.stdout + run.stderr


def test_a_failing_hook_before_the_switch_leaves_the_live_release_serving(served):
    s = served
    live, serving = s.current_name(), s.gunicorn.health()["revision"]
    before = s.state()
    s.configure(hooks={"after": {"collectstatic": [f"echo collected >> {log_to(s)}"]},
                       "before": {"switch": ["echo warming up; echo 'cache warm-up refused: redis down' >&2; exit 4"]}})
    s.repo.code_change()
    try:
        line = s.fab("deploy").error("hook", "before switch failed (exit 4)", "cache warm-up refused: redis down")
    finally:
        s.configure(hooks={})
    assert "Traceback" not in line
    assert s.state() == before  # same live release, same releases, database untouched, unlocked
    assert s.current_name() == live and s.gunicorn.health()["revision"] == serving
    assert s.log()[-1]["result"] == "failed" and "cache warm-up refused" in s.log()[-1]["error"]


def test_a_failing_hook_after_the_switch_is_reported_and_the_healthy_release_stays(served):
    s = served
    previous = s.current_name()
    s.configure(hooks={"after": {"reload": ["echo 'slack webhook: 403' >&2; exit 1"]}})
    sha = s.repo.code_change()
    try:
        run = s.fab("deploy").ok()
    finally:
        s.configure(hooks={})
    assert s.current_name() != previous and s.gunicorn.health()["revision"] == sha
    assert "hook" in run.stdout and "after reload failed (exit 1): slack webhook: 403" in run.stdout
    assert "stays live" in run.stdout
    assert s.log()[-1]["result"] == "ok" and s.log()[-1]["hook_failures"]


def test_undo_on_hook_failure_switches_back(served):
    s = served
    live, serving = s.current_name(), s.gunicorn.health()["revision"]
    s.configure(hooks={"after": {"switch": ["exit 7"]}}, undo_on_hook_failure=True)
    s.repo.code_change()
    try:
        s.fab("deploy").error("not taken live", "hook 'exit 7' after switch failed (exit 7)", f"{live} stays live")
    finally:
        s.settings.pop("undo_on_hook_failure")
        s.configure(hooks={})
    assert s.current_name() == live and s.gunicorn.health()["revision"] == serving
    assert not s.lock.exists()


def test_bad_hooks_config_is_refused_before_anything_changes(deployed):
    s = deployed
    before = s.state()
    s.configure(hooks={"after": {"swich": ["true"]}})
    try:
        s.fab("deploy").error("unknown step 'swich' (did you mean switch?)")
    finally:
        s.configure(hooks={})
    assert s.state() == before


def test_a_failing_hook_before_the_switch_unapplies_the_new_migrations(served):
    s = served
    live, tables, applied = s.current_name(), s.tables(), s.applied_migrations()
    s.configure(hooks={"before": {"switch": ["manage.py check --deploy --fail-level DEBUG"]}})
    s.repo.add_model("Gadget")
    try:
        line = s.fab("deploy").error("hook 'manage.py check --deploy --fail-level DEBUG' before switch failed (exit 1)",
                                     "unapplied 1 migration(s) (the backup taken before them: ")
        named = line.split("(the backup taken before them: ", 1)[1].split(")", 1)[0]
        assert named.endswith("-pre-deploy.sqlite3") and named in os.listdir(s.path / "backups"), line
    finally:
        s.configure(hooks={})
    assert s.current_name() == live and s.gunicorn.health()["revision"] == s.revision(live)
    assert s.tables() == tables and s.applied_migrations() == applied
    assert not s.lock.exists()


def test_plan_and_dry_deploy_list_the_hooks(deployed):
    s = deployed
    s.configure(hooks={"after": {"install": ["manage.py compilemessages"]}, "before": {"switch": ["echo go"]}})
    try:
        plan = s.fab("plan").ok()
        dry = s.fab("--dry", "deploy").ok()
    finally:
        s.configure(hooks={})
    assert "after install: manage.py compilemessages; before switch: echo go" in " ".join(plan.stdout.split())
    assert "hooks: after install: manage.py compilemessages, before switch: echo go" in " ".join(dry.stdout.split())


def test_ctrl_c_during_a_long_hook_stops_it_and_undoes_the_deploy(served):
    import os
    import signal
    import time

    s = served
    live, serving = s.current_name(), s.gunicorn.health()["revision"]
    pidfile = s.base / "long-hook.pid"
    pidfile.unlink(missing_ok=True)
    s.configure(hooks={"before": {"switch": [f"echo $$ > {pidfile}; exec sleep 300"]}})
    s.repo.code_change()
    try:
        proc = s.fab_background("deploy")
        deadline = time.monotonic() + 180
        while not pidfile.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert pidfile.exists(), proc.communicate()
        while b"sleep" not in open(f"/proc/{int(pidfile.read_text())}/cmdline", "rb").read():
            time.sleep(0.05)  # the pid is written before exec: wait until sleep runs as it
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=240)
    finally:
        s.configure(hooks={})
    assert proc.returncode == 1, out + err
    assert "interrupted" in err and "before switch" in err, err
    hook = int(pidfile.read_text())
    assert not os.path.exists(f"/proc/{hook}") or open(f"/proc/{hook}/stat").read().rsplit(")", 1)[1].split()[0] == "Z"
    assert s.current_name() == live and s.gunicorn.health()["revision"] == serving
    assert not s.lock.exists()
