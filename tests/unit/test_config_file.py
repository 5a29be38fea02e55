"""One config file for inv and fab: [tool.deploytasks] in pyproject.toml and deploytasks.yaml, under Invoke's and
Fabric's own config, with stages."""
import pytest

from deploytasks import config_files
from deploytasks.errors import DeployTasksError
from deploytasks.settings import load

PYPROJECT = """
[project]
name = "mysite"

[tool.deploytasks]
requirements = "requirements/base.txt"
keep_backups = 4
path = "/srv/mysite"
repo = "git@example.com:me/mysite.git"

[tool.deploytasks.stages.staging]
path = "/srv/staging"
branch = "develop"

[tool.deploytasks.stages.prod]
keep_backups = 30
"""


def test_a_key_in_pyproject_reaches_both_inv_and_fab(project):
    project.write("pyproject.toml", PYPROJECT)
    assert load(project.context("inv")).requirements == "requirements/base.txt"
    assert load(project.context("fab", host="web1"), "deploy").requirements == "requirements/base.txt"


def test_invoke_yaml_wins_over_pyproject(project):
    project.write("pyproject.toml", PYPROJECT)
    project.write("invoke.yaml", "deploytasks:\n  keep_backups: 7\n")
    assert load(project.context()).keep_backups == 7


def test_fabric_yaml_env_vars_and_runtime_files_win_over_pyproject(project):
    project.write("pyproject.toml", PYPROJECT)
    project.write("fabric.yaml", "deploytasks:\n  requirements: from-fabric.txt\n")
    runtime = project.write("other.yaml", "deploytasks:\n  path: /srv/from-f\n")
    settings = load(project.context("fab", host="web1", runtime=runtime,
                                    env={"FABRIC_DEPLOYTASKS_KEEP_BACKUPS": "9"}), "server")
    assert (settings.requirements, settings.path, settings.keep_backups) == ("from-fabric.txt", "/srv/from-f", 9)


def test_a_key_invoke_yaml_sets_to_its_default_still_wins_over_pyproject(project):
    project.write("pyproject.toml", PYPROJECT)
    project.write("invoke.yaml", "deploytasks:\n  keep_backups: 10\n")
    assert load(project.context()).keep_backups == 10


def test_deploytasks_yaml_beside_pyproject_wins_over_it(project):
    project.write("pyproject.toml", PYPROJECT)
    project.write("deploytasks.yaml", "deploytasks:\n  keep_backups: 5\n")
    assert load(project.context()).keep_backups == 5
    assert load(project.context()).requirements == "requirements/base.txt"


def test_deploytasks_yaml_may_hold_the_keys_at_its_top_level(project):
    project.write("deploytasks.yaml", "keep_backups: 6\nstages:\n  prod:\n    branch: stable\n")
    assert load(project.context()).keep_backups == 6
    assert load(project.context("fab", host="prod"), "local").branch == "stable"


def test_the_config_file_is_found_from_a_subdirectory_upward(project):
    project.write("pyproject.toml", PYPROJECT)
    nested = project.root / "src" / "app"
    nested.mkdir(parents=True)
    assert config_files.find(nested) == [str(project.root / "pyproject.toml")]


def test_the_nearest_pyproject_ends_the_search_even_without_a_deploytasks_table(project):
    project.write("pyproject.toml", PYPROJECT)
    inner = project.write("inner/pyproject.toml", "[project]\nname = 'inner'\n")
    assert config_files.section(inner.parent) == {}


def test_an_unknown_key_in_pyproject_says_which_key_was_meant(project):
    path = project.write("pyproject.toml", "[tool.deploytasks]\nrequirement = 'r.txt'\n")
    with pytest.raises(DeployTasksError) as error:
        load(project.context())
    assert str(error.value) == ("unknown config key deploytasks.requirement (did you mean deploytasks.requirements?), "
                                f"set in {path}")


def test_a_pyproject_that_is_not_toml_is_one_line_naming_the_file(project):
    path = project.write("pyproject.toml", "[tool.deploytasks\nkeep_backups = 3\n")
    with pytest.raises(DeployTasksError) as error:
        load(project.context())
    assert str(error.value).startswith(f"cannot read {path}: ") and "\n" not in str(error.value)


def test_a_deploytasks_table_that_is_not_a_table_is_refused(project):
    project.write("pyproject.toml", "[tool]\ndeploytasks = 3\n")
    with pytest.raises(DeployTasksError, match=r"\[tool.deploytasks\] in .*pyproject.toml must be a table"):
        load(project.context())


def test_the_host_typed_after_h_picks_the_stage_of_that_name(project):
    project.write("pyproject.toml", PYPROJECT)
    staging = load(project.context("fab", host="staging"), "deploy")
    assert (staging.stage, staging.path, staging.branch, staging.keep_backups) == ("staging", "/srv/staging",
                                                                                   "develop", 4)
    prod = load(project.context("fab", host="prod"), "deploy")
    assert (prod.stage, prod.path, prod.branch, prod.keep_backups) == ("prod", "/srv/mysite", "main", 30)


def test_a_host_that_is_no_stage_gets_the_shared_settings(project):
    project.write("pyproject.toml", PYPROJECT)
    settings = load(project.context("fab", host="deploy@web1.example.com"), "deploy")
    assert (settings.stage, settings.path) == ("", "/srv/mysite")


def test_the_stage_key_picks_a_stage_for_inv_and_fab(project):
    project.write("pyproject.toml", PYPROJECT)
    assert load(project.context(env={"INVOKE_DEPLOYTASKS_STAGE": "staging"})).branch == "develop"
    assert load(project.context("fab", host="prod", env={"FABRIC_DEPLOYTASKS_STAGE": "staging"})).branch == "develop"


def test_invoke_and_fabric_config_win_over_the_stage(project):
    project.write("pyproject.toml", PYPROJECT)
    project.write("fabric.yaml", "deploytasks:\n  branch: hotfix\n")
    assert load(project.context("fab", host="staging")).branch == "hotfix"


def test_a_stage_that_does_not_exist_is_named_with_the_ones_that_do(project):
    project.write("pyproject.toml", PYPROJECT)
    with pytest.raises(DeployTasksError, match=r"^deploytasks.stage 'production' is not a stage in "
                                               r"deploytasks.stages \(prod, staging\)$"):
        load(project.context(env={"INVOKE_DEPLOYTASKS_STAGE": "production"}))


def test_an_unknown_key_in_a_stage_names_the_stage(project):
    project.write("pyproject.toml", "[tool.deploytasks.stages.prod]\nbrnch = 'x'\n")
    with pytest.raises(DeployTasksError, match=r"^unknown config key deploytasks.stages.prod.brnch "
                                               r"\(did you mean deploytasks.stages.prod.branch\?\)$"):
        load(project.context("fab", host="prod"))


def test_stages_that_are_not_tables_are_one_line(project):
    project.write("pyproject.toml", "[tool.deploytasks]\nstages = ['prod']\n")
    with pytest.raises(DeployTasksError, match="^deploytasks.stages must map stage names to tables of settings$"):
        load(project.context())


def test_fabric_yaml_may_add_keys_to_a_stage_of_the_config_file(project):
    project.write("pyproject.toml", PYPROJECT)
    project.write("fabric.yaml", "deploytasks:\n  stages:\n    staging:\n      keep_backups: 2\n")
    settings = load(project.context("fab", host="staging"))
    assert (settings.branch, settings.keep_backups) == ("develop", 2)
