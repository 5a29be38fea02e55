"""CPU seconds by process name while a command runs: every process on the machine polled from /proc.

    with CpuProfile() as profile:
        subprocess.run(...)
    profile.by_name()   # {"pg_dump": 0.41, "zstd": 1.02, "python3.11": 0.55, ...}

A process seen for the first time counts from zero if it started after the profile did, else from what it
had used by then (a PostgreSQL server's long-lived processes, sshd's listener). Processes that live less
than one poll (5 ms) are missed, and each one's last few milliseconds before it ends: a lower bound.
"""
from __future__ import annotations

import os
import threading
import time

TICK = os.sysconf("SC_CLK_TCK")


def _read(pid: str) -> tuple[str, int, int] | None:
    """(comm, utime+stime in ticks, start time in ticks since boot) of a process, None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            raw = handle.read()
    except OSError:
        return None
    head, _, rest = raw.rpartition(b")")
    comm = head.split(b"(", 1)[1].decode(errors="replace")
    fields = rest.split()  # fields[0] is the state (field 3 of stat)
    return comm, int(fields[11]) + int(fields[12]), int(fields[19])


def _label(pid: str, comm: str) -> str:
    """A Python process is told apart by what it runs (`python -m fabric`, `python -c`, `python script.py`)."""
    if not comm.startswith("python"):
        return comm
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            argv = handle.read().decode(errors="replace").split("\0")
    except OSError:
        return comm
    if "-m" in argv[1:-1]:
        return f"{comm} -m {argv[argv.index('-m') + 1]}"
    if "-c" in argv[1:]:
        return f"{comm} -c"
    return f"{comm} {os.path.basename(argv[1])}" if len(argv) > 1 and argv[1] else comm


def _boot_ticks() -> float:
    with open("/proc/uptime") as handle:
        return float(handle.read().split()[0]) * TICK


class CpuProfile:
    def __init__(self, interval: float = 0.005):
        self.interval = interval
        self.first: dict = {}  # (pid, start) -> ticks when first seen (0 if it started after us)
        self.last: dict = {}  # (pid, start) -> (label, ticks)
        self.labels: dict = {}  # (pid, start) -> (comm, comm or what a Python process runs)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def poll(self):
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or int(pid) == self.own_pid:
                continue
            seen = _read(pid)
            if seen is None:
                continue
            comm, ticks, start = seen
            key = (pid, start)
            if key not in self.first:
                self.first[key] = 0 if start >= self.started else ticks
            if self.labels.get(key, (None,))[0] != comm:  # new, or it exec'd another program
                self.labels[key] = (comm, _label(pid, comm))
            self.last[key] = (self.labels[key][1], ticks)

    def run(self):
        while not self.stop.is_set():
            self.poll()
            time.sleep(self.interval)

    def __enter__(self):
        self.own_pid = os.getpid()
        self.started = _boot_ticks() - 1  # a process started in this tick counts whole
        self.poll()
        self.thread.start()
        return self

    def __exit__(self, *_):
        self.stop.set()
        self.thread.join(5)
        self.poll()

    def by_name(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for key, (comm, ticks) in self.last.items():
            used = (ticks - self.first[key]) / TICK
            if used > 0:
                totals[comm] = totals.get(comm, 0.0) + used
        return dict(sorted(totals.items(), key=lambda item: -item[1]))


def merged(profiles: list[dict[str, float]]) -> dict[str, float]:
    """Median CPU seconds per process name over several profiles (0 where a profile lacks the name)."""
    names = {name for profile in profiles for name in profile}
    result = {}
    for name in names:
        values = sorted(profile.get(name, 0.0) for profile in profiles)
        result[name] = values[len(values) // 2]
    return dict(sorted(result.items(), key=lambda item: -item[1]))


class NoProfile:
    """What CpuProfile offers, measuring nothing (polling /proc takes CPU the benchmark's contenders want)."""

    def __enter__(self):
        return self

    def __exit__(self, *_):
        pass

    def by_name(self) -> dict[str, float]:
        return {}
