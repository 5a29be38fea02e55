"""Several hosts at once: one Fabric Connection per host (verified like a single-host task's), plain threads
running a step on all of them, each host's lines prefixed with its name, and the closing table/JSON."""
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field

from fabric import Connection

from . import tables
from .connection import connect
from .errors import DeployTasksError
from .host_names import host_name
from .output import console
from .settings import load

_printing = threading.Lock()


@dataclass
class Host:
    """One host of the fleet and how far it got."""
    name: str
    c: object
    settings: object = None
    phase: str = "connect"
    result: str = "not started"
    release: str = ""
    error: str = ""
    started: float = field(default_factory=time.monotonic)
    ended: float = 0.0
    data: dict = field(default_factory=dict)
    phases: dict = field(default_factory=dict)  # seconds each phase took on this host (JSON: "phases")
    quiet: bool = False  # --json: the document is the only output

    @property
    def seconds(self) -> float:
        return round((self.ended or time.monotonic()) - self.started, 1)


def say(host, message) -> None:
    if host.quiet:
        return
    with _printing:
        console.print(f"[bold]\\[{host.name}][/] {message}", highlight=False, soft_wrap=True)


def hosts_for(c, names, kind, quiet=False) -> list:
    """A Host per name: the task's own connection for its host, a new Connection (same config) for the others."""
    hosts = []
    own = host_name(c) if isinstance(c, Connection) else None  # no -H: Fabric gave the task a plain Context
    for name in names:
        conn = c if name == own else Connection(name, config=c.config.clone())
        hosts.append(Host(name, conn, quiet=quiet))
    for host in hosts:  # a bad setting for any host stops everything before a connection
        try:
            host.settings = load(host.c, kind)
        except DeployTasksError as exc:
            raise DeployTasksError(f"{host.name}: {exc}") from None
    return hosts


@contextmanager
def no_live_status():
    """console.status draws one live line; threads running per-host steps must not each start one."""
    original = console.status
    console.status = lambda *args, **kwargs: nullcontext()
    try:
        yield
    finally:
        console.status = original


def on_all(hosts, step, phase):
    """Run step(host) on every host at once; a DeployTasksError (or any error) becomes the host's failure.
    Returns the hosts that failed."""
    def one(host):
        host.phase = phase
        began = time.monotonic()
        try:
            step(host)
        except Exception as exc:  # noqa: BLE001 - one host's failure is reported with the fleet, not raised
            host.error = str(exc) if isinstance(exc, DeployTasksError) else f"{type(exc).__name__}: {exc}"
            host.result = "failed"
            say(host, f"[red]✗ {phase}: {host.error}[/]")
        finally:
            timed(host, phase, began)
    if not hosts:
        return []
    with no_live_status(), ThreadPoolExecutor(max_workers=len(hosts)) as pool:
        list(pool.map(one, hosts))
    return [host for host in hosts if host.error]


def timed(host, phase, began) -> None:
    host.phases[phase] = round(host.phases.get(phase, 0) + time.monotonic() - began, 3)


def connect_all(hosts) -> list:
    """Open every connection (host keys verified) before anything changes; returns the hosts that failed."""
    def opened(host):
        connect(host.c, host.settings)
    failed = on_all(hosts, opened, "connect")
    for host in failed:
        host.result = "unreachable"
    return failed


def report(title, hosts, as_json, extra=None) -> None:
    """The closing table (host, phase reached, release, time, result) or the JSON document."""
    for host in hosts:
        host.ended = host.ended or time.monotonic()
    tables.show_fleet_outcome(title, [{"host": h.name, "phase": h.phase, "release": h.release or None,
                                       "seconds": h.seconds, "phases": h.phases, "result": h.result,
                                       "error": h.error or None} for h in hosts], as_json, extra)
