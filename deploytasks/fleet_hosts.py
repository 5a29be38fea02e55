"""Which hosts one `fab -H a,b,c TASK` names, seen from inside the task Fabric calls once per host: the
Executor running the task holds the parsed core arguments (fabric.executor.Executor.expand_calls reads
the same `hosts` value to make one call per host). The first call of a task coordinates all of them; the
later calls of the same invocation find that done and do nothing."""
import sys

import invoke

from .connection import host_name


def running_executor():
    """The Invoke/Fabric Executor that called the current task (None when the task was called otherwise)."""
    frame = sys._getframe(1)
    while frame is not None:
        candidate = frame.f_locals.get("self")
        if isinstance(candidate, invoke.Executor):
            return candidate
        frame = frame.f_back
    return None


def invocation_hosts(executor) -> list:
    """The hosts after -H, in order, each once."""
    core = getattr(executor, "core", None)
    value = core[0].args.hosts.value if core else None
    hosts = []
    for host in (value or "").split(","):
        if host.strip() and host.strip() not in hosts:
            hosts.append(host.strip())
    return hosts


def fleet_of(c, task) -> tuple:
    """(hosts, coordinator): the hosts when this invocation names several (empty for one), and whether this call
    is the one that runs `task` on all of them."""
    executor = running_executor()
    hosts = invocation_hosts(executor)
    if len(hosts) < 2 or host_name(c) not in hosts:
        return [], True
    done = executor.__dict__.setdefault("_deploytasks_fleet_done", set())
    if task in done:
        return hosts, False
    done.add(task)
    return hosts, True
