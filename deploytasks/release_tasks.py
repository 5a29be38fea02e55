"""`fab deploy`, `fab plan`, `fab rollback`, `fab releases`: plain functions over where they run, one host
(releases.py, plan.py) or a fleet (-H a,b,c: fleet_deploy.py, fleet_releases.py), chosen once by `hosts_of`."""
from . import fleet_deploy, fleet_hosts, fleet_releases, releases, tables
from . import plan as deploy_plan
from .errors import DeployTasksError
from .host_names import host_name
from .output import json_outcome, messages_to_stderr
from .server.results import ReleaseListing
from .target import server


class OneHost:
    """The one host of `fab -H HOST` (or of a config listing one): `c` is its Connection."""

    def __init__(self, c):
        self.c = c

    def deploy(self, revision, force, as_json, again=False):
        with messages_to_stderr(as_json), json_outcome(as_json, host=host_name(self.c)) as outcome:
            outcome.update(releases.deploy(self.c, server(self.c, kind="deploy"), revision, force=force, again=again))

    def plan(self, revision, as_json):
        with messages_to_stderr(as_json):
            settings = server(self.c, kind="deploy")
            plan = deploy_plan.deploy_plan(self.c, settings, revision)
        tables.show_deploy_plan(plan, as_json)

    def rollback(self, to, yes, as_json):
        with messages_to_stderr(as_json), json_outcome(as_json, host=host_name(self.c)) as outcome:
            outcome.update(releases.rollback(self.c, server(self.c), to=to, yes=yes))

    def releases(self, as_json):
        settings = server(self.c)
        info: ReleaseListing = releases.admin(self.c, settings, "releases")
        tables.show_releases(info, as_json, host_name(self.c), settings.path)


class Fleet:
    """Several hosts (-H a,b,c, a stage's or the config's hosts), all worked on by the first call of the task;
    `c` is what their connections are made from."""

    def __init__(self, c, names):
        self.c = c
        self.names = names

    def deploy(self, revision, force, as_json, again=False):
        with messages_to_stderr(as_json):
            fleet_deploy.deploy(self.c, self.names, revision, force=force, as_json=as_json, again=again)

    def plan(self, revision, as_json):
        raise DeployTasksError("--plan shows one host: name it with -H HOST")

    def rollback(self, to, yes, as_json):
        with messages_to_stderr(as_json):
            fleet_releases.rollback(self.c, self.names, to=to, yes=yes, as_json=as_json)

    def releases(self, as_json):
        fleet_releases.listing(self.c, self.names, as_json)


class FleetDone(Fleet):
    """A later call of a fleet task (Fabric calls a task once per host after -H): the first call did them all."""

    def deploy(self, revision, force, as_json, again=False):
        pass

    def rollback(self, to, yes, as_json):
        pass

    def releases(self, as_json):
        pass


def hosts_of(c, task):
    """OneHost, Fleet or FleetDone for this call of `task`."""
    invocation = fleet_hosts.resolve(c, task)
    if not invocation.hosts:
        return OneHost(invocation.context)
    return (Fleet if invocation.coordinator else FleetDone)(invocation.context, invocation.hosts)


def deploy(c, revision=None, force=False, again=False, plan=False, as_json=False):
    """`fab deploy` (`--plan`: one host's plan, refused for a fleet; a fleet deploys even an unchanged revision)."""
    hosts = hosts_of(c, "deploy")
    if plan:
        hosts.plan(revision, as_json)
    else:
        hosts.deploy(revision, force, as_json, again=again)


def plan(c, revision=None, as_json=False):
    """`fab plan`: the host Fabric called the task for (each host of -H a,b in turn)."""
    OneHost(c).plan(revision, as_json)


def rollback(c, to=None, yes=False, as_json=False):
    """`fab rollback`: one host, or every host of a fleet to the same release."""
    hosts_of(c, "rollback").rollback(to, yes, as_json)


def listing(c, as_json=False):
    """`fab releases`: one host's, or a fleet's side by side."""
    hosts_of(c, "releases").releases(as_json)
