"""The server's git errors: the first fatal line, and for a repository another user owns, the command that trusts it."""
import os
import subprocess

import pytest

from deploytasks.server.prepare_release import git


def test_a_repository_owned_by_another_user_names_the_safe_directory_command(tmp_path):
    repo = tmp_path / "shop.git"
    subprocess.run(["git", "init", "-q", "--bare", str(repo)], check=True)
    for directory, _, names in os.walk(repo):
        for path in [directory, *(os.path.join(directory, name) for name in names)]:
            os.chown(path, 65534, 65534)  # nobody: the deploy user here is root
    with pytest.raises(RuntimeError) as failed:
        git("clone", "--mirror", "--quiet", str(repo), str(tmp_path / "mirror"))
    message = str(failed.value)
    assert message.startswith(f"detected dubious ownership in repository at '{repo}'"), message
    assert f"`git config --global --add safe.directory {repo}`" in message, message


def test_other_failures_keep_git_s_first_fatal_line_alone(tmp_path):
    with pytest.raises(RuntimeError) as failed:
        git("clone", "--mirror", "--quiet", str(tmp_path / "absent.git"), str(tmp_path / "mirror"))
    assert "does not exist" in str(failed.value) and "safe.directory" not in str(failed.value)
