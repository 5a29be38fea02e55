"""target_for(c): the side a shared task runs on, and the program its hints name."""
import invoke
import pytest

from deploytasks.errors import DeployTasksError
from deploytasks.target import target_for


def test_an_invoke_context_targets_the_local_project_and_names_inv(project):
    project.write("manage.py", "")
    target = target_for(project.context("inv"))
    assert (target.cli, target.label, target.project.root) == ("inv", str(project.root), str(project.root))


def test_the_local_target_requires_a_venv_and_says_how_to_make_one_with_inv(project):
    project.write("manage.py", "")
    target = target_for(project.context("inv"))
    with pytest.raises(DeployTasksError, match=r"no virtualenv at .*: run `inv setup`"):
        target.require()


def test_a_local_target_without_manage_py_is_refused_in_one_line(project):
    with pytest.raises(DeployTasksError, match="no manage.py in"):
        target_for(project.context("inv"))


def test_fab_without_a_host_targets_the_server_and_asks_for_one_never_the_local_project(project):
    project.write("manage.py", "")
    context = invoke.Context(project.config("fab"))  # what Fabric passes a task when no -H was given
    with pytest.raises(DeployTasksError, match=r"no host: .*fab -H HOST TASK"):
        target_for(context)
