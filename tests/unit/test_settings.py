"""The deploytasks settings: one definition, coercion of what env vars and files say, validation per task kind."""
import dataclasses
import re
from pathlib import Path

import pytest

from deploytasks.errors import DeployTasksError
from deploytasks.settings import DEFAULTS, HELP, KEEP_ALL, Settings, _coerce, load, validate

README = Path(__file__).resolve().parents[2] / "README.md"


def test_defaults_are_the_settings_fields_defaults():
    assert DEFAULTS == dataclasses.asdict(Settings())
    assert set(HELP) == set(DEFAULTS) and all(HELP.values())


def test_list_defaults_are_not_shared_between_settings():
    first, second = Settings(), Settings()
    first.shared_files.append("extra")
    assert second.shared_files == [".env"] and DEFAULTS["shared_files"] == [".env"]


def test_the_readme_config_reference_lists_every_key_with_its_default():
    rows = dict(re.findall(r"^\| `(\w+)` \| ([^|]*) \|", README.read_text(), re.M))
    for key, default in DEFAULTS.items():
        assert key in rows, key
        if default not in ("", [".env"]) and key not in ("path", "repo"):
            shown = rows[key].strip().strip("`")
            expected = str(default).lower() if isinstance(default, bool) else str(default).replace("'", '"')
            assert shown == expected, (key, shown)


def test_loaded_settings_cannot_be_changed_afterwards(project):
    settings = load(project.context())
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.python = "python3.12"
    assert dataclasses.replace(settings, python="python3.12").python == "python3.12"


@pytest.mark.parametrize("text,expected", [("1", True), ("yes", True), ("On", True), ("0", False), ("off", False),
                                            ("", False), (True, True)])
def test_booleans_from_env_vars_accept_the_usual_words(text, expected):
    assert _coerce("use_venv", text, True) is expected


def test_a_boolean_that_is_no_boolean_names_the_key():
    with pytest.raises(DeployTasksError, match=r"deploytasks.use_venv must be true or false, not 'maybe'"):
        _coerce("use_venv", "maybe", True)


def test_numbers_keep_the_defaults_type_and_refuse_negatives_and_words():
    assert _coerce("keep_backups", "20", 10) == 20 and isinstance(_coerce("healthcheck_delay", "1", 0.5), float)
    with pytest.raises(DeployTasksError, match="must not be negative"):
        _coerce("keep_backups", "-1", 10)
    with pytest.raises(DeployTasksError, match="must be a number, not 'ten'"):
        _coerce("keep_backups", "ten", 10)


def test_lists_come_from_comma_separated_strings_or_lists():
    assert _coerce("shared_dirs", "media, uploads,,", []) == ["media", "uploads"]
    assert _coerce("shared_dirs", ("a", 1), []) == ["a", "1"]
    with pytest.raises(DeployTasksError, match="must be a list"):
        _coerce("shared_dirs", 3, [])


def test_env_vars_reach_the_settings_with_their_types(project):
    settings = load(project.context(env={"INVOKE_DEPLOYTASKS_KEEP_BACKUPS": "20", "INVOKE_DEPLOYTASKS_USE_VENV": "no",
                                         "INVOKE_DEPLOYTASKS_SHARED_DIRS": "media,uploads"}))
    assert settings.keep_backups == 20 and settings.use_venv is False and settings.shared_dirs == ["media", "uploads"]


def test_false_in_an_env_var_is_false_not_a_non_empty_string(project):
    connection = project.context("fab", env={"FABRIC_DEPLOYTASKS_ACCEPT_NEW_HOSTS": "false",
                                             "FABRIC_DEPLOYTASKS_PATH": "/srv/site"})
    assert load(connection, "server").accept_new_hosts is False


def test_a_number_env_var_that_is_no_number_is_one_named_error(project):
    with pytest.raises(DeployTasksError, match=r"^deploytasks.keep_backups must be a number, not 'ten'$"):
        load(project.context(env={"INVOKE_DEPLOYTASKS_KEEP_BACKUPS": "ten"}))


def test_keys_nobody_set_have_the_defaults(project):
    import dataclasses
    import os

    # `project` (".") is resolved where the tasks file was found: here, with none, the current directory
    assert load(project.context()) == dataclasses.replace(Settings(), project=os.getcwd())


def test_an_unknown_key_says_which_key_was_meant(project):
    project.write("invoke.yaml", "deploytasks:\n  keep_backup: 3\n")
    with pytest.raises(DeployTasksError, match=r"^unknown config key deploytasks.keep_backup "
                                               r"\(did you mean deploytasks.keep_backups\?\), set in the Invoke/Fabric "
                                               r"config \(invoke.yaml, fabric.yaml, -f FILE or an INVOKE_/FABRIC_"):
        load(project.context())


def test_a_strategy_other_than_mirror_or_upload_is_refused_for_every_task():
    with pytest.raises(DeployTasksError, match="deploytasks.strategy must be 'mirror' or 'upload', not 'rsync'"):
        validate(Settings(strategy="rsync"), "local")


def test_local_tasks_need_no_server_path():
    validate(Settings(), "local")


@pytest.mark.parametrize("path", ["", "srv/site", "/"])
def test_server_tasks_need_an_absolute_deploy_path(project, path):
    with pytest.raises(DeployTasksError, match=r"^set deploytasks.path to the absolute deploy directory on the "
                                               r"server \(e.g. /srv/mysite\)$"):
        load(project.context("fab", env={"FABRIC_DEPLOYTASKS_PATH": path}), "server")


def test_the_deploy_path_is_loaded_without_its_trailing_slash(project):
    settings = load(project.context("fab", env={"FABRIC_DEPLOYTASKS_PATH": "/srv/site//"}), "server")
    assert settings.path == "/srv/site"


def test_deploying_from_a_mirror_needs_a_repo_but_an_upload_does_not():
    with pytest.raises(DeployTasksError, match=r"^set deploytasks.repo to the git URL the server clones from "
                                               r"\(or strategy: upload\)$"):
        validate(Settings(path="/srv/site"), "deploy")
    validate(Settings(path="/srv/site"), "server")
    validate(Settings(path="/srv/site", strategy="upload"), "deploy")


def test_keep_releases_0_keeps_all_releases_as_keep_backups_0_keeps_all_backups():
    assert Settings(keep_releases=0).releases_kept == KEEP_ALL
    assert Settings(keep_releases=3).releases_kept == 3


def test_a_client_timeout_shorter_than_the_pings_allow_is_refused():
    with pytest.raises(DeployTasksError, match=r"^deploytasks.client_timeout must be at least 3 seconds .* not 0$"):
        validate(Settings(client_timeout=0.0), "deploy")
    validate(Settings(client_timeout=3.0), "local")
