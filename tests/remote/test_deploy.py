"""`fab deploy` over a real sshd: venv reuse, server layout, the served revision, secrets, dry runs,
the read-only tasks on the live release, and the SSH session budget of a redeploy."""
import fcntl
import json
import os
import pty
import select
import stat
import subprocess
import termios
import threading
import time
import urllib.request

from tests import _forkserver as tools
from tests._util import ctrl_c_reaches_it
from tests.remote import faults

ADDRESS = "127.0.0.2"


def test_setup_creates_the_server_layout(deployed):
    for name in ("releases", "shared", "backups"):
        assert (deployed.path / name).is_dir()


def test_second_deploy_reuses_the_venv_and_serves_the_new_revision(served):
    s = served
    first = s.current_name()
    assert s.gunicorn.health()["revision"] == s.revision(first)
    [venv] = s.venvs()
    stamp = s.path / "shared" / "venvs" / venv / ".deploytasks-requirements"
    stamp_mtime = stamp.stat().st_mtime_ns
    python_mtime = (s.path / "shared" / "venvs" / venv / "bin").stat().st_mtime_ns

    sha = s.repo.code_change()
    run = s.fab("deploy").ok()

    assert f"venv {venv} reused (requirements unchanged)" in run.stdout
    assert "pip install" not in run.stdout
    assert s.venvs() == [venv]
    assert stamp.stat().st_mtime_ns == stamp_mtime  # pip did not run: the stamp is written after each install
    assert (s.path / "shared" / "venvs" / venv / "bin").stat().st_mtime_ns == python_mtime

    new = s.releases()[-1]
    assert new != first
    assert s.current() == f"releases/{new}"
    release = s.path / "releases" / new
    assert s.revision(new) == sha
    assert os.readlink(release / ".env") == str(s.path / "shared" / ".env")
    assert os.readlink(release / "media") == str(s.path / "shared" / "media")
    assert os.readlink(release / ".venv") == str(s.path / "shared" / "venvs" / venv)
    assert (release / "staticfiles").is_dir()  # collectstatic ran in the release

    log = s.log()
    assert [entry["result"] for entry in log] == ["ok", "ok"]
    assert log[-1]["action"] == "deploy" and log[-1]["revision"] == sha
    assert log[-1]["release"] == new and log[-1]["previous"] == first

    assert s.gunicorn.health()["revision"] == sha  # the reload made gunicorn serve the new code
    assert not s.lock.exists()


def test_a_code_change_s_django_was_started_from_the_live_venv_while_the_revision_was_fetched(served):
    """A code change keeps the venv: the pre-deploy Django is the Python of the live venv that prepare started
    before the fetch (server/warm_start.py), become the new release's `manage.py shell`; it checks the new code.
    A hook before collectstatic runs under that Django: the nearest Python above it is the one to look at."""
    s = served
    seen = s.path / "shared" / "predeploy-process"
    seen.unlink(missing_ok=True)
    nearest_python = "p=$PPID; until readlink /proc/$p/exe | grep -q python; do p=$(cut -d' ' -f4 /proc/$p/stat); done"
    s.configure(hooks={"before": {"collectstatic": [f"{nearest_python}; {{ tr '\\0' ' ' < /proc/$p/cmdline; echo; "
                                                    f"readlink /proc/$p/cwd; }} > {seen}"]}})
    sha = s.repo.code_change()
    try:
        s.fab("deploy").ok()
    finally:
        s.configure(hooks={})
    [venv] = s.venvs()
    command, cwd = seen.read_text().splitlines()
    assert command.startswith(f"{s.path}/shared/venvs/{venv}/bin/python -c ") and "warm_start" in command
    assert cwd == str(s.path / "releases" / s.current_name())
    assert s.revision() == sha and s.gunicorn.health()["revision"] == sha
    assert not s.lock.exists()


def test_a_code_change_takes_the_live_releases_bytecode_for_the_modules_it_did_not_change(served):
    """The new release is a fresh `git archive`; its unchanged modules get the live release's bytecode (and the
    live files' mtimes), so the deploy's Django and the app server's workers compile only what changed."""
    s = served
    live = s.path / "releases" / s.current_name()
    [models_pyc] = (live / "accounts" / "__pycache__").glob("models.cpython-*.pyc")
    [views_pyc] = (live / "accounts" / "__pycache__").glob("views.cpython-*.pyc")
    sha = s.repo.code_change()  # accounts/views.py
    s.fab("deploy").ok()
    new = s.path / "releases" / s.current_name()
    assert new != live and s.gunicorn.health()["revision"] == sha
    # Django imported accounts.models in the new release during the deploy's checks and kept the linked file
    assert os.path.samefile(new / "accounts" / "__pycache__" / models_pyc.name, models_pyc)
    assert not os.path.samefile(new / "accounts" / "__pycache__" / views_pyc.name, views_pyc)


def test_the_app_servers_master_imports_djangos_framework_on_start_and_on_every_reload(served):
    """The example's gunicorn.conf.py (read from the release gunicorn starts in, and from the new release on every
    HUP): the master imports Django's framework, so a reload's new workers are forked with it loaded."""
    s = served
    log, line = s.base / "gunicorn.log", "gunicorn.conf.py: Django's framework imported in the master (15 modules)"
    before = log.read_text().count(line)
    assert before >= 1, log.read_text()[-2000:]
    sha = s.repo.code_change()
    s.fab("deploy").ok()
    assert s.gunicorn.health()["revision"] == sha
    assert log.read_text().count(line) == before + 1


def test_no_request_fails_during_a_deploy(served):
    """Clients hammer the site while a code change is deployed: every request is answered 200, first by
    the old revision, then by the new one (gunicorn's HUP replaces workers gracefully)."""
    s = served
    old = s.revision(s.current_name())
    sha = s.repo.code_change()
    stop = threading.Event()
    answers, failures, lock = [], [], threading.Lock()

    def client():
        while not stop.is_set():
            try:
                with urllib.request.urlopen(s.gunicorn.url, timeout=10) as response:
                    revision = json.loads(response.read())["revision"]
                with lock:
                    answers.append(revision)
            except Exception as exc:  # noqa: BLE001 - every kind of failure counts
                with lock:
                    failures.append(repr(exc))

    clients = [threading.Thread(target=client) for _ in range(4)]
    for thread in clients:
        thread.start()
    try:
        s.fab("deploy").ok()
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline and (not answers or answers[-1] != sha):
            time.sleep(0.05)
    finally:
        stop.set()
        for thread in clients:
            thread.join()
    assert failures == []
    assert old in answers and sha in answers
    assert answers.index(sha) > answers.index(old) and answers[-1] == sha


def test_requirements_change_builds_a_new_venv(served):
    s = served
    [old_venv] = s.venvs()
    previous = s.current_name()
    sha = s.repo.requirements_change("sqlparse==0.6.1")
    run = s.fab("deploy").ok()
    [new_venv] = [v for v in s.venvs() if v != old_venv]
    assert f"venv {new_venv} built" in run.stdout
    assert os.readlink(s.path / "current" / ".venv") == str(s.path / "shared" / "venvs" / new_venv)
    assert os.readlink(s.path / "releases" / previous / ".venv") == str(s.path / "shared" / "venvs" / old_venv)
    stamp = s.path / "shared" / "venvs" / new_venv / ".deploytasks-requirements"
    assert stamp.read_text().strip().startswith(new_venv)
    assert s.gunicorn.health()["revision"] == sha


def test_deploy_never_puts_secrets_on_a_command_line(served, argv_watch):
    """Watch every process's argv on this machine (client, sshd, server side) during a deploy."""
    s = served
    with argv_watch() as seen:
        run = s.fab("--echo", "deploy", "--again").ok()
    assert any("warm_start" in line and str(s.path) in line for line in seen), "the watcher saw the deploy's commands"
    for secret in (s.secret_key, s.database_url):
        assert secret not in run.stdout + run.stderr
        assert not [line for line in seen if secret in line]
    assert stat.S_IMODE((s.path / "shared" / ".env").stat().st_mode) == 0o600

def test_the_sudo_password_reaches_the_reload_on_stdin_never_argv(served, argv_watch):
    """Fabric's sudo password (FABRIC_SUDO_PASSWORD here) is what a `sudo -S` reload reads on stdin."""
    s = served
    password = "pw-" + os.urandom(6).hex()
    heard = s.base / "reload-heard"
    reload = f"read -r line; printf %s \"$line\" > {heard}; {s.gunicorn.reload}"
    with argv_watch() as seen:
        run = s.fab("deploy", env={"FABRIC_SUDO_PASSWORD": password, "FABRIC_DEPLOYTASKS_RELOAD": reload}).ok()
    assert heard.read_text() == password
    assert password not in run.stdout + run.stderr
    assert not [line for line in seen if password in line]


def test_redeploy_of_the_same_revision_takes_the_one_ssh_session_the_readme_promises(served):
    s = served
    revision, live = s.revision(), s.current_name()
    before = s.sshd.session_count()
    s.fab("deploy", "--again").ok()
    sessions = s.sshd.session_count() - before
    assert s.revision() == revision and s.current_name() != live
    assert sessions == 1, sessions  # README: one SSH command for a redeploy


def test_a_deploy_of_what_already_serves_is_skipped_until_something_changes(served):
    """README: the same commit, settings and shared files, with the site answering its health check with that
    commit, is nothing to deploy; a changed .env or --again deploys."""
    s = served
    s.fab("deploy", "--again").ok()  # a live release deployed with these settings
    live, releases, log, venvs = s.current_name(), s.releases(), s.log(), s.venvs()
    before = s.sshd.session_count()
    run = s.fab("deploy").ok()
    assert f"{live} already serves {s.revision()[:12]}" in run.stdout and "nothing to deploy" in run.stdout
    assert s.sshd.session_count() - before == 1
    assert (s.current_name(), s.releases(), s.log(), s.venvs()) == (live, releases, log, venvs)
    assert not s.lock.exists()
    assert s.gunicorn.health()["revision"] == s.revision()

    env = s.path / "shared" / ".env"
    env.write_text(env.read_text() + "# edited on the server\n")  # the app reads it at start: a new release applies it
    run = s.fab("deploy").ok()
    assert "nothing to deploy" not in run.stdout and s.current_name() != live
    live = s.current_name()
    assert "nothing to deploy" in s.fab("deploy").ok().stdout
    s.configure(keep_backups=7)  # any deploy setting
    try:
        assert "nothing to deploy" not in s.fab("deploy").ok().stdout and s.current_name() != live
    finally:
        del s.settings["keep_backups"]
        s.configure()
    live = s.current_name()
    s.fab("deploy", "--again").ok()
    assert s.current_name() != live and s.revision() == s.revision(live)


def test_deploy_and_rollback_json_print_one_document_whatever_the_outcome(served, closed_port):
    """`--json` on one host printed nothing but the status lines (it was for --plan and fleets only): a deploy,
    an unchanged one, a failed one and a rollback each print one document on stdout, the status lines on stderr."""
    s = served
    s.repo.code_change()
    deployed = s.fab("deploy", "--json").ok()
    document = json.loads(deployed.stdout)
    assert document["ok"] is True and document["host"] == s.sshd.alias
    assert document["release"] == s.current_name() and document["revision"] == s.revision()
    assert "is live" in deployed.stderr
    unchanged = json.loads(s.fab("deploy", "--json").ok().stdout)
    assert unchanged["ok"] is True and unchanged["unchanged"] is True and unchanged["release"] == s.current_name()
    saved = {key: s.settings[key] for key in ("healthcheck", "healthcheck_retries")}
    s.configure(healthcheck=f"http://127.0.0.1:{closed_port}/health/", healthcheck_retries=1)
    try:
        failed = s.fab("deploy", "--again", "--json")
    finally:
        s.configure(**saved)
    assert failed.returncode == 1 and "Traceback" not in failed.stderr, failed
    line = failed.stderr.splitlines()[-1]
    document = json.loads(failed.stdout)
    assert document["ok"] is False and "failed its health check" in document["error"], document
    assert line == "deploytasks: error: " + document["error"], line
    live = s.current_name()
    rolled = json.loads(s.fab("rollback", "--yes", "--json").ok().stdout)
    assert rolled["ok"] is True and rolled["from"] == live and rolled["release"] == s.current_name() != live
    s.fab("deploy").ok()


def test_dry_deploy_changes_nothing(served):
    s = served
    s.repo.code_change()  # something new to deploy, so a real deploy would change the server
    before, log, mirror = s.state(), s.log(), (s.path / "repo" / "packed-refs").read_text()
    run = s.fab("--dry", "deploy").ok()
    assert "dry-run" in run.stdout
    assert s.state() == before
    assert s.log() == log
    assert (s.path / "repo" / "packed-refs").read_text() == mirror  # not even fetched


def test_releases_lists_the_live_release(served):
    s = served
    data = s.fab("releases", "--json").ok().json()
    assert data["current"] == s.current_name()
    assert [r["release"] for r in data["releases"]] == s.releases()
    [live] = [r for r in data["releases"] if r["current"]]
    assert live["release"] == s.current_name() and live["revision"] == s.revision()
    assert live["status"] == "live"
    assert data["lock"] is None
    table = s.fab("releases").ok().stdout
    assert s.current_name() in table and "current" in table


def test_unlock_shows_and_removes_a_lock(served):
    s = served
    assert "Not locked." in s.fab("unlock").ok().stdout
    s.lock.mkdir()
    (s.lock / "info.json").write_text('{"action": "deploy", "who": "alice@laptop", "since": "2020-01-01T00:00:00Z"}')
    try:
        shown = s.fab("unlock").ok().stdout
        assert "Locked: deploy by alice@laptop" in shown and "--force" in shown
        assert s.lock.exists()
        lock = s.fab("releases", "--json").ok().json()["lock"]
        assert lock["who"] == "alice@laptop" and lock["holder_gone"] is False  # no holder named: being taken
        gone = subprocess.Popen(["true"])
        gone.wait()  # a process that has ended, as a crashed deploy's
        (s.lock / "info.json").write_text(json.dumps({"action": "deploy", "who": "alice@laptop",
                                                      "since": "2020-01-01T00:00:00Z", "pid": gone.pid}))
        shown = s.fab("releases").ok().stdout
        assert (f"locked: deploy by alice@laptop since 2020-01-01T00:00:00Z (its process {gone.pid} is gone: the next "
                "deploy recovers what it left and takes the lock") in " ".join(shown.split()), shown
        assert s.fab("history", "--json").ok().json()["lock"]["holder_gone"] is True
        assert "lock removed" in s.fab("unlock", "--force").ok().stdout
        assert not s.lock.exists()
    finally:
        if s.lock.exists():
            for child in s.lock.iterdir():
                child.unlink()
            s.lock.rmdir()


def test_check_on_the_live_release(served, closed_port):
    s = served
    data = s.fab("check", "--live-only", "--json").ok().json()
    assert data["ok"] is True
    verdicts = {item["item"]: item for item in data["items"]}
    assert verdicts["migrations"]["verdict"] == "PASS"
    assert verdicts["health check"] == {"item": "health check", "verdict": "PASS",
                                        "detail": f"GET {s.gunicorn.url}: 200"}
    healthy = s.settings["healthcheck"]
    s.configure(healthcheck=f"http://127.0.0.1:{closed_port}/health/")  # as if the app server had died
    try:
        run = s.fab("check", "--live-only")
        data = s.fab("check", "--live-only", "--json").json()
    finally:
        s.configure(healthcheck=healthy)
    run.error("the checklist has failures in live release")
    assert "health check" in run.stdout and "FAIL" in run.stdout, run.stdout
    detail = {item["item"]: item for item in data["items"]}["health check"]["detail"]
    assert detail.count("/health/") == 1 and "Connection refused" in detail, detail  # the URL once
    assert "the app server is down" in detail and "fab deploy --again" in detail, detail


def test_check_of_the_next_revision_leaves_no_trace(served):
    """`fab check` also checks the branch about to ship in a candidate release that is never switched to."""
    s = served
    s.repo.code_change()
    before, log = s.state(), s.log()
    data = s.fab("check", "--json").ok().json()
    assert set(data) == {"live", "next"} and all(section["ok"] for section in data.values()), data
    assert data["next"]["title"].startswith("next: main @ ")
    assert s.state() == before and s.log() == log


def test_manage_runs_in_the_live_release(served):
    out = served.fab("manage", "showmigrations accounts").ok().stdout
    assert "[X] 0016_seed_default_plans_and_settings" in out
    served.fab("manage", "").error("name a management command")
    failed = served.fab("manage", "shell -c 'import sys; print(\"bad row 7\"); sys.exit(3)'")
    assert failed.returncode == 3 and "bad row 7" in failed.stdout, failed  # a cron job sees the command's status
    assert failed.stderr.strip().endswith("manage.py shell exited with status 3 (its output is above)"), failed


def test_manage_reads_what_is_piped_in_and_ends_with_it(served):
    """`fab manage shell < script.py`: the script reaches the shell on the server and its end ends the shell (it
    used to wait for input that never came)."""
    done = tools.run("fab", served.fab_args("manage", "shell"), cwd=served.project, env=served.env(),
                     input="from accounts.models import Plan\nprint('plans:', Plan.objects.count())\n", timeout=120)
    assert done.returncode == 0, done.stderr
    assert "plans: 3" in done.stdout, done.stdout


def in_the_foreground_of_its_terminal():
    """Popen's preexec_fn: the child's stdin, a pty, becomes its controlling terminal with the child in the
    foreground, as in a shell (Invoke forwards keys only then; Ctrl-C typed there is its SIGINT)."""
    ctrl_c_reaches_it()
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def at_a_terminal(s, args, keys, until, timeout=120):
    """`fab manage ARGS` in a terminal (a pty): `keys` typed once `until` is in what it printed; (exit status, what
    it printed)."""
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(s.command("manage", args), cwd=s.project, env=s.env(), stdin=terminal, stdout=terminal,
                            stderr=terminal, preexec_fn=in_the_foreground_of_its_terminal)
    os.close(terminal)
    printed, typed, deadline = b"", False, time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(controller, 65536)
                except OSError:  # every end of the terminal closed: fab has exited
                    break
                printed += chunk
            if not typed and until.encode() in printed:
                typed = True
                os.write(controller, keys.encode())
            if proc.poll() is not None and not ready:
                break
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(controller)
    return proc.returncode, printed.decode(errors="replace")


def test_manage_at_a_terminal_is_interactive_on_the_server(served):
    """`fab manage shell`: the server's Django shell reads what is typed here."""
    code, printed = at_a_terminal(served, "shell -i python", "print(6 * 7)\nexit()\n", ">>>")
    assert code == 0 and "\n42" in printed.replace("\r", ""), printed


def test_ctrl_c_in_manage_at_a_terminal_stops_the_command_on_the_server(served):
    """Ctrl-C reaches the management command through the server's terminal: it ends there, not 10 minutes later."""
    s = served
    code, printed = at_a_terminal(s, "shell -c 'import time; print(\"sleeping\", flush=True); time.sleep(600)'",
                                  "\x03", "sleeping")
    assert code == 1 and "KeyboardInterrupt" in printed, printed
    assert faults.wait_until(lambda: not faults.runs(s, "time.sleep(600)"), timeout=30)


def test_migrations_status_on_the_live_release(served):
    data = served.fab("migrations.status", "--json").ok().json()
    assert data["pending"] == [] and data["conflicts"] in ({}, [], None)
    accounts = {row["app"]: row for row in data["apps"]}["accounts"]
    assert accounts["applied"] == accounts["files"] == 16
    assert served.db.exists() and str(served.db) == data["database"]["name"]


def test_install_and_venv_keep_the_live_venv(served):
    s = served
    before = s.state()
    assert "requirements unchanged, skipped" in s.fab("install").ok().stdout
    assert "present, kept" in s.fab("venv").ok().stdout
    assert s.state() == before


def test_createsuperuser_with_the_password_on_stdin(served, argv_watch):
    s = served
    password = "pw-" + os.urandom(8).hex()
    with argv_watch() as seen:
        run = s.fab("createsuperuser", env={"DJANGO_SUPERUSER_USERNAME": "admin", "DJANGO_SUPERUSER_PASSWORD": password,
                                            "DJANGO_SUPERUSER_EMAIL": "admin@example.com"}).ok()
    assert "created admin" in run.stdout and password not in run.stdout + run.stderr
    assert any("manage.py" in line for line in seen) and not [line for line in seen if password in line]
    assert s.query("SELECT is_superuser FROM accounts_user WHERE username='admin'") == [(1,)]
    assert "admin exists, kept" in s.fab("createsuperuser", "--username", "admin").ok().stdout


def test_old_releases_are_pruned(served):
    s = served
    previous = s.current_name()
    s.configure(keep_releases=2)
    try:
        run = s.fab("deploy").ok()
    finally:
        del s.settings["keep_releases"]
        s.configure()
    assert s.releases() == [previous, s.current_name()]
    assert "pruned" in run.stdout
    assert s.log()[-1]["previous"] == previous and s.log()[-1]["result"] == "ok"


def test_keep_releases_0_keeps_every_release_as_keep_backups_0_keeps_every_backup(deployed):
    s = deployed
    quiet = {"FABRIC_DEPLOYTASKS_HEALTHCHECK": "", "FABRIC_DEPLOYTASKS_RELOAD": ""}
    for _ in range(2):
        s.fab("deploy", env=quiet).ok()
    before = s.releases()
    assert len(before) >= 3
    s.fab("deploy", env=dict(quiet, FABRIC_DEPLOYTASKS_KEEP_RELEASES="0")).ok()
    assert s.releases()[:-1] == before and len(s.releases()) == len(before) + 1


def test_deploy_prunes_venvs_no_release_links_to(deployed):
    s = deployed
    stale = s.path / "shared" / "venvs" / "0123456789abcdef"
    (stale / "bin").mkdir(parents=True)
    s.fab("deploy", env={"FABRIC_DEPLOYTASKS_HEALTHCHECK": "", "FABRIC_DEPLOYTASKS_RELOAD": ""}).ok()
    assert not stale.exists()
    live = os.path.realpath(s.path / "current" / ".venv")
    assert os.path.isdir(live) and os.path.basename(live) in s.venvs()


def test_an_app_server_gone_with_the_switch_is_started_again_when_the_deploy_switches_back(served):
    """The master dies with the reload (an OOM kill, a crash): the health check fails, the deploy switches back,
    the reload finds nothing to signal, and the configured `start` brings the previous release up again."""
    s = served
    g = s.gunicorn
    live, revision = s.current_name(), g.health()["revision"]
    log = s.base / "gunicorn-started-again.log"
    s.configure(reload=f"kill -TERM $(cat {g.pidfile}) && sleep 1", healthcheck_retries=4, healthcheck_delay=0.25,
                start=f"set -a && . ./shared/.env && set +a && cd current && exec ./.venv/bin/gunicorn --daemon "
                      f"--chdir {s.path}/current --pid {g.pidfile} --bind 127.0.0.1:{g.port} --error-logfile {log} "
                      "mysite.wsgi")
    try:
        s.repo.code_change()
        s.fab("deploy").error("health check", "switched back to", f"{live} stays live")
        assert s.current_name() == live
        assert g.health()["revision"] == revision  # started again: it answers, from the release left live
    finally:
        g.pid = int(g.pidfile.read_text().strip()) if g.pidfile.exists() else g.pid
        s.settings.pop("start")
        s.configure(reload=g.reload, healthcheck_retries=60, healthcheck_delay=0.25)


def test_a_release_answering_http_500_is_switched_back_and_the_error_says_what_it_raised(served):
    """A typo in the health view: production's Django answers a bare 500 (the traceback goes to ADMINS' mail);
    the deploy switches back, then asks the new release's own Django and names the exception and the line."""
    s = served
    live, revision = s.current_name(), s.gunicorn.health()["revision"]
    source = (s.repo.work / "accounts" / "views.py").read_text()
    assert '"revision": REVISION})' in source
    line = next(number for number, text in enumerate(source.splitlines(), 1) if '"revision": REVISION})' in text)

    def typo(work):
        (work / "accounts" / "views.py").write_text(source.replace('"revision": REVISION})', '"revision": REVISON})'))

    s.repo.commit("typo in the health view", typo, branch="typo")
    s.configure(healthcheck_retries=2, healthcheck_delay=0.1)
    try:
        error = s.fab("deploy", "--revision", "typo").error(
            "failed its health check (HTTP 500 from", "switched back to", f"{live} stays live")
        assert f"GET /health/ raises NameError: name 'REVISON' is not defined (accounts/views.py:{line})" in error
        assert s.current_name() == live and s.gunicorn.health()["revision"] == revision
        assert not s.lock.exists()
    finally:
        s.configure(healthcheck_retries=60, healthcheck_delay=0.25)
