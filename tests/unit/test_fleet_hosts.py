"""The hosts of one `fab -H …` invocation as a task sees them: Fabric's own program and executor run a task
once per host (no connection is opened); the first call coordinates, the later ones find it done."""
from fabric import Config, Executor, task
from fabric.main import Fab
from invoke import Collection

from deploytasks.fleet_hosts import fleet_of


def run_fab(*argv):
    seen = []

    @task
    def probe(c):
        """Record what fleet_of says for this call."""
        seen.append((c.original_host, *fleet_of(c, "probe")))

    program = Fab(namespace=Collection(probe), executor_class=Executor, config_class=Config, version="test")
    program.run(["fab", *argv, "probe"], exit=False)
    return seen


def test_several_hosts_one_coordinator():
    assert run_fab("-H", "web1,web2,web3") == [
        ("web1", ["web1", "web2", "web3"], True),
        ("web2", ["web1", "web2", "web3"], False),
        ("web3", ["web1", "web2", "web3"], False),
    ]


def test_one_host_is_not_a_fleet():
    assert run_fab("-H", "web1") == [("web1", [], True)]


def test_a_host_named_twice_counts_once():
    assert run_fab("-H", "web1,web1") == [("web1", [], True), ("web1", [], True)]
