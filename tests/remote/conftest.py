"""Fixtures for the remote (Fabric) tasks. No mocks: a real OpenSSH sshd per test module (each on its own
loopback address), a real bare git repo made from a copy of example/, the real `fab` CLI in a subprocess,
real venvs/pip on the "server" (this machine, reached over ssh) and a real gunicorn for health checks.

A test module sets ADDRESS = "127.0.0.N" and uses:
  server    an sshd + deploy dir + local project dir (fabfile.py, fabric.yaml); nothing deployed
  deployed  the same after `fab setup` (uploading deploy/<alias>/.env) and a first `fab deploy`
  served    the same with gunicorn running the live release; reload + healthcheck configured
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import _forkserver as tools
from tests._util import EXAMPLE, IGNORED, clean_env, ctrl_c_reaches_it, sha256_file
from tests.sshd import SSHServer, free_port

FABFILE = "from deploytasks.remote import ns\n"
GIT_ENV = {"GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.com",
           "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.com"}


def git(cwd, *args) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, env=clean_env(**GIT_ENV), capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=60)
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout.strip()


# --- the repository the server deploys from ------------------------------------------------------

class Repo:
    """A work tree made from a copy of example/, and the bare repo the server clones (`repo.git`)."""

    def __init__(self, base: Path):
        self.work = base / "work"
        self.bare = base / "repo.git"
        shutil.copytree(EXAMPLE, self.work, ignore=IGNORED)
        git(self.work, "init", "-q", "-b", "main")
        git(self.work, "add", "-A")
        git(self.work, "commit", "-q", "-m", "example project")
        git(base, "clone", "-q", "--bare", str(self.work), str(self.bare))
        git(self.work, "remote", "add", "origin", str(self.bare))
        self.initial = self.head()

    def head(self, ref="HEAD") -> str:
        return git(self.work, "rev-parse", ref)

    def commit(self, message, edit, branch="main") -> str:
        """Check out `branch` (new ones start at main), let edit(work_tree) change files, commit, push; back to main."""
        if branch != "main":
            git(self.work, "checkout", "-q", "-B", branch, "main")
        try:
            edit(self.work)
            git(self.work, "add", "-A")
            git(self.work, "commit", "-q", "-m", message)
            sha = self.head()
            git(self.work, "push", "-q", "--force", "origin", f"HEAD:refs/heads/{branch}")
        finally:
            git(self.work, "checkout", "-q", "main")
        return sha

    def code_change(self, branch="main") -> str:
        token = secrets.token_hex(4)

        def edit(work):
            with open(work / "accounts" / "views.py", "a") as handle:
                handle.write(f"\n# code change {token}\n")
        return self.commit(f"code change {token}", edit, branch)

    def requirements_change(self, line, branch="main") -> str:
        def edit(work):
            with open(work / "requirements.txt", "a") as handle:
                handle.write(line + "\n")
        return self.commit(f"requirements: {line}", edit, branch)

    def makemigrations(self, name):
        done = subprocess.run(
            [sys.executable, "manage.py", "makemigrations", "accounts", "--name", name, "--no-input"],
            cwd=self.work, env=clean_env(DATABASE_URL="sqlite://:memory:"), capture_output=True, text=True,
            stdin=subprocess.DEVNULL, timeout=120,
        )
        assert done.returncode == 0, done.stderr + done.stdout
        return self.latest_migration()

    def latest_migration(self) -> str:
        names = sorted(p.stem for p in (self.work / "accounts" / "migrations").glob("0*.py"))
        return names[-1]

    def add_model(self, model, branch="main") -> str:
        """A commit adding a model and the migration that creates its table (accounts_<model lowercased>)."""
        def edit(work):
            with open(work / "accounts" / "models.py", "a") as handle:
                handle.write(f"\n\nclass {model}(models.Model):\n    name = models.CharField(max_length=50)\n")
            self.makemigrations(f"add_{model.lower()}")
        return self.commit(f"add {model}", edit, branch)

    def write_migration(self, name, code, operations) -> None:
        """(In a commit's edit) accounts/migrations/<next number>_<name>.py after the latest migration: `code` (its
        functions) above a Migration class whose operations are `operations` (Python source)."""
        previous = self.latest_migration()
        number = int(previous[:4]) + 1
        (self.work / "accounts" / "migrations" / f"{number:04d}_{name}.py").write_text(
            "from django.db import migrations\n\n\n" + code + "\n\n"
            "class Migration(migrations.Migration):\n"
            f"    dependencies = [('accounts', {previous!r})]\n"
            f"    operations = {operations}\n"
        )

    def write_failing_model(self, model) -> None:
        """(In a commit's edit) a model (its migration applies fine), then a migration whose RunPython raises."""
        with open(self.work / "accounts" / "models.py", "a") as handle:
            handle.write(f"\n\nclass {model}(models.Model):\n    name = models.CharField(max_length=50)\n")
        self.makemigrations(f"add_{model.lower()}")
        self.write_migration("boom", "def boom(apps, schema_editor):\n"
                                     "    raise RuntimeError('deliberate failure in a test migration')\n",
                             "[migrations.RunPython(boom, migrations.RunPython.noop)]")

    def failing_migration(self, model, branch) -> str:
        """A commit adding a model (its migration applies fine) and then a migration whose RunPython raises."""
        return self.commit(f"add {model} and a migration that raises", lambda work: self.write_failing_model(model),
                           branch)


# --- running the real fab ----------------------------------------------------------------------

@dataclass
class FabRun:
    args: tuple
    returncode: int
    stdout: str
    stderr: str

    def __str__(self):
        return f"fab {' '.join(self.args)} -> {self.returncode}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"

    def ok(self) -> "FabRun":
        assert self.returncode == 0, str(self)
        assert "Traceback" not in self.stdout + self.stderr, str(self)
        return self

    def error(self, *fragments) -> str:
        """Exit 1, exactly one stderr line starting `deploytasks: error:`, no traceback; returns that line."""
        assert self.returncode == 1, str(self)
        assert "Traceback" not in self.stdout + self.stderr, str(self)
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, str(self)
        assert lines[0].startswith("deploytasks: error: "), str(self)
        for fragment in fragments:
            assert fragment in lines[0], (fragment, lines[0])
        return lines[0]

    def json(self):
        """The JSON document a --json task printed (after any status lines)."""
        lines = self.stdout.splitlines()
        start = next(i for i, line in enumerate(lines) if line.startswith(("{", "[")))
        return json.loads("\n".join(lines[start:]))


class Server:
    """One "server" (an sshd on a loopback address; the deploy dir is on this machine) and the local
    project dir a user runs `fab` in: fabfile.py, fabric.yaml and deploy/<alias>/.env for `fab setup` to upload."""

    def __init__(self, base: Path, sshd: SSHServer, repo: Repo):
        self.base = base
        self.sshd = sshd
        self.repo = repo
        self.path = base / "srv"
        self.project = base / "project"
        self.home = base / "home"  # HOME for fab: no ~/.ssh of the machine's user is involved
        self.project.mkdir()
        self.home.mkdir()
        self.secret_key = "s3cret-" + secrets.token_hex(16)
        self.database_url = f"sqlite:///{self.path}/shared/db.sqlite3"
        (self.project / "fabfile.py").write_text(FABFILE)
        # production's settings, where `fab setup` takes them from (never the project's own .env)
        self.production_env = self.project / "deploy" / sshd.alias / ".env"
        self.production_env.parent.mkdir(parents=True)
        self.production_env.write_text(
            f"DATABASE_URL={self.database_url}\nSECRET_KEY={self.secret_key}\nDEBUG=false\n")
        # prune_uv_cache off: the servers of a run share this machine's uv cache (give_uv), whose pruning would make
        # later tests fetch packages again; test_installer.py's server, with a cache of its own, prunes
        self.settings = {"path": str(self.path), "repo": str(repo.bare), "healthcheck": "", "reload": "",
                         "prune_uv_cache": False}
        self.configure()
        self.gunicorn = None

    # configuration and running
    def configure(self, **changes):
        self.settings.update(changes)
        lines = ["deploytasks:"] + [f"  {key}: {json.dumps(value)}" for key, value in self.settings.items()]
        (self.project / "fabric.yaml").write_text("\n".join(lines) + "\n")

    def fab_args(self, *args, ssh_config=None):
        """What follows `fab` for this server: its ssh_config (or `ssh_config`), its alias, then `args`."""
        return ["-S", str(ssh_config or self.sshd.ssh_config), "-H", self.sshd.alias, *args]

    def command(self, *args, ssh_config=None):
        return [sys.executable, "-m", "fabric", *self.fab_args(*args, ssh_config=ssh_config)]

    def env(self, extra=None):
        return clean_env(HOME=str(self.home), **(extra or {}))

    def fab(self, *args, env=None, ssh_config=None, cwd=None, timeout=300, fresh=False) -> FabRun:
        done = tools.run("fab", self.fab_args(*args, ssh_config=ssh_config), cwd=cwd or self.project,
                         env=self.env(env), timeout=timeout, fresh=fresh)
        return FabRun(args, done.returncode, done.stdout, done.stderr)

    def upload_checkout(self) -> Path:
        """A developer's clone of the repo, set up for `strategy: upload` (the server gets a `git archive`)."""
        checkout = self.base / "upload-checkout"
        if not checkout.exists():
            git(self.base, "clone", "-q", str(self.repo.bare), str(checkout))
            (checkout / "fabfile.py").write_text(FABFILE)
            settings = dict(self.settings, strategy="upload", repo="")
            lines = ["deploytasks:"] + [f"  {key}: {json.dumps(value)}" for key, value in settings.items()]
            (checkout / "fabric.yaml").write_text("\n".join(lines) + "\n")
        return checkout

    def fab_background(self, *args, env=None) -> subprocess.Popen:
        return subprocess.Popen(self.command(*args), cwd=self.project, env=self.env(env), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=ctrl_c_reaches_it)

    def ssh_config_variant(self, name, **options) -> Path:
        """A copy of the sshd's ssh_config with some options replaced, e.g. User="nosuchuser"."""
        lines = []
        for line in self.sshd.ssh_config.read_text().splitlines():
            key = line.strip().split(" ", 1)[0]
            if key in options:
                line = f"    {key} {options[key]}"
            lines.append(line)
        path = self.base / f"ssh_config.{name}"
        path.write_text("\n".join(lines) + "\n")
        os.chmod(path, 0o600)
        return path

    # what is on the server
    @property
    def db(self) -> Path:
        return self.path / "shared" / "db.sqlite3"

    @property
    def lock(self) -> Path:
        return self.path / ".deploy-lock"

    def current(self):
        """The `current` symlink's target as stored (releases/<name>), or None."""
        try:
            return os.readlink(self.path / "current")
        except OSError:
            return None

    def current_name(self):
        target = self.current()
        return target and os.path.basename(target)

    def releases(self) -> list:
        directory = self.path / "releases"
        return sorted(os.listdir(directory)) if directory.is_dir() else []

    def revision(self, release=None) -> str:
        return (self.path / "releases" / (release or self.current_name()) / "REVISION").read_text().strip()

    def venvs(self) -> list:
        directory = self.path / "shared" / "venvs"
        return sorted(os.listdir(directory)) if directory.is_dir() else []

    def query(self, sql, params=()):
        connection = sqlite3.connect(self.db)
        try:
            rows = connection.execute(sql, params).fetchall()
            connection.commit()
            return rows
        finally:
            connection.close()

    def tables(self) -> set:
        return {name for (name,) in self.query("SELECT name FROM sqlite_master WHERE type='table'")}

    def applied_migrations(self) -> list:
        return self.query("SELECT app, name FROM django_migrations ORDER BY id")

    def fingerprint(self, exclude=()) -> str:
        """A checksum of the database's logical content (a dump, WAL included), without the rows of `exclude`."""
        if not self.db.exists():
            return "absent"
        connection = sqlite3.connect(self.db)
        try:
            digest = hashlib.sha256()
            skip = tuple(f'INSERT INTO "{table}"' for table in exclude)
            for line in connection.iterdump():
                if skip and line.startswith(skip):
                    continue
                digest.update(line.encode())
            return digest.hexdigest()
        finally:
            connection.close()

    def log(self) -> list:
        path = self.path / "releases.log"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def state(self) -> dict:
        """What a refused or failed command must leave exactly as it was."""
        return {"current": self.current(), "releases": self.releases(), "db": self.fingerprint(),
                "locked": self.lock.exists(), "venvs": self.venvs()}

    def backups(self) -> list:
        directory = self.path / "backups"
        return sorted(str(p.relative_to(directory)) for p in directory.rglob("*")) if directory.is_dir() else []


def no_control_socket(binary: str) -> list:
    """gunicorn >= 25.1 opens a control socket shared by every master of the user ($XDG_RUNTIME_DIR/gunicorn.ctl or
    ~/.gunicorn/gunicorn.ctl), so masters of different tests would take it from each other: the tests need none."""
    usage = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=30, env=clean_env()).stdout
    return ["--no-control-socket"] if "--no-control-socket" in usage else []


class Gunicorn:
    """gunicorn serving `current`, started the documented way: in {path}/current (where it reads the example's
    gunicorn.conf.py), --chdir {path}/current --pid shared/gunicorn.pid."""

    def __init__(self, server: Server):
        self.server = server
        self.port = free_port("127.0.0.1")
        self.pidfile = server.path / "shared" / "gunicorn.pid"
        self.url = f"http://127.0.0.1:{self.port}/health/"
        self.reload = f"kill -HUP $(cat {self.pidfile})"
        self.pid = None

    def start(self):
        path = self.server.path
        env = clean_env()
        for line in (path / "shared" / ".env").read_text().splitlines():
            if "=" in line and not line.startswith("#"):
                key, value = line.split("=", 1)
                env[key.strip()] = value.strip()
        log = self.server.base / "gunicorn.log"
        binary = str(path / "current" / ".venv" / "bin" / "gunicorn")
        subprocess.run(
            [binary, "--chdir", str(path / "current"), *no_control_socket(binary),
             "--pid", str(self.pidfile), "--bind", f"127.0.0.1:{self.port}", "--daemon",
             "--error-logfile", str(log), "mysite.wsgi"],
            env=dict(env, PWD=str(path / "current")), cwd=path / "current", check=True, stdin=subprocess.DEVNULL,
            capture_output=True, timeout=30,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                self.pid = int(self.pidfile.read_text().strip())
                self.health()
                return self
            except (OSError, ValueError):
                time.sleep(0.1)
        raise RuntimeError(f"gunicorn did not come up on {self.url}:\n" + (log.read_text() if log.exists() else ""))

    def health(self) -> dict:
        with urllib.request.urlopen(self.url, timeout=5) as response:
            return json.loads(response.read())

    def stop(self):
        """Stop the master we started (by the PID it wrote at start-up); it takes its workers with it."""
        if not self.pid:
            return
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and os.path.exists(f"/proc/{self.pid}"):
            try:
                with open(f"/proc/{self.pid}/stat") as handle:
                    if handle.read().rsplit(")", 1)[1].split()[0] == "Z":
                        break
            except OSError:
                break
            time.sleep(0.05)
        else:
            if os.path.exists(f"/proc/{self.pid}"):
                os.kill(self.pid, signal.SIGKILL)


# --- the README's path for servers ---------------------------------------------------------------

EXAMPLE_FABFILE = Path(__file__).resolve().parents[2] / "fabfile.example.py"


def readme_project(project: Path, path: Path, repo: Path, port: int, secret: str) -> Path:
    """A project dir as the README's step 3 leaves it: fabfile.example.py with its values set (deploy path, repo,
    the app server's port), production's settings in deploy/production/.env."""
    (project / "deploy" / "production").mkdir(parents=True)
    fabfile = EXAMPLE_FABFILE.read_text()
    for shipped, ours in (("/srv/mysite", str(path)), ("git@github.com:example/mysite.git", str(repo)),
                          ("127.0.0.1:8000", f"127.0.0.1:{port}")):
        assert shipped in fabfile, shipped
        fabfile = fabfile.replace(shipped, ours)
    (project / "fabfile.py").write_text(fabfile)
    (project / "deploy" / "production" / ".env").write_text(
        f"DATABASE_URL=sqlite:///{path}/shared/db.sqlite3\nSECRET_KEY={secret}\nDEBUG=false\n")
    return project


def health_at(url) -> dict:
    """The JSON a /health/ URL answers."""
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


# --- fixtures ----------------------------------------------------------------------------------

def give_uv(server: Server) -> None:
    """The state `fab setup` leaves where it installed uv ({path}/.deploytasks/uv), with this machine's uv and its
    uv cache shared by every server of the session (a module sets SERVER_UV = "own" to let `fab setup` install it)."""
    import uv

    tools = server.path / ".deploytasks"
    tools.mkdir(parents=True, exist_ok=True)
    if not os.path.lexists(tools / "uv"):  # an earlier `fab setup` of the module may have installed one
        (tools / "uv").symlink_to(uv.find_uv_bin())
    cache = Path(os.environ.get("UV_CACHE_DIR") or Path.home() / ".cache" / "uv")
    cache.mkdir(parents=True, exist_ok=True)
    if not os.path.lexists(tools / "uv-cache"):
        (tools / "uv-cache").symlink_to(cache)


@pytest.fixture(scope="module")
def server(request, tmp_path_factory):
    address = getattr(request.module, "ADDRESS", "127.0.0.1")
    base = tmp_path_factory.mktemp(f"remote-{request.module.__name__.rsplit('.', 1)[-1]}")
    with SSHServer(base / "sshd", host=address) as sshd:
        yield Server(base, sshd, Repo(base))


@pytest.fixture(scope="module")
def deployed(request, server):
    if getattr(request.module, "SERVER_UV", "shared") == "shared":
        give_uv(server)
    server.fab("setup").ok()
    server.fab("deploy").ok()
    assert server.revision() == server.repo.initial
    return server


@contextmanager
def serving(server):
    """The deployed server with gunicorn serving `current`, its reload and health check configured."""
    gunicorn = Gunicorn(server).start()
    server.gunicorn = gunicorn
    # generous retries: a worker booting Django on a busy machine must not fail a deploy (the failing case sets its own)
    server.configure(reload=gunicorn.reload, healthcheck=gunicorn.url, healthcheck_retries=60, healthcheck_delay=0.25)
    try:
        yield server
    finally:
        gunicorn.stop()
        for key in ("healthcheck_retries", "healthcheck_delay"):
            server.settings.pop(key)
        server.configure(reload="", healthcheck="")
        server.gunicorn = None


@pytest.fixture(scope="module")
def served(deployed):
    with serving(deployed) as server:
        yield server


@pytest.fixture
def closed_port():
    """A port on the loopback nobody listens on."""
    return free_port("127.0.0.1")


def wait_for(predicate, timeout=60, interval=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


@pytest.fixture
def waiter():
    return wait_for


@pytest.fixture
def sha256():
    return sha256_file


@pytest.fixture
def pwned_marker():
    """A /tmp path that must never come into existence (removed afterwards if a test fails that way)."""
    path = Path(f"/tmp/pwned-{secrets.token_hex(6)}")
    yield path
    if path.exists():
        path.unlink()


@contextmanager
def watching_argv():
    """Collect the command line of every process on this machine (client, sshd, server side) while the block runs."""
    seen, done = set(), threading.Event()

    def watch():
        while not done.is_set():
            for pid in os.listdir("/proc"):
                if pid.isdigit():
                    try:
                        with open(f"/proc/{pid}/cmdline", "rb") as handle:
                            seen.add(handle.read().replace(b"\0", b" ").decode(errors="replace"))
                    except OSError:
                        pass

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield seen
    finally:
        done.set()
        watcher.join()


@pytest.fixture
def argv_watch():
    return watching_argv
