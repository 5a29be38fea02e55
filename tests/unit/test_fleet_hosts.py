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


# The fleet from the config file: `hosts`, a stage that lists hosts, and how each host's settings layer.

import fabric
import invoke
import pytest

from deploytasks.errors import DeployTasksError
from deploytasks.fleet_deploy import migrate_host_name
from deploytasks.fleet_hosts import resolve
from deploytasks.settings import load

FLEET = """
deploytasks:
  path: /srv/site
  repo: git@example.com:me/site.git
  hosts: [web1, web2, web3]
  stages:
    prod:
      hosts: [app1, app2]
      migrate_host: app2
      branch: release
    canary: [app1]
    app1:
      path: /srv/app1
    staging:
      path: /srv/staging
"""


def no_host(project, **options):
    """What a task gets from `fab TASK` without -H: a plain Context on Fabric's config."""
    return invoke.Context(project.config("fab", **options))


def settings_of(invocation, host):
    return load(fabric.Connection(host, config=invocation.context.config.clone()), "deploy")


def test_no_h_deploys_the_configured_hosts(project):
    project.write("deploytasks.yaml", FLEET)
    fleet = resolve(no_host(project), "deploy")
    assert (fleet.hosts, fleet.coordinator) == (["web1", "web2", "web3"], True)
    assert settings_of(fleet, "web2").path == "/srv/site"
    assert migrate_host_name(fleet.hosts, load(fleet.context)) == "web1"


def test_h_stage_deploys_the_hosts_it_lists_with_its_settings_and_each_hosts_own(project):
    project.write("deploytasks.yaml", FLEET)
    fleet = resolve(project.context("fab", host="prod"), "deploy")
    assert fleet.hosts == ["app1", "app2"]
    app1, app2 = settings_of(fleet, "app1"), settings_of(fleet, "app2")
    assert (app1.branch, app1.path, app1.stage) == ("release", "/srv/app1", "prod")  # prod's, then app1's own stage
    assert (app2.branch, app2.path) == ("release", "/srv/site")
    assert migrate_host_name(fleet.hosts, app1) == "app2"


def test_the_stage_key_selects_a_stage_s_hosts_without_h(project):
    project.write("deploytasks.yaml", FLEET)
    fleet = resolve(no_host(project, env={"FABRIC_DEPLOYTASKS_STAGE": "prod"}), "deploy")
    assert fleet.hosts == ["app1", "app2"]
    assert settings_of(fleet, "app1").path == "/srv/app1"


def test_a_stage_listing_one_host_is_a_one_host_deploy_on_it(project):
    project.write("deploytasks.yaml", FLEET)
    fleet = resolve(project.context("fab", host="canary"), "deploy")
    assert fleet.hosts == [] and isinstance(fleet.context, fabric.Connection)
    assert fleet.context.original_host == "app1"
    assert load(fleet.context, "deploy").path == "/srv/app1"


def test_h_one_host_stays_a_one_host_deploy_whatever_hosts_says(project):
    project.write("deploytasks.yaml", FLEET)
    c = project.context("fab", host="web1")
    fleet = resolve(c, "deploy")
    assert fleet.hosts == [] and fleet.context is c
    # a host's own stage applies on its own only when the selected stage lists it
    assert load(project.context("fab", host="app1"), "deploy").path == "/srv/app1"
    assert load(project.context("fab", host="staging"), "deploy").path == "/srv/staging"


def test_an_unknown_stage_is_one_line(project):
    project.write("deploytasks.yaml", FLEET)
    with pytest.raises(DeployTasksError, match=r"deploytasks.stage 'prd' is not a stage in deploytasks.stages "
                                               r"\(app1, canary, prod, staging\)"):
        resolve(no_host(project, env={"FABRIC_DEPLOYTASKS_STAGE": "prd"}), "deploy")


def test_a_migrate_host_outside_the_fleet_is_one_line(project):
    project.write("deploytasks.yaml", FLEET.replace("migrate_host: app2", "migrate_host: web1"))
    fleet = resolve(project.context("fab", host="prod"), "deploy")
    with pytest.raises(DeployTasksError, match=r"^deploytasks.migrate_host 'web1' is not one of the hosts "
                                               r"\(app1, app2\)$"):
        migrate_host_name(fleet.hosts, settings_of(fleet, "app1"))


def test_no_h_and_no_hosts_is_one_line(project):
    project.write("fabric.yaml", "deploytasks:\n  path: /srv/site\n")
    with pytest.raises(DeployTasksError, match="no host: name it with -H HOST, or list the fleet in the config"):
        resolve(no_host(project), "deploy")


def test_a_stage_that_is_neither_table_nor_list_is_one_line(project):
    project.write("fabric.yaml", "deploytasks:\n  stages:\n    prod: web1\n")
    with pytest.raises(DeployTasksError, match="deploytasks.stages.prod must be a table of settings or a list"):
        load(project.context("fab", host="web1"))


def test_fab_without_h_calls_the_task_once_and_it_coordinates(project):
    project.write("deploytasks.yaml", FLEET)
    seen = []

    @fabric.task
    def probe(c):
        """Record what resolve says for this call."""
        fleet = resolve(c, "probe")
        seen.append((type(c).__name__, fleet.hosts, fleet.coordinator))

    program = Fab(namespace=Collection(probe), executor_class=Executor, config_class=Config, version="test")
    program.run(["fab", "probe"], exit=False)
    assert seen == [("Context", ["web1", "web2", "web3"], True)]
