"""deploy, rollback and releases choose once where they run: one host, a fleet (its first call), or nothing
(a fleet's later calls, which Fabric makes once per host after -H)."""
import fabric
import invoke
import pytest
from fabric import Config, Executor, task
from fabric.main import Fab
from invoke import Collection

from deploytasks.errors import DeployTasksError
from deploytasks.release_tasks import Fleet, FleetDone, OneHost, hosts_of


def calls_of(*argv):
    seen = []

    @task
    def probe(c):
        """Record where this call of the task works."""
        hosts = hosts_of(c, "probe")
        seen.append((c.original_host, type(hosts).__name__, getattr(hosts, "names", None)))

    program = Fab(namespace=Collection(probe), executor_class=Executor, config_class=Config, version="test")
    program.run(["fab", *argv, "probe"], exit=False)
    return seen


def test_several_hosts_are_one_fleet_worked_on_by_the_first_call_only():
    fleet = ["web1", "web2", "web3"]
    assert calls_of("-H", "web1,web2,web3") == [
        ("web1", "Fleet", fleet), ("web2", "FleetDone", fleet), ("web3", "FleetDone", fleet)]


def test_one_host_is_one_host():
    assert calls_of("-H", "web1") == [("web1", "OneHost", None)]


def test_the_configured_hosts_without_h_are_a_fleet_and_one_configured_host_is_one_host(project):
    project.write("deploytasks.yaml", "deploytasks:\n  path: /srv/site\n  hosts: [web1, web2]\n")
    hosts = hosts_of(invoke.Context(project.config("fab")), "deploy")
    assert isinstance(hosts, Fleet) and not isinstance(hosts, FleetDone) and hosts.names == ["web1", "web2"]
    project.write("deploytasks.yaml", "deploytasks:\n  path: /srv/site\n  hosts: [web1]\n")
    one = hosts_of(invoke.Context(project.config("fab")), "deploy")
    assert isinstance(one, OneHost) and isinstance(one.c, fabric.Connection) and one.c.original_host == "web1"


def test_a_fleet_refuses_plan_in_every_call_and_its_later_calls_do_nothing():
    for fleet in (Fleet(None, ["web1", "web2"]), FleetDone(None, ["web1", "web2"])):
        with pytest.raises(DeployTasksError, match="^--plan shows one host: name it with -H HOST$"):
            fleet.plan(None, False)
    done = FleetDone(None, ["web1", "web2"])  # no context: anything it tried would fail
    assert done.deploy(None, False, False) is None
    assert done.rollback(None, False, False) is None and done.releases(False) is None
