"""One config file: [tool.deploytasks] in pyproject.toml reaches the real `inv`, under invoke.yaml and env vars."""
import json
import subprocess
import sys

from tests._util import Site, assert_user_error, clean_env, copy_example


def backups_dir(site, cwd=None, env=None) -> str:
    """Where `inv backups` looks (it runs no Django, so no venv is needed)."""
    if cwd is None:
        result = site.inv("backups", "--json", env=env)
    else:
        result = subprocess.run([sys.executable, "-m", "invoke", "backups", "--json"], cwd=cwd, env=clean_env(),
                                capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr + result.stdout
    return json.loads(result.stdout)["dir"]


def test_a_key_only_in_pyproject_reaches_inv_from_the_project_and_below(tmp_path):
    site = Site(copy_example(tmp_path / "site"), tmp_path / "venv-not-needed")
    (site.root / "pyproject.toml").write_text('[tool.deploytasks]\nbackups = "from-pyproject"\n')
    assert backups_dir(site) == str(site.root / "from-pyproject")
    assert backups_dir(site, cwd=site.root / "accounts") == str(site.root / "from-pyproject")


def test_a_task_typed_in_a_subdirectory_works_on_the_project_where_tasks_py_is(site):
    """Invoke finds tasks.py upward from where a task is typed; the project (manage.py, the venv, the database)
    is taken from there too, as `project` is relative to it."""
    migrate = subprocess.run([sys.executable, "-m", "invoke", "migrate"], cwd=site.root / "accounts" / "migrations",
                             env=clean_env(), capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert migrate.returncode == 0, migrate.stderr + migrate.stdout
    assert site.db.exists() and not (site.root / "accounts" / "migrations" / "db.sqlite3").exists()
    assert ("accounts", "0001_initial") in site.query("SELECT app, name FROM django_migrations")


def test_invoke_yaml_wins_over_pyproject_and_env_vars_over_both(tmp_path):
    site = Site(copy_example(tmp_path / "site"), tmp_path / "venv-not-needed")
    (site.root / "pyproject.toml").write_text('[tool.deploytasks]\nbackups = "from-pyproject"\n')
    site.configure(backups="from-invoke-yaml")
    assert backups_dir(site) == str(site.root / "from-invoke-yaml")
    assert backups_dir(site, env={"INVOKE_DEPLOYTASKS_BACKUPS": "from-env"}) == str(site.root / "from-env")


def test_a_stage_picked_by_name_applies_to_inv(tmp_path):
    site = Site(copy_example(tmp_path / "site"), tmp_path / "venv-not-needed")
    (site.root / "pyproject.toml").write_text('[tool.deploytasks]\nbackups = "shared"\n\n'
                                              '[tool.deploytasks.stages.staging]\nbackups = "staging-backups"\n')
    assert backups_dir(site) == str(site.root / "shared")
    assert backups_dir(site, env={"INVOKE_DEPLOYTASKS_STAGE": "staging"}) == str(site.root / "staging-backups")
    assert_user_error(site.inv("backups", env={"INVOKE_DEPLOYTASKS_STAGE": "prod"}),
                      "deploytasks.stage 'prod' is not a stage in deploytasks.stages (staging)")


def test_an_unknown_key_in_an_environment_variable_is_one_line_naming_the_variable(tmp_path):
    """Invoke maps only the keys it knows: INVOKE_DEPLOYTASKS_REQUIREMENT was dropped without a word."""
    site = Site(copy_example(tmp_path / "site"), tmp_path / "venv-not-needed")
    assert_user_error(site.inv("backups", env={"INVOKE_DEPLOYTASKS_REQUIREMENT": "requirements/dev.txt"}),
                      "unknown config key deploytasks.requirement (did you mean deploytasks.requirements?), set in "
                      "the environment variable INVOKE_DEPLOYTASKS_REQUIREMENT")
    assert site.inv("backups", env={"INVOKE_DEPLOYTASKS_KEEP_BACKUPS": "3"}).returncode == 0  # a known one


def test_an_unknown_key_in_pyproject_is_one_line_with_the_likely_key(tmp_path):
    site = Site(copy_example(tmp_path / "site"), tmp_path / "venv-not-needed")
    (site.root / "pyproject.toml").write_text('[tool.deploytasks]\nbackup = "x"\n')
    assert_user_error(site.inv("backups"), "unknown config key deploytasks.backup (did you mean deploytasks.backups?), "
                                           f"set in {site.root / 'pyproject.toml'}")
