"""A uv lock as the requirements: the packages it pins (the project itself left out), its digest, the commands
that export and install it, and the one-line errors where it cannot be used."""
import pytest

from deploytasks.errors import DeployTasksError
from deploytasks.installer import install_command, server_build_command
from deploytasks.server.errors import ServerError
from deploytasks.server.requirements import requirements_digest
from deploytasks.server.uv_lock import is_lock, packages
from deploytasks.settings import Settings

LOCK = '''version = 1
revision = 3
requires-python = ">=3.11"

[[package]]
name = "Django"
version = "5.2.19"
source = { registry = "https://pypi.org/simple" }
dependencies = [
    { name = "asgiref" },
    { name = "sqlparse" },
]

[[package]]
name = "mysite"
version = "1.0.0"
source = { virtual = "." }
dependencies = [
    { name = "django" },
]

[package.metadata]
requires-dist = [{ name = "django", specifier = "==5.2.19" }]

[[package]]
name = "zope.interface"
version = "8.0"
source = { registry = "https://pypi.org/simple" }
'''


def test_the_packages_of_a_lock_are_its_pins_without_the_project_itself():
    assert packages(LOCK) == {"django": "5.2.19", "zope-interface": "8.0"}
    assert packages("") == {}


def test_only_a_file_named_uv_lock_is_a_lock():
    assert is_lock("uv.lock") and is_lock("/srv/site/releases/x/uv.lock")
    assert not is_lock("requirements.txt") and not is_lock("poetry.lock")


def test_the_digest_of_a_lock_changes_with_a_pin_and_a_missing_lock_says_to_run_uv_lock(tmp_path):
    lock = tmp_path / "uv.lock"
    lock.write_text(LOCK)
    before = requirements_digest(str(lock), "3.11.2")
    lock.write_text(LOCK.replace('version = "8.0"', 'version = "8.1"'))
    assert requirements_digest(str(lock), "3.11.2") != before
    with pytest.raises(ServerError, match=r"uv lock .*absent/uv.lock not found: run `uv lock` and commit uv.lock"):
        requirements_digest(str(tmp_path / "absent" / "uv.lock"))


def test_a_laptop_installs_the_lock_with_its_dev_group_through_an_export():
    command = install_command("/p/.venv/bin/python", "/p/uv.lock", "/p/.venv", "abc", uv="/bin/uv")
    export, install = command.split(" && ")[:2]
    assert export == "/bin/uv export -q --frozen --no-emit-project --project /p -o /p/.venv/.deploytasks-uv-lock.txt"
    assert install == "/bin/uv pip install -q --python /p/.venv/bin/python -r /p/.venv/.deploytasks-uv-lock.txt"
    with pytest.raises(DeployTasksError, match="uv.lock is a uv lock, which needs uv and a venv"):
        install_command("/usr/bin/python3", "/p/uv.lock", "/p/.venv", "abc", uv="")


def test_a_server_installs_the_lock_without_its_dev_group_and_pip_cannot_build_it():
    command = server_build_command(Settings(), "/srv/site", "/srv/site/shared/venvs/v", "uv.lock", "abc")
    assert '"$uv" export -q --frozen --no-emit-project --no-dev --project . -o ' \
           "/srv/site/shared/venvs/v/.deploytasks-uv-lock.txt" in command
    assert "builder: pip" not in command
    assert "a uv lock, which needs uv on the server: run `fab setup`" in command
    pip_only = server_build_command(Settings(installer="pip"), "/srv/site", "/v", "uv.lock", "abc")
    assert "uv export" not in pip_only and "set deploytasks.installer: auto" in pip_only
