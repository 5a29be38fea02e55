"""Reusable pieces for the deploy benchmarks.

Everything runs on this machine: a real OpenSSH ``sshd`` (``tests/sshd.py``) on
a loopback address plays the server, a bare git repository built from
``example/`` plays the project's origin, and each contender deploys the example
project over SSH into its own directory and serves it with gunicorn on another
loopback port.

A benchmark script builds a :class:`BenchContext` (sshd + repo + scratch dir),
instantiates :class:`Contender` subclasses and hands them to
:func:`run_contender`, which measures the four scenarios (first deploy, no-op
redeploy, code-change redeploy, requirements-change redeploy) the same way for
every contender. See ``bench/baselines.py`` for two contenders and
``bench/README.md`` for how to add one.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Callable, Iterable, Sequence

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
EXAMPLE = ROOT / "example"
TESTS = ROOT / "tests"
RESULTS_FILE = ROOT / "docs" / "benchmarks.md"

if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

from sshd import SSHServer, free_port  # noqa: E402  (tests/sshd.py)

EXAMPLE_IGNORE = shutil.ignore_patterns(
    ".venv", "db.sqlite3*", "staticfiles", "__pycache__", "backups", "media", ".env"
)
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.invalid",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.invalid",
}
BRANCH = "main"
CODE_MARKER_RE = re.compile(r"<!-- bench-change: [^>]* -->\n")
REQ_PIN_RE = re.compile(r"^sqlparse==.*\n", re.M)


# --------------------------------------------------------------------- git
def git(*args: str, cwd: Path | None = None, check: bool = True) -> str:
    env = {**os.environ, **GIT_IDENTITY}
    result = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True,
        stdin=subprocess.DEVNULL,
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result.stdout.strip()


def make_example_repo(tmpdir: Path) -> Path:
    """A bare repository (``tmpdir/example.git``) holding one commit of example/ on ``main``."""
    tmpdir = Path(tmpdir)
    src = tmpdir / "example-src"
    bare = tmpdir / "example.git"
    if not (EXAMPLE / "requirements.txt").is_file():
        raise RuntimeError(f"{EXAMPLE}/requirements.txt is missing: is example/ finished?")
    shutil.copytree(EXAMPLE, src, ignore=EXAMPLE_IGNORE)
    git("init", "-q", "-b", BRANCH, str(src))
    git("add", "-A", cwd=src)
    git("commit", "-q", "-m", "Example project", cwd=src)
    git("clone", "-q", "--bare", str(src), str(bare))
    shutil.rmtree(src)
    return bare


def head_sha(repo: Path, branch: str = BRANCH) -> str:
    return git("rev-parse", branch, cwd=repo)


def _commit_change(repo: Path, edit: Callable[[Path], str]) -> str:
    """Clone ``repo``, let ``edit(worktree)`` change files and return a message, commit, push."""
    with tempfile.TemporaryDirectory(prefix="bench-wt-") as tmp:
        wt = Path(tmp) / "wt"
        git("clone", "-q", "--branch", BRANCH, str(repo), str(wt))
        message = edit(wt)
        git("commit", "-q", "-am", message, cwd=wt)
        git("push", "-q", "origin", BRANCH, cwd=wt)
    return head_sha(repo)


def commit_code_change(repo: Path) -> tuple[str, str]:
    """Change template text (base.html), commit and push. Returns ``(sha, marker)``:
    the marker appears on every HTML page once the new code is served."""
    marker = f"<!-- bench-change: {time.time_ns()} -->"

    def edit(wt: Path) -> str:
        base = wt / "templates" / "base.html"
        text = CODE_MARKER_RE.sub("", base.read_text())
        base.write_text(text.replace("</body>", f"{marker}\n</body>", 1))
        return "Change the footer template"

    return _commit_change(repo, edit), marker


def installed_version(dist: str, default: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return default


def commit_requirements_change(repo: Path) -> str:
    """Change requirements.txt's content, commit and push; returns the new sha.

    Pins ``sqlparse`` (a dependency Django already pulls in) at the version
    installed here, so pip resolves it from what it has; every call also bumps
    a trailing comment so that each call really changes the file."""
    pin = f"sqlparse=={installed_version('sqlparse', '0.5.3')}"

    def edit(wt: Path) -> str:
        req = wt / "requirements.txt"
        text = REQ_PIN_RE.sub("", req.read_text())
        if text and not text.endswith("\n"):
            text += "\n"
        req.write_text(f"{text}{pin}  # bench bump {time.time_ns()}\n")
        return "Pin sqlparse"

    return _commit_change(repo, edit)


# ------------------------------------------------------------------- server
def start_server(tmpdir: Path, host: str = "127.0.0.2") -> SSHServer:
    """Start a real sshd on ``host`` with its keys/configs/log in ``tmpdir/sshd-<host>``."""
    return SSHServer(Path(tmpdir) / f"sshd-{host}", host=host).start()


# ------------------------------------------------------------------ setup
class ShapedLink:
    """Traffic to and from `host` on the loopback device limited to `mbit` Mbit/s (tc, an htb class; every
    other loopback address keeps full speed), as a real network link between laptop and server would be.
    A context manager: the loopback device's qdisc is put back as it was (none) on the way out."""

    def __init__(self, host: str, mbit: int):
        self.host, self.mbit = host, mbit

    def _tc(self, *args: str) -> None:
        subprocess.run(["tc", *args], check=True, capture_output=True, text=True)

    def __enter__(self) -> "ShapedLink":
        shown = subprocess.run(["tc", "qdisc", "show", "dev", "lo"], check=True, capture_output=True, text=True)
        if not shown.stdout.startswith("qdisc noqueue"):
            raise RuntimeError(f"the loopback device is already shaped ({shown.stdout.strip()}): not touching it")
        rate, burst = f"{self.mbit}mbit", "1mb"
        self._tc("qdisc", "add", "dev", "lo", "root", "handle", "1:", "htb", "default", "10")
        try:
            self._tc("class", "add", "dev", "lo", "parent", "1:", "classid", "1:10", "htb", "rate", "100gbit")
            self._tc("class", "add", "dev", "lo", "parent", "1:", "classid", "1:30", "htb", "rate", rate, "ceil", rate,
                     "burst", burst, "cburst", burst)
            for direction in ("dst", "src"):
                self._tc("filter", "add", "dev", "lo", "parent", "1:", "protocol", "ip", "prio", "1", "u32",
                         "match", "ip", direction, f"{self.host}/32", "flowid", "1:30")
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        subprocess.run(["tc", "qdisc", "del", "dev", "lo", "root"], capture_output=True)


def byte_compile_checkout() -> None:
    """Bytecode for the checkout's modules, as a pip-installed deploytasks has it: with PYTHONDONTWRITEBYTECODE set
    (it is on this machine), inv and fab would otherwise compile them on every start (about 0.1-0.2 s)."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "deploytasks")], check=True,
                   stdout=subprocess.DEVNULL)


# ------------------------------------------------------------------ timing
def timed(what: Callable[[], object] | Sequence[str] | str, **run_kwargs) -> float:
    """Run a callable, or a command (list, or str for the shell) with check=True; return seconds."""
    start = time.perf_counter()
    if callable(what):
        what()
    else:
        run_kwargs.setdefault("check", True)
        run_kwargs.setdefault("stdin", subprocess.DEVNULL)
        subprocess.run(what, shell=isinstance(what, str), **run_kwargs)
    return time.perf_counter() - start


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def summary(values: Iterable[float]) -> dict:
    values = list(values)
    if not values:
        return {"median": None, "min": None, "max": None, "n": 0}
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def fmt_summary(values: Iterable[float], unit: str = "s", digits: int = 2) -> str:
    """``"4.93 s (4.81-5.20)"``: median (min-max)."""
    s = summary(values)
    if not s["n"]:
        return "-"

    def f(x):
        if digits == 0 and not float(x).is_integer():
            return f"{x:.1f}"  # a median of an even count
        return f"{x:.{digits}f}"

    u = f" {unit}" if unit else ""
    if s["min"] == s["max"]:
        return f"{f(s['median'])}{u}"
    return f"{f(s['median'])}{u} ({f(s['min'])}-{f(s['max'])})"


def wait_blocking(process: subprocess.Popen, timeout: float) -> tuple[int, bool]:
    """(exit status, whether it was killed at `timeout`). A blocking wait sees the exit at once: Popen.wait(timeout)
    (and subprocess.run's timeout) looks every 50 ms at most, which added up to 50 ms to every timed command."""
    killed = []

    def kill():
        killed.append(True)
        process.kill()

    timer = threading.Timer(timeout, kill)
    timer.start()
    try:
        return process.wait(), bool(killed)
    finally:
        timer.cancel()


# ----------------------------------------------------------------- results
def machine_description() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    django = installed_version("Django", "not installed")
    gunicorn = installed_version("gunicorn", "not installed")
    return (
        f"- Machine: {len(os.sched_getaffinity(0))} CPUs (`nproc`), {cpu}, {platform.system()} {platform.release()}\n"
        f"- Python {platform.python_version()}, Django {django}, gunicorn {gunicorn} "
        f"(versions of the benchmarking interpreter; the deployed venvs install example/requirements.txt)\n"
        f"- Date: {_dt.date.today().isoformat()}\n"
    )


def closing_lines(load_at_start: float, seconds: float) -> list:
    """A section's last lines: the load average at its start and end, its total time, the machine."""
    return ["", f"Load average (1 min) at the start {load_at_start:.2f}, at the end {os.getloadavg()[0]:.2f}; total "
                f"{seconds:.0f} s.", "", machine_description().rstrip("\n")]


def publish(section_name: str, text: str, write: bool = True) -> None:
    """Print a benchmark's section and, unless `write` is False (--no-write), put it into docs/benchmarks.md."""
    print(text)
    if write:
        print("written to", write_results(section_name, text))


NOTES_MARK = "<!-- notes: kept when a bench script rewrites this section -->"


def write_results(section_name: str, markdown_text: str, path: Path = RESULTS_FILE) -> Path:
    """Replace the ``## section_name`` section of docs/benchmarks.md (or append it). What follows a NOTES_MARK
    line in the section (earlier sessions' notes on its figures) is kept under the new text."""
    path = Path(path)
    header = (
        "# Deploy benchmarks\n\n"
        "Measured with the scripts in `bench/` (see `bench/README.md`): a real OpenSSH sshd\n"
        "on a loopback address, the example project deployed over SSH, gunicorn serving it.\n\n"
        + machine_description()
    )
    text = path.read_text() if path.exists() else header
    body = markdown_text.strip("\n") + "\n"
    section = f"## {section_name}\n\n{body}"
    pattern = re.compile(rf"^## {re.escape(section_name)}[ \t]*\n.*?(?=^## |\Z)", re.M | re.S)
    found = pattern.search(text)
    if found:
        _, mark, notes = found.group(0).partition(NOTES_MARK)
        if mark:
            section += "\n" + mark + notes.rstrip("\n") + "\n"
        text = pattern.sub(lambda _m: section + "\n", text, count=1).rstrip("\n") + "\n"
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# -------------------------------------------------------------------- http
def get_health(url: str, timeout: float = 5.0) -> tuple[int | None, dict | None]:
    """GET a /health/ URL: ``(status, parsed JSON or None)``; ``(None, None)`` if unreachable."""
    status, body = http_get(url, timeout)
    if status is None:
        return None, None
    try:
        return status, json.loads(body)
    except ValueError:
        return status, None


def http_get(url: str, timeout: float = 5.0) -> tuple[int | None, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")
    except (urllib.error.URLError, OSError):
        return None, ""


def wait_served(
    health_url: str,
    revision: str | None = None,
    page_url: str | None = None,
    marker: str | None = None,
    timeout: float = 30.0,
) -> float:
    """Poll until /health/ answers 200 (with ``revision`` if given) and, if given,
    ``page_url`` contains ``marker``. Returns the seconds waited; raises on timeout."""
    start = time.perf_counter()
    deadline = start + timeout
    last = "nothing yet"
    while True:
        status, data = get_health(health_url)
        ok = status == 200
        if ok and revision is not None:
            ok = bool(data) and data.get("revision") == revision
        if ok and marker is not None:
            page_status, page = http_get(page_url or health_url)
            ok = page_status == 200 and marker in page
            if not ok:
                last = f"page {page_url}: status {page_status}, marker {marker!r} absent"
        else:
            last = f"health {health_url}: status {status}, body {data}"
        if ok:
            return time.perf_counter() - start
        if time.perf_counter() > deadline:
            raise RuntimeError(f"not served within {timeout:.0f} s: {last}")
        time.sleep(0.05)


# --------------------------------------------------------------- processes
def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def stop_pidfile(pidfile: Path, expect: str = "gunicorn", timeout: float = 10.0) -> int | None:
    """SIGTERM the process named in ``pidfile`` (only if its command line contains
    ``expect``), wait for it to go, SIGKILL if needed. Returns the PID or None."""
    pidfile = Path(pidfile)
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    if expect not in _cmdline(pid):
        return None
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return pid
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if expect not in _cmdline(pid):  # gone (or a zombie reaped by init)
                return pid
            time.sleep(0.05)
    return pid


# ------------------------------------------------------------ the contest
@dataclass
class BenchContext:
    """What every contender gets: the sshd, the repo to deploy, a scratch dir."""

    workdir: Path
    server: SSHServer
    repo: Path
    http_host: str = "127.0.0.2"
    log_dir: Path = field(init=False)
    _ports: dict = field(default_factory=dict, init=False)

    def __post_init__(self):
        self.log_dir = Path(self.workdir) / "logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)

    def port_for(self, path: Path) -> int:
        """A gunicorn port reserved for the deploy at ``path`` (stable per path)."""
        key = str(path)
        if key not in self._ports:
            port = free_port(self.http_host)
            while port in self._ports.values():
                port = free_port(self.http_host)
            self._ports[key] = port
        return self._ports[key]

    def bind_for(self, path: Path) -> str:
        return f"{self.http_host}:{self.port_for(path)}"

    def url_for(self, path: Path, page: str = "/health/") -> str:
        return f"http://{self.bind_for(path)}{page}"


class DeployFailed(RuntimeError):
    pass


class Contender:
    """One way of deploying. Subclasses implement ``first_deploy`` and ``redeploy``.

    ``path`` is the deploy directory on the "server" (which is this machine).
    Both methods must block until the deploy tool says it is done and raise on
    failure (``self.run`` does that for commands). ``pidfiles(path)`` names the
    app-server pidfiles the deploy may have created, so the harness can stop them.
    """

    name = "contender"
    #: True if the deployed app reports the git sha in /health/ "revision".
    writes_revision = False

    def __init__(self, ctx: BenchContext):
        self.ctx = ctx
        self._log_seq = 0

    # -- to implement
    def prepare(self) -> None:
        """One-time setup before any measurement (install tools, etc.). Not timed."""

    def first_deploy(self, path: Path) -> None:
        raise NotImplementedError

    def redeploy(self, path: Path) -> None:
        raise NotImplementedError

    def pidfiles(self, path: Path) -> list[Path]:
        return []

    # -- helpers
    def health_url(self, path: Path) -> str:
        return self.ctx.url_for(path, "/health/")

    def page_url(self, path: Path) -> str:
        return self.ctx.url_for(path, "/")

    def stop(self, path: Path) -> list[int]:
        return [pid for pf in self.pidfiles(path) if (pid := stop_pidfile(pf)) is not None]

    def run(self, cmd: Sequence[str], label: str, env: dict | None = None, cwd: Path | None = None,
            timeout: float = 600) -> None:
        """Run a command with its output in logs/<name>-NN-<label>.log; raise DeployFailed with the tail."""
        self._log_seq += 1
        log = self.ctx.log_dir / f"{self.name}-{self._log_seq:02d}-{label}.log"
        with open(log, "wb") as out:
            process = subprocess.Popen(
                list(cmd), cwd=cwd, env={**os.environ, **(env or {})}, stdout=out,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )
            returncode, timed_out = wait_blocking(process, timeout)
        if timed_out:
            raise DeployFailed(f"{self.name} {label}: still running after {timeout:.0f} s, killed (log {log})")
        if returncode != 0:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
            raise DeployFailed(f"{self.name} {label}: exit {returncode} (log {log}):\n{tail}")


SCENARIOS = ("first deploy", "no-op redeploy", "no-op redeploy, forced", "code change", "requirements change")
# what a forced no-op is compared with: the baselines have no way to skip, so their no-op is their forced one
FORCED_NOOP = {"no-op redeploy, forced": "no-op redeploy"}


@dataclass
class Sample:
    seconds: float
    sessions: int
    ready: float  # seconds from "deploy finished" to "new version served"


@dataclass
class ContenderResult:
    name: str
    samples: dict = field(default_factory=lambda: {s: [] for s in SCENARIOS})
    error: str | None = None


def run_contender(contender: Contender, runs: int, verbose: bool = True) -> ContenderResult:
    """Measure ``contender`` on the four scenarios (five, with a forced no-op), ``runs`` times each.

    First deploys go to fresh directories (the app server of all but the last is
    stopped right away); redeploys all target the last one. Before each code /
    requirements redeploy a new commit is pushed (not timed). After every deploy
    the harness waits (untimed, reported as "ready") until /health/ answers 200 —
    with the pushed sha as "revision" if the contender writes REVISION — and, after
    code changes, until the home page shows the new template text.
    """
    ctx = contender.ctx
    result = ContenderResult(contender.name)
    paths: list[Path] = []

    def say(msg):
        if verbose:
            print(f"[{contender.name}] {msg}", flush=True)

    def measure(scenario: str, action: Callable[[], None], path: Path, marker: str | None = None):
        revision = head_sha(ctx.repo) if contender.writes_revision else None
        before = ctx.server.session_count()
        seconds = timed(action)
        sessions = ctx.server.session_count() - before
        ready = wait_served(contender.health_url(path), revision, contender.page_url(path), marker)
        result.samples[scenario].append(Sample(seconds, sessions, ready))
        say(f"{scenario}: {seconds:.2f} s, {sessions} SSH sessions, served after +{ready:.2f} s")

    try:
        contender.prepare()
        for i in range(runs):
            path = ctx.workdir / "deploys" / f"{contender.name}-{i}"
            paths.append(path)
            measure("first deploy", lambda: contender.first_deploy(path), path)
            if i < runs - 1:
                contender.stop(path)
        target = paths[-1]
        for _ in range(runs):
            measure("no-op redeploy", lambda: contender.redeploy(target), target)
        if hasattr(contender, "redeploy_forced"):  # a contender that skips a no-op: the same deploy done anyway
            for _ in range(runs):
                measure("no-op redeploy, forced", lambda: contender.redeploy_forced(target), target)
        for _ in range(runs):
            _sha, marker = commit_code_change(ctx.repo)
            measure("code change", lambda: contender.redeploy(target), target, marker)
        for _ in range(runs):
            commit_requirements_change(ctx.repo)
            measure("requirements change", lambda: contender.redeploy(target), target)
    except Exception as exc:  # report and go on with the next contender
        result.error = f"{type(exc).__name__}: {exc}"
        say(f"FAILED: {result.error}")
    finally:
        for path in paths:
            stopped = contender.stop(path)
            if stopped:
                say(f"stopped gunicorn {stopped} of {path.name}")
    return result


def results_table(results: list[ContenderResult], runs: int) -> str:
    lines = [
        f"Median of {runs} runs, (min-max). \"sessions\" = SSH sessions (exec/sftp channels)"
        " opened on the server per deploy; \"ready\" = extra wait after the deploy command"
        " returned until the new version answered (not included in the time).",
        "",
        "| contender | scenario | wall time | SSH sessions | ready after |",
        "| --- | --- | --- | --- | --- |",
    ]
    for res in results:
        for scenario in SCENARIOS:
            samples = res.samples[scenario]
            if not samples:
                continue
            lines.append(
                f"| {res.name} | {scenario} | {fmt_summary(s.seconds for s in samples)} | "
                f"{fmt_summary((s.sessions for s in samples), unit='', digits=0)} | "
                f"{fmt_summary((s.ready for s in samples))} |"
            )
        if res.error:
            lines.append(f"| {res.name} | FAILED | {res.error.splitlines()[0][:120]} | | |")
    return "\n".join(lines) + "\n"
