"""From `django-admin startproject` to a first successful `fab deploy` on a real sshd using only `deploytasks init`
and the README's steps (a requirements file, git, `fab setup`, `fab deploy`), with the generated reload starting
gunicorn on the first deploy and HUPping it on the next, handing it over to a new master after a requirements or
a `.env` change."""
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests import _forkserver as tools
from tests._util import EXAMPLE, clean_env, deploytasks_command
from tests.remote.conftest import FabRun, git, give_uv, wait_for
from tests.sshd import SSHServer, free_port

ADDRESS = "127.0.0.70"
BIN = Path(sys.executable).parent


def run(cwd, *args, env=None):
    done = subprocess.run(list(args), cwd=cwd, env=env or clean_env(), capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=600)
    assert done.returncode == 0, f"{args}: {done.stdout}{done.stderr}"
    return done.stdout


def alive(pid) -> bool:
    """The process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class NewUser:
    """A new user's project (startproject + requirements + git) and the server they deploy to."""

    def __init__(self, base: Path, sshd: SSHServer):
        self.base, self.sshd = base, sshd
        self.work = base / "mysite"
        self.srv = base / "srv"
        self.home = base / "home"
        self.home.mkdir()
        self.port = free_port("127.0.0.1")

    def fab(self, *args) -> FabRun:
        done = tools.run("fab", ["-S", str(self.sshd.ssh_config), "-H", self.sshd.alias, *args], cwd=self.work,
                         env=clean_env(HOME=str(self.home)), timeout=600, fresh=True)  # the README's path
        return FabRun(args, done.returncode, done.stdout, done.stderr)

    def get(self, path="/admin/login/"):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=10) as response:
            return response.status

    def gunicorn_pid(self):
        try:
            return int((self.srv / "shared" / "gunicorn.pid").read_text())
        except (OSError, ValueError):
            return None

    def stop_gunicorn(self):
        """Stop the master the generated script started (by the PID it wrote); it takes its workers with it."""
        pid = self.gunicorn_pid()
        if not pid:
            return
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                if b"gunicorn" not in handle.read():
                    return
            os.kill(pid, signal.SIGTERM)
        except (OSError, ProcessLookupError):
            return
        if not wait_for(lambda: not os.path.exists(f"/proc/{pid}"), timeout=30):
            os.kill(pid, signal.SIGKILL)


class Requests:
    """GETs the site without a pause in a thread while the block runs: how many were answered, which failed."""

    def __init__(self, user):
        self.user, self.ok, self.failed, self.stop = user, 0, [], threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self.stop.is_set():
            try:
                self.user.get("/")
                self.ok += 1
            except urllib.error.HTTPError as exc:
                if exc.code >= 500:
                    self.failed.append(repr(exc))
                else:
                    self.ok += 1  # answered (a 404 for `/` of a bare project)
            except OSError as exc:
                self.failed.append(repr(exc))

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


@pytest.fixture(scope="module")
def user(tmp_path_factory):
    base = tmp_path_factory.mktemp("init-first-deploy")
    with SSHServer(base / "sshd", host=ADDRESS) as sshd:
        new_user = NewUser(base, sshd)
        try:
            yield new_user
        finally:
            new_user.stop_gunicorn()


def first_deploy(user):
    """startproject, its requirements, git, `deploytasks init`, `fab setup` and a first `fab deploy`: the generated
    script starts gunicorn. Returns the master's pid and the live release (`current`'s target)."""
    # a brand-new project, its requirements (with gunicorn), in git with a remote the server can clone
    run(user.base, str(BIN / "django-admin"), "startproject", "mysite")
    (user.work / "requirements.txt").write_text((EXAMPLE / "requirements.txt").read_text())  # Django + gunicorn
    bare = user.base / "mysite.git"
    git(user.work, "init", "-q", "-b", "main")
    git(user.work, "add", "-A")
    git(user.work, "commit", "-q", "-m", "startproject")
    git(user.base, "clone", "-q", "--bare", str(user.work), str(bare))
    git(user.work, "remote", "add", "origin", str(bare))

    out = run(user.work, *deploytasks_command(), "init", "--host", user.sshd.alias, "--path", str(user.srv),
              "--bind", f"127.0.0.1:{user.port}")
    assert f"repo             {bare}" in out, out
    production_env = user.work / "deploy" / user.sshd.alias / ".env"
    assert production_env.is_file()

    # README: commit what init wrote (its .gitignore keeps production's env file out), push, fab setup, fab deploy
    git(user.work, "add", "-A")
    git(user.work, "commit", "-q", "-m", "deploytasks init")
    git(user.work, "push", "-q", "origin", "main")
    committed = git(user.work, "ls-files").splitlines()
    assert {"tasks.py", "fabfile.py", "deploytasks.yaml", ".gitignore", "gunicorn.conf.py",
            "deploy/gunicorn.sh"} <= set(committed)
    assert f"deploy/{user.sshd.alias}/.env" not in committed
    give_uv(SimpleNamespace(path=user.srv))  # the uv + cache every remote test shares (as `fab setup` would install)

    setup = user.fab("setup").ok()
    assert f"uploaded deploy/{user.sshd.alias}/.env" in setup.stdout, setup
    assert (user.srv / "shared" / ".env").read_text() == production_env.read_text()

    first = user.fab("deploy").ok()
    assert "is live" in first.stdout, first
    head = git(user.work, "rev-parse", "HEAD")
    current = os.readlink(user.srv / "current")
    assert (user.srv / current / "REVISION").read_text().strip() == head
    master = user.gunicorn_pid()
    assert master and user.get() == 200
    assert json.loads((user.srv / "releases.log").read_text().splitlines()[-1])["revision"] == head
    return master, current


def test_startproject_to_first_deploy_with_init_and_the_readme(user):
    master, current = first_deploy(user)

    # the next deploy reloads the running gunicorn (HUP) instead of starting another one
    with open(user.work / "mysite" / "urls.py", "a") as handle:
        handle.write("\n# a code change\n")
    git(user.work, "commit", "-q", "-am", "a code change")
    git(user.work, "push", "-q", "origin", "main")
    second = user.fab("deploy").ok()
    head = git(user.work, "rev-parse", "HEAD")
    assert os.readlink(user.srv / "current") != current
    assert (user.srv / "current" / "REVISION").read_text().strip() == head
    assert user.gunicorn_pid() == master and alive(master)
    assert user.get() == 200, second
    imported = "gunicorn.conf.py: Django's framework imported in the master"  # on start and on the HUP
    assert (user.srv / "shared" / "gunicorn.log").read_text().count(imported) == 2
    # not for every local user: the app's tracebacks, the log's errors, the database's password hashes
    for path in (user.srv / "shared" / "gunicorn.log", user.srv / "releases.log", user.srv / "current" / "db.sqlite3"):
        assert path.stat().st_mode & 0o007 == 0, (path, oct(path.stat().st_mode))

    # gunicorn gone (a crash, a reboot) and its pid file left behind: the next deploy starts it again
    user.stop_gunicorn()
    (user.srv / "shared" / "gunicorn.pid").write_text(f"{master}\n")  # stale: that process is gone
    user.fab("deploy").ok()
    restarted = user.gunicorn_pid()
    assert restarted and restarted != master and user.get() == 200

    # a requirements change builds a new venv: a HUP would keep the old interpreter, so the master is restarted
    with open(user.work / "requirements.txt", "a") as handle:
        handle.write("# a requirements change\n")
    git(user.work, "commit", "-q", "-am", "a requirements change")
    git(user.work, "push", "-q", "origin", "main")
    with Requests(user) as requests:  # a new master in the new venv on the same socket: no request refused
        changed = user.fab("deploy").ok()
    assert requests.ok > 0 and requests.failed == [], requests.failed[:3]
    assert "the venv changed and no process runs the old one any more" in changed.stdout, changed.stdout
    assert "WARN the venv changed" not in changed.stdout  # the script restarted gunicorn: nothing to warn about
    venv = os.path.realpath(user.srv / "current" / ".venv")
    assert (user.srv / "shared" / "gunicorn.venv").read_text().strip() == venv
    assert user.gunicorn_pid() not in (None, restarted) and user.get() == 200
    master = user.gunicorn_pid()
    with open(f"/proc/{master}/cmdline", "rb") as handle:
        assert handle.read().split(b"\0")[0].decode() == f"{venv}/bin/python"  # gunicorn.conf.py's pre_exec
    assert wait_for(lambda: not alive(restarted), timeout=60)  # the old master, once its requests were answered

    # a requirements change whose app cannot load under gunicorn (its checks pass): the new master stops before
    # any worker serves; the old master goes on serving, and the deploy is undone
    with open(user.work / "requirements.txt", "a") as handle:
        handle.write("# another requirements change\n")
    push_an_app_gunicorn_cannot_load(user, "ImportError('this release cannot run under gunicorn')")
    live = os.readlink(user.srv / "current")
    with Requests(user) as requests:
        broken = user.fab("deploy")
    assert requests.ok > 0 and requests.failed == [], requests.failed[:3]
    assert broken.returncode == 1, broken
    assert "stopped before its workers loaded the app" in broken.stderr and \
        "ImportError: this release cannot run under gunicorn" in broken.stderr, broken.stderr
    assert os.readlink(user.srv / "current") == live and user.gunicorn_pid() == master and alive(master)
    assert user.get() == 200


def with_an_app_gunicorn_can_load(user):
    """The first test's deploy (when a test runs alone), and startproject's wsgi.py back in place of the app it leaves,
    which gunicorn cannot load, committed and pushed."""
    if not (user.srv / "current").exists():  # run alone: the first test's start
        first_deploy(user)
    root = git(user.work, "rev-list", "--max-parents=0", "HEAD").strip()
    git(user.work, "checkout", root, "--", "mysite/wsgi.py")  # the first test leaves an app gunicorn cannot load
    if git(user.work, "status", "--porcelain").strip():
        git(user.work, "commit", "-q", "-am", "an app gunicorn can load")
        git(user.work, "push", "-q", "origin", "main")


def push_an_app_gunicorn_cannot_load(user, exception):
    """Commit and push a wsgi.py that raises `exception` under gunicorn only (its checks and manage.py pass)."""
    with open(user.work / "mysite" / "wsgi.py", "a") as handle:
        handle.write(f"\nimport sys\nif any('gunicorn' in arg for arg in sys.argv):\n    raise {exception}\n")
    git(user.work, "commit", "-q", "-am", "a release whose app fails to load in gunicorn")
    git(user.work, "push", "-q", "origin", "main")


def workers(master) -> list:
    """The pids whose parent is `master` (its workers)."""
    found = []
    for name in os.listdir("/proc"):
        try:
            with open(f"/proc/{name}/stat") as handle:
                if int(handle.read().rsplit(")", 1)[1].split()[1]) == master:
                    found.append(int(name))
        except (OSError, ValueError, IndexError):
            pass
    return found


def environ_of(pid) -> dict:
    """The environment `pid` was exec'd with (/proc/PID/environ): a worker's is its master's."""
    with open(f"/proc/{pid}/environ", "rb") as handle:
        return dict(entry.decode().partition("=")[::2] for entry in handle.read().split(b"\0") if entry)


def test_a_changed_env_file_reaches_the_serving_workers_on_the_next_deploy(user):
    """`fab shared.push` of a changed .env, then `fab deploy`: the generated script hands over to a new master
    started with shared/.env as it is now (a changed value in, a removed one gone), no request refused; with the
    env file unchanged the next deploy HUPs the same master. Before, HUP and USR2 kept the old master's environment
    (the workers answered with the old ALLOWED_HOSTS until someone killed the master by hand)."""
    if not (user.srv / "current").exists():  # run alone: the first test's start
        first_deploy(user)
    root = git(user.work, "rev-list", "--max-parents=0", "HEAD").strip()
    git(user.work, "checkout", root, "--", "mysite/wsgi.py")  # the first test leaves an app gunicorn cannot load
    with open(user.work / "mysite" / "urls.py", "a") as handle:
        handle.write("\nimport os\nfrom django.http import JsonResponse\n\nurlpatterns.append(path('env/', lambda r: "
                     "JsonResponse({n: os.environ.get(n) for n in ('PROBE_VALUE', 'PROBE_GONE')})))\n")
    git(user.work, "commit", "-q", "-am", "a view that shows two settings from the environment")
    git(user.work, "push", "-q", "origin", "main")
    production_env = user.work / "deploy" / user.sshd.alias / ".env"
    original = production_env.read_text()
    secret = "probe-" + os.urandom(8).hex()

    def env(*lines):
        production_env.write_text(original + "".join(line + "\n" for line in lines))
        user.fab("shared.push", "--yes").ok()
        assert (user.srv / "shared" / ".env").read_text() == production_env.read_text()

    def shown():
        with urllib.request.urlopen(f"http://127.0.0.1:{user.port}/env/", timeout=10) as response:
            return json.loads(response.read())

    env(f"PROBE_VALUE={secret}-one", "PROBE_GONE='a value with spaces'")
    user.fab("deploy").ok()
    assert shown() == {"PROBE_VALUE": f"{secret}-one", "PROBE_GONE": "a value with spaces"}
    stamp = user.srv / "shared" / "gunicorn.envhash"
    assert oct(stamp.stat().st_mode & 0o777) == "0o600"

    # the env file unchanged: a code change is HUPped (same master), as before
    master = user.gunicorn_pid()
    with open(user.work / "mysite" / "urls.py", "a") as handle:
        handle.write("\n# a code change\n")
    git(user.work, "commit", "-q", "-am", "another code change")
    git(user.work, "push", "-q", "origin", "main")
    user.fab("deploy").ok()
    assert user.gunicorn_pid() == master and alive(master)
    assert shown()["PROBE_VALUE"] == f"{secret}-one"

    # a changed value and a removed variable: pushed, then deployed with no other change
    env(f"PROBE_VALUE={secret}-two")
    with Requests(user) as requests:
        deployed = user.fab("deploy").ok()
    assert requests.ok > 0 and requests.failed == [], requests.failed[:3]
    assert user.gunicorn_pid() not in (None, master)
    assert shown() == {"PROBE_VALUE": f"{secret}-two", "PROBE_GONE": None}
    new = user.gunicorn_pid()
    for pid in [new, *workers(new)]:
        environ = environ_of(pid)
        assert environ.get("PROBE_VALUE") == f"{secret}-two" and "PROBE_GONE" not in environ, pid
        assert environ.get("PWD") == str(user.srv / "current"), pid  # gunicorn goes back there on a reload
        assert "LISTEN_FDS" not in environ and environ.get("GUNICORN_PID") != str(new), pid
    assert wait_for(lambda: not alive(master), timeout=60)  # the old master, once its requests were answered
    assert not (user.srv / "shared" / "gunicorn.pid.environ").exists()  # the handed-over copy, removed once read
    log = (user.srv / "shared" / "gunicorn.log").read_text()
    for text in (deployed.stdout, deployed.stderr, log):
        assert secret not in text


def test_a_pushed_env_file_that_breaks_the_site_is_put_back_when_the_previous_release_fails_with_it_too(user):
    """A .env is not part of a release: a pushed one whose values break the site (here a settings module whose
    ALLOWED_HOSTS lacks the site's host: it loads, and answers 400) failed the deploy's health check, and the release
    switched back to read the same file: the site stayed down after the undo. Now the undo, once the previous release
    fails with the pushed file too, gives it the .env it went live with (the pushed one kept aside, 0600): it serves."""
    if not (user.srv / "current").exists():  # run alone: the first test's start
        first_deploy(user)
    root = git(user.work, "rev-list", "--max-parents=0", "HEAD").strip()
    git(user.work, "checkout", root, "--", "mysite/wsgi.py")  # the first test leaves an app gunicorn cannot load
    (user.work / "mysite" / "wrong_hosts.py").write_text(
        "from .settings import *  # noqa: F401,F403\n\nALLOWED_HOSTS = ['nowhere.invalid']\n")
    git(user.work, "add", "-A")
    git(user.work, "commit", "-q", "-m", "a settings module that serves no host of ours")
    git(user.work, "push", "-q", "origin", "main")
    config = user.work / "deploytasks.yaml"
    production_env = user.work / "deploy" / user.sshd.alias / ".env"
    saved, good = config.read_text(), production_env.read_text()
    assert "DJANGO_SETTINGS_MODULE=mysite.settings\n" in good
    config.write_text(saved.replace("healthcheck_retries: 40", "healthcheck_retries: 4"))
    try:
        user.fab("deploy").ok()  # the module is in the live release too; the .env it goes live with is the good one
        live = os.readlink(user.srv / "current")
        assert user.get() == 200
        production_env.write_text(good.replace("=mysite.settings\n", "=mysite.wrong_hosts\n"))
        user.fab("shared.push", "--yes").ok()
        with open(user.work / "mysite" / "urls.py", "a") as handle:
            handle.write("\n# a change that goes out with the pushed .env\n")
        git(user.work, "commit", "-q", "-am", "a code change")
        git(user.work, "push", "-q", "origin", "main")
        failed = user.fab("deploy")
        text = failed.stdout + failed.stderr
        assert failed.returncode != 0, text
        assert "failed with shared/.env too and served again once given the one it went live with" in text, text
        assert os.readlink(user.srv / "current") == live
        assert (user.srv / "shared" / ".env").read_text() == good
        aside = list((user.srv / "shared").glob(".env.*.failed"))
        assert [path.read_text() for path in aside] == [production_env.read_text()], aside
        assert oct(aside[0].stat().st_mode & 0o777) == "0o600"
        assert f"shared/{aside[0].name}" in text, text
        assert user.get() == 200
        entry = json.loads((user.srv / "releases.log").read_text().splitlines()[-1])
        assert entry["result"] != "ok" and "shared/.env is that one again" in entry["summary"], entry
    finally:
        config.write_text(saved)
        production_env.write_text(good)
    assert "nothing to deploy" not in user.fab("deploy").ok().stdout  # the good file, as the server has it again
    assert user.get() == 200


def test_a_changed_bind_restarts_gunicorn_on_it_and_what_the_app_writes_to_stderr_reaches_the_log(user):
    """GUNICORN_BIND changed in shared/.env: the USR2 handover kept the old listening socket (a new master inherits
    it), so the deploy failed its health check on the new address. The generated script restarts gunicorn on the
    new bind. And what the app writes to stderr (a console logging handler's tracebacks) reaches
    shared/gunicorn.log: a daemonized gunicorn sent it to /dev/null."""
    if not (user.srv / "current").exists():  # run alone: the first test's start
        first_deploy(user)
    root = git(user.work, "rev-list", "--max-parents=0", "HEAD").strip()
    git(user.work, "checkout", root, "--", "mysite/wsgi.py")  # the first test leaves an app gunicorn cannot load
    marker = "to-stderr-" + os.urandom(6).hex()
    with open(user.work / "mysite" / "urls.py", "a") as handle:
        handle.write(f"\nimport sys\nfrom django.http import HttpResponse\n\n\ndef to_stderr(request):\n"
                     f"    print({marker!r}, file=sys.stderr, flush=True)\n    return HttpResponse('ok')\n\n\n"
                     "urlpatterns.append(path('stderr/', to_stderr))\n")
    git(user.work, "commit", "-q", "-am", "a view that writes to stderr")
    git(user.work, "push", "-q", "origin", "main")
    config = user.work / "deploytasks.yaml"
    production_env = user.work / "deploy" / user.sshd.alias / ".env"
    saved, good = config.read_text(), production_env.read_text()
    port = free_port("127.0.0.1")
    try:
        production_env.write_text(good + f"GUNICORN_BIND=127.0.0.1:{port}\nWEB_CONCURRENCY=3\n")
        user.fab("shared.push", "--yes").ok()
        config.write_text(saved.replace(f"127.0.0.1:{user.port}/", f"127.0.0.1:{port}/"))
        assert config.read_text() != saved
        user.fab("deploy").ok()
        assert wait_for(lambda: len(workers(user.gunicorn_pid())) == 3, timeout=30)  # gunicorn's own WEB_CONCURRENCY
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/stderr/", timeout=10) as response:
            assert response.status == 200
        with pytest.raises(OSError):
            user.get()  # the old address: nobody listens there now
        assert wait_for(lambda: marker in (user.srv / "shared" / "gunicorn.log").read_text(), timeout=10)
    finally:
        config.write_text(saved)
        production_env.write_text(good)
    user.fab("shared.push", "--yes").ok()
    user.fab("deploy").ok()
    assert user.get() == 200


def test_a_bind_to_an_address_in_use_fails_the_reload_with_gunicorn_s_reason(user):
    """GUNICORN_BIND on a port another program listens on: the script said `gunicorn started` and the deploy failed
    on its health check's `Connection refused`; the reload fails with gunicorn's reason, and the undo brings the site
    back with the .env it went live with."""
    if not (user.srv / "current").exists():  # run alone: the first test's start
        first_deploy(user)
    root = git(user.work, "rev-list", "--max-parents=0", "HEAD").strip()
    git(user.work, "checkout", root, "--", "mysite/wsgi.py")  # the first test leaves an app gunicorn cannot load
    config = user.work / "deploytasks.yaml"
    production_env = user.work / "deploy" / user.sshd.alias / ".env"
    saved, good = config.read_text(), production_env.read_text()
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", 0))
    squatter.listen(1)
    port = squatter.getsockname()[1]
    try:
        user.fab("deploy", "--again").ok()  # the .env it goes live with is the good one
        production_env.write_text(good + f"GUNICORN_BIND=127.0.0.1:{port}\n")
        user.fab("shared.push", "--yes").ok()
        config.write_text(saved.replace("healthcheck_retries: 40", "healthcheck_retries: 4"))
        failed = user.fab("deploy")
        text = failed.stdout + failed.stderr
        assert failed.returncode == 1 and f"gunicorn did not start on 127.0.0.1:{port}" in text, text
        assert "Connection in use" in text, text
        assert user.get() == 200  # back on its own address, with the .env it went live with
    finally:
        squatter.close()
        config.write_text(saved)
        production_env.write_text(good)
    user.fab("shared.push", "--yes").ok()
    assert "nothing to deploy" in user.fab("deploy").ok().stdout or user.get() == 200


def test_a_start_whose_workers_cannot_load_the_app_fails_the_reload_with_the_app_s_exception(user):
    """No gunicorn running (a reboot, say) and a release whose app cannot load under gunicorn: the script said
    `gunicorn started` as soon as a worker was forked, and the deploy failed 40 health checks later on `Connection
    refused` (a src/ layout without --pythonpath: ModuleNotFoundError in gunicorn.log only). The start waits for a
    worker to load the app: the reload fails with the worker's exception, and the undo starts the previous release."""
    with_an_app_gunicorn_can_load(user)
    user.fab("deploy").ok()
    user.stop_gunicorn()
    push_an_app_gunicorn_cannot_load(user, "ModuleNotFoundError(\"No module named 'acme'\")")
    live = os.readlink(user.srv / "current")
    failed = user.fab("deploy")
    assert failed.returncode == 1, failed
    assert f"gunicorn did not start on 127.0.0.1:{user.port}: ModuleNotFoundError: No module named 'acme'" in \
        failed.stderr, failed.stderr
    assert "health check" not in failed.stderr, failed.stderr  # the reload's failure, not 40 refused connections
    assert os.readlink(user.srv / "current") == live and user.get() == 200  # the undo started the previous release
    git(user.work, "revert", "--no-edit", "HEAD")
    git(user.work, "push", "-q", "origin", "main")
    user.fab("deploy").ok()
    assert user.get() == 200


def test_a_changed_worker_count_is_handed_over_without_a_refused_request(user):
    """GUNICORN_WORKERS changed in shared/.env: gunicorn was stopped and started again (its --workers, in the
    command line a new master inherits), 3.4-13.5 s without a listener in a load test. The count now goes to gunicorn
    in its environment, and the changed .env's handover gives the new master the new one."""
    with_an_app_gunicorn_can_load(user)
    user.stop_gunicorn()  # started by this version of the script: no --workers in its command line
    user.fab("deploy", "--again").ok()
    production_env = user.work / "deploy" / user.sshd.alias / ".env"
    good = production_env.read_text()
    try:
        for count in (3, 2):
            production_env.write_text(good + f"GUNICORN_WORKERS={count}\n")
            user.fab("shared.push", "--yes").ok()
            before = user.gunicorn_pid()
            with Requests(user) as requests:
                user.fab("deploy").ok()
                assert wait_for(lambda: len(workers(user.gunicorn_pid())) == count and not alive(before), timeout=60)
            assert requests.ok > 0 and requests.failed == [], requests.failed[:3]
            assert user.gunicorn_pid() != before  # handed over, not HUPed
    finally:
        production_env.write_text(good)
    user.fab("shared.push", "--yes").ok()
    user.fab("deploy").ok()
    assert user.get() == 200
