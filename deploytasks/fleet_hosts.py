"""Which hosts one `fab TASK` works on, seen from inside the task Fabric calls once per host: the hosts after
-H (the Executor running the task holds the parsed core arguments; fabric.executor.Executor.expand_calls reads
the same `hosts` value to make one call per host), or, when -H names none, the config's `hosts` (of the
selected stage, or top-level), or, when -H names one stage that lists hosts, that stage's. The first call of a
task coordinates all of them; the later calls of the same invocation find that done and do nothing."""
import sys
from dataclasses import dataclass

import invoke
from fabric import Connection

from .errors import DeployTasksError
from .host_names import host_name
from .settings import load, stage_hosts


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


@dataclass
class Invocation:
    """What one call of a fleet-aware task works on: `hosts` (several: the fleet; empty: the one host of
    `context`), whether this call coordinates, and `context`: the one host's Connection, or what the fleet's
    connections are made from (with the stage that listed the hosts selected: its settings, then each host's
    own stage on top)."""
    hosts: list
    coordinator: bool
    context: object


def resolve(c, task) -> Invocation:
    """The hosts of this call of `task`: -H a,b,c; -H STAGE where that stage lists hosts; or, with no -H, the
    config's `hosts`."""
    if isinstance(c, Connection):
        hosts, coordinator = fleet_of(c, task)
        if hosts:
            return Invocation(hosts, coordinator, c)
        listed = stage_hosts(c.config, host_name(c))  # -H prod, where stages: {prod: [web1, web2]}
        if not listed:
            return Invocation([], True, c)
        stage = host_name(c)
    else:  # no -H: Fabric called the task once, with a plain Context
        settings = load(c)
        listed, stage = settings.hosts, settings.stage
        if not listed:
            raise DeployTasksError("no host: name it with -H HOST, or list the fleet in the config "
                                   "(deploytasks.hosts, or a stage's hosts)")
    config = c.config.clone()
    if stage:
        config.deploytasks.stage = stage
    hosts = list(dict.fromkeys(listed))
    if len(hosts) == 1:
        return Invocation([], True, Connection(hosts[0], config=config))
    return Invocation(hosts, True, invoke.Context(config=config))
