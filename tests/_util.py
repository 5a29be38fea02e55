"""Helpers the tests share (imported plainly: `from tests._util import Site, …`); fixtures stay in conftest.py."""
from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import os
import platform
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

from tests import _forkserver as tools

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "example"
IGNORED = shutil.ignore_patterns(".venv", "db.sqlite3*", "staticfiles", "__pycache__", "backups", "media", ".env")
TASKS_PY = "from deploytasks.local import ns\n"


def example_django_version() -> str:
    """The Django version example/requirements.txt pins: what the example's venvs hold, whichever Django the test
    runner itself has."""
    pin = re.search(r"^Django==(\S+)$", (EXAMPLE / "requirements.txt").read_text(), re.MULTILINE | re.IGNORECASE)
    return pin.group(1)


def deploytasks_command() -> list:
    """The `deploytasks` console script of this interpreter's environment (its entry point when not reinstalled yet)."""
    script = Path(sys.executable).parent / "deploytasks"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from deploytasks.init import main; sys.exit(main())"]


def copy_example(dest: Path) -> Path:
    shutil.copytree(EXAMPLE, dest, ignore=IGNORED)
    return dest


def write_config(root: Path, **settings) -> None:
    lines = ["deploytasks:"]
    for key, value in settings.items():
        lines.append(f"  {key}: {value!r}" if not isinstance(value, bool) else f"  {key}: {str(value).lower()}")
    (root / "invoke.yaml").write_text("\n".join(lines) + "\n")


def clean_env(**extra) -> dict:
    """This process's environment without anything that would configure inv, fab, Django or git behind our back."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DJANGO_", "INVOKE_", "FABRIC_", "DATABASE_URL", "GIT_", "SECRET_KEY"))}
    env.update(extra)
    return env


def installed_venv(base: Path, extra_requirements: str = "") -> Path:
    """A real venv at base/venv with the example's requirements (and `extra_requirements`, lines), installed by the
    real `inv venv install`, with bytecode (compile_bytecode)."""
    venv = base / "venv"
    site = Site(copy_example(base / "site"), venv)
    if extra_requirements:
        (site.root / "requirements-extra.txt").write_text("-r requirements.txt\n" + extra_requirements)
        site.configure(requirements="requirements-extra.txt")
    for task in ("venv", "install"):
        result = site.inv(task)
        assert result.returncode == 0, result.stderr + result.stdout
    compile_bytecode(venv)
    return venv


def compile_bytecode(venv: Path) -> None:
    """Bytecode for a venv uv built (uv writes none): this machine sets PYTHONDONTWRITEBYTECODE, under which every
    Django start-up in it would compile Django again (about 2 s a start here), as no user's machine does."""
    subprocess.run([str(venv / "bin" / "python"), "-m", "compileall", "-q", "-j", "0", str(venv / "lib")],
                   check=True, stdout=subprocess.DEVNULL)


def sha256_file(path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


@contextlib.contextmanager
def silent_server():
    """A real TCP server on the loopback that accepts connections and never answers (a hung index or
    download); yields its base URL."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    held, stop = [], threading.Event()

    def accept():
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                pass
    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for connection in held:
            connection.close()
        listener.close()


def command_lines():
    """(pid, argv as bytes) of every process on this machine, one scan of /proc."""
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                yield int(entry), handle.read().split(b"\0")
        except OSError:  # ended meanwhile
            continue


def uv_installs_into(path) -> list:
    """PIDs of running `uv pip install` processes whose command line names something under `path`."""
    return [pid for pid, argv in command_lines()
            if argv[1:3] == [b"pip", b"install"] and any(str(path).encode() in arg for arg in argv)]


class Site:
    """A copy of the example project with its own tasks.py/invoke.yaml, driven by the real `inv`."""

    def __init__(self, root: Path, venv: Path):
        self.root = root
        self.venv = venv
        (root / "tasks.py").write_text(TASKS_PY)
        self.configure()

    def configure(self, **settings):
        write_config(self.root, venv=str(self.venv), **settings)

    @property
    def db(self) -> Path:
        return self.root / "db.sqlite3"

    @property
    def python(self) -> str:
        return str(self.venv / "bin" / "python")

    def inv(self, *args, env=None, input=None, timeout=300, fresh=False) -> subprocess.CompletedProcess:
        return tools.run("inv", args, cwd=self.root, env=clean_env(**(env or {})), input=input, timeout=timeout,
                         fresh=fresh)

    def manage(self, *args, env=None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [self.python, "manage.py", *args], cwd=self.root, env=clean_env(**(env or {})),
            capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
        )

    def query(self, sql, params=()):
        connection = sqlite3.connect(self.db)
        try:
            return connection.execute(sql, params).fetchall()
        finally:
            connection.close()

    def fingerprint(self) -> str:
        """A checksum of the database's logical content (WAL included)."""
        if not self.db.exists():
            return "absent"
        return logical_digest(sqlite3.connect(self.db))


def assert_user_error(result, *fragments):
    """Exit 1, one line on stderr naming the problem, no traceback."""
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("deploytasks: error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


# --- helpers shared by the test_local_* modules ------------------------------------------------

def backup_json(site, *args) -> dict:
    """Run the real `inv backup --json ARGS` and return the manifest it printed."""
    result = site.inv("backup", "--json", *args)
    assert result.returncode == 0, result.stderr + result.stdout
    return json.loads(result.stdout)


def backup_names(site) -> list:
    """The backup dumps (not manifests) in the site's backups directory, sorted by name."""
    directory = site.root / "backups"
    if not directory.is_dir():
        return []
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".sqlite3"))


def sqlite_fingerprint(path) -> str:
    """Checksum of an SQLite file's logical content (what Site.fingerprint computes for the live DB)."""
    return logical_digest(sqlite3.connect(f"file:{path}?mode=ro", uri=True))


def logical_digest(connection) -> str:
    """sha256 of the SQL dump of an open SQLite connection (closed afterwards)."""
    try:
        digest = hashlib.sha256()
        for line in connection.iterdump():
            digest.update(line.encode())
        return digest.hexdigest()
    finally:
        connection.close()


def sqlite_rows(path, sql, params=()):
    """Rows of a read-only query against any SQLite file (a backup, say)."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return connection.execute(sql, params).fetchall()
    finally:
        connection.close()


def write_sql(site, sql, params=()):
    """Run one data-changing statement against the site's live database and commit it."""
    connection = sqlite3.connect(site.db, timeout=30)
    try:
        with connection:
            connection.execute(sql, params)
    finally:
        connection.close()


class HealthEndpoint:
    """An app's health URL on the loopback, answering 200 with {"revision": revision_for(n)} to its n-th request
    (n from 1), or revision_for(n)'s status when that is a number; `requests` counts them. A context manager; `stop()` ends it early (the site goes down)."""

    def __init__(self, revision_for):
        import http.server

        endpoint = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                with endpoint._count:
                    endpoint.requests += 1
                    number = endpoint.requests
                answer = revision_for(number)
                if isinstance(answer, int):  # an HTTP status to answer with instead
                    self.send_response(answer)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = json.dumps({"revision": answer}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.requests, self._count = 0, threading.Lock()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/health/" % self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._stopped = False

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        if not self._stopped:
            self._stopped = True
            self.server.shutdown()
            self.server.server_close()


class Background:
    """Runs self._run on a thread for the length of a `with` block; _run loops until self._stop is set."""

    def __init__(self):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        raise NotImplementedError

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


class CommitWriter(Background):
    """Commits one row per transaction (~100 tx/s) with insert(token) in a thread, as a web app's requests would
    (each opening its own connection); remembers every token whose COMMIT returned, and when."""

    def __init__(self, insert, errors=(Exception,)):
        super().__init__()
        self.insert, self.errors = insert, errors
        self.committed, self.times, self.failed = [], [], 0

    def _run(self):
        import time

        n = 0
        while not self._stop.is_set():
            n += 1
            try:
                self.insert(f"w{n}")
                self.committed.append(f"w{n}")
                self.times.append(time.monotonic())
            except self.errors:
                self.failed += 1
            self._stop.wait(0.01)

    def stall(self, start, end):
        """The longest time without a commit between start and end (monotonic seconds)."""
        times = [start] + [t for t in self.times if start < t < end] + [end]
        return max(b - a for a, b in zip(times, times[1:]))


def sqlite_insert(db, timeout=5):
    """An insert(token) for CommitWriter: one row into fault_writes, a connection of its own."""
    def insert(token):
        connection = sqlite3.connect(db, timeout=timeout)
        try:
            connection.execute("INSERT INTO fault_writes (token) VALUES (?)", (token,))
            connection.commit()
        finally:
            connection.close()
    return insert


def sqlite_tokens(path) -> set:
    """The fault_writes tokens of an SQLite file (none when it has no such table)."""
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return {token for (token,) in connection.execute("SELECT token FROM fault_writes")}
        finally:
            connection.close()
    except sqlite3.Error:
        return set()


def pg_restore_run(path, *args) -> subprocess.CompletedProcess:
    """`pg_restore ARGS` reading a backup: a zstd-compressed one (as deploytasks makes) through `zstd -dc`,
    a plain custom-format .dump directly; text output, not checked."""
    with open(path, "rb") as handle:
        zstd = handle.read(4) == b"\x28\xb5\x2f\xfd"
    if not zstd:
        return subprocess.run(["pg_restore", *args, str(path)], capture_output=True, text=True)
    unpack = subprocess.Popen(["zstd", "-dc", "--", str(path)], stdout=subprocess.PIPE)
    try:
        return subprocess.run(["pg_restore", *args], stdin=unpack.stdout, capture_output=True, text=True)
    finally:
        unpack.stdout.close()
        unpack.wait()


def dumped_tokens(path) -> set:
    """The fault_writes tokens in a PostgreSQL custom-format dump (its COPY data, read by pg_restore)."""
    done = pg_restore_run(path, "--data-only", "--table=fault_writes", "--file=-")
    done.check_returncode()
    lines = done.stdout.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("COPY ")]
    if not starts:
        return set()
    body = lines[starts[0] + 1:]
    return {line.split("\t")[1] for line in body[:body.index("\\.")]}

# --- what a database client tool was started with ----------------------------------------------

ENV_WRAPPER = """#!/bin/sh
printf '%s %s\\n' "$(basename "$0")" "$(base64 -w0 < /proc/$$/environ)" >> {log}
exec {real} "$@"
"""
TOOL_ENV_BASICS = {"PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "TZ",
                   "TMPDIR"}


def env_recording_tools(directory: Path, log: Path, tools: dict) -> dict:
    """Wrappers named like the tools ({name: real path}) that append each run's environment (as the tool gets
    it: /proc/<pid>/environ, unchanged by exec) to `log`; returns the env putting them first on PATH."""
    directory.mkdir()
    for name, real in tools.items():
        (directory / name).write_text(ENV_WRAPPER.format(log=log, real=real))
        (directory / name).chmod(0o755)
    return {"PATH": f"{directory}:{os.environ['PATH']}"}


def recorded_tool_envs(log: Path) -> list:
    """[(tool name, {variable: value})] of each recorded run."""
    import base64

    runs = []
    for line in log.read_text().splitlines():
        tool, blob = line.split(" ", 1)
        items = [item.decode("utf-8", "replace") for item in base64.b64decode(blob).split(b"\0") if item]
        runs.append((tool, dict(item.split("=", 1) for item in items)))
    return runs


def ctrl_c_reaches_it():
    """Popen's preexec_fn for a fab a test will Ctrl-C: SIGINT back to its default. A suite started in the
    background of a shell without job control inherits SIGINT ignored, and a Python started so ignores it too."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)



@contextlib.contextmanager
def sessions_without_zstd(sshd, directory: Path):
    """The sshd's sessions get a PATH holding everything /usr/bin has except zstd (links in `directory`), as on
    a server without it; its own configuration back afterwards."""
    bare = directory / "bin-without-zstd"
    bare.mkdir()
    for name in os.listdir("/usr/bin"):
        if not name.startswith(("zstd", "unzstd", "zstdcat", "pzstd")):
            os.symlink(os.path.join("/usr/bin", name), bare / name)
    sshd.set_env(PATH=f"/usr/local/bin:{bare}")
    try:
        yield
    finally:
        sshd.set_env()


CACHESTAT = 451  # the cachestat system call (Linux 6.5+) on x86_64


class _CacheStat(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint64) for name in
                ("nr_cache", "nr_dirty", "nr_writeback", "nr_evicted", "nr_recently_evicted")]


def dirty_pages(path):
    """Pages of `path` in the page cache that are not on disk yet (cachestat), or None where that cannot be asked."""
    if platform.machine() != "x86_64":
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    whole = (ctypes.c_uint64 * 2)(0, 0)
    result = _CacheStat()
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.syscall(CACHESTAT, fd, ctypes.byref(whole), ctypes.byref(result), 0) != 0:
            return None
    finally:
        os.close(fd)
    return result.nr_dirty + result.nr_writeback


def on_disk(path) -> bool:
    """Whether every byte of `path` has reached the disk (fsynced), as far as this kernel can tell."""
    return dirty_pages(path) in (0, None)
