"""A uv project (dependencies in pyproject.toml, pinned by uv.lock, no requirements file) deployed through the real
sshd with `requirements: uv.lock`: the server installs exactly what the lock pins, its dev group left out; a lock
change builds a new venv and `fab plan` shows the pins that move; a pyproject edit that leaves the lock as it was
reuses the venv; a revision without the lock, or `installer: pip`, is one error and the live release stays."""
import subprocess
from pathlib import Path

import pytest

from tests._util import clean_env

ADDRESS = "127.0.0.200"
PYPROJECT = '''[project]
name = "mysite"
version = "1.0.0"
description = "{description}"
requires-python = ">=3.11"
dependencies = ["Django=={django}", "gunicorn==27.0.1"]

[dependency-groups]
dev = ["iniconfig"]
'''


def uv() -> str:
    import uv as package

    return package.find_uv_bin()


def as_uv_project(repo, django="5.2.19", description="the example site", branch="main") -> str:
    """A commit making the example a uv project: pyproject.toml's dependencies, locked by `uv lock`."""
    def edit(work: Path):
        (work / "requirements.txt").unlink(missing_ok=True)
        (work / "pyproject.toml").write_text(PYPROJECT.format(django=django, description=description))
        done = subprocess.run([uv(), "lock", "-q"], cwd=work, env=clean_env(), capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=300)
        assert done.returncode == 0, done.stderr
    return repo.commit(f"a uv project: Django {django}", edit, branch)


def installed(s, release=None) -> set:
    """The distributions in the release's venv, as name-version."""
    venv = (s.path / "releases" / (release or s.current_name()) / ".venv").resolve()
    [site] = (venv / "lib").glob("python*/site-packages")
    return {p.name[:-len(".dist-info")].lower() for p in site.glob("*.dist-info")}


@pytest.fixture(scope="module")
def site(server):
    from tests.remote.conftest import give_uv

    give_uv(server)
    as_uv_project(server.repo)
    server.configure(requirements="uv.lock")
    server.fab("setup").ok()
    server.first = server.fab("deploy").ok()
    return server


def test_the_first_deploy_installs_what_the_lock_pins_and_not_its_dev_group(site):
    s = site
    packages = installed(s)
    assert {"django-5.2.19", "gunicorn-27.0.1"} <= packages, packages
    assert not [p for p in packages if p.startswith("iniconfig")], packages
    assert "built with uv" in s.first.stdout


def test_a_lock_change_builds_a_new_venv_with_the_new_pin_and_the_plan_shows_it(site):
    s = site
    venvs = s.venvs()
    as_uv_project(s.repo, django="5.2.20")
    plan = s.fab("plan").ok().stdout
    assert "django ==5.2.19 -> ==5.2.20" in " ".join(plan.split()), plan
    assert "built with uv" in plan and len(s.venvs()) == len(venvs) + 1, plan  # the plan's checks need it
    assert "nothing live was changed; the venv it built is kept for the deploy" in " ".join(plan.split()), plan
    run = s.fab("deploy").ok()
    assert "reused (built earlier for these requirements, by `fab plan` or a deploy; the live release runs " \
           "another)" in " ".join(run.stdout.split()), run.stdout
    assert "django-5.2.20" in installed(s) and len(s.venvs()) == len(venvs) + 1
    static = [line for line in run.stdout.splitlines() if "static files" in line]  # not at a terminal: whole lines
    assert len(static) == 1 and static[0].endswith("hard-linked to the live release's)"), run.stdout


def test_a_pyproject_edit_that_leaves_the_lock_as_it_was_reuses_the_venv(site):
    s = site
    venvs = s.venvs()
    as_uv_project(s.repo, django="5.2.20", description="a new description")
    run = s.fab("deploy").ok()
    assert "reused (requirements unchanged)" in run.stdout and s.venvs() == venvs, run.stdout


def test_a_revision_without_the_lock_or_a_pip_only_server_is_one_error_and_the_live_release_stays(site):
    s = site
    before = s.state()
    s.repo.commit("the lock deleted", lambda work: (work / "uv.lock").unlink(), branch="unlocked")
    s.fab("deploy", "--revision", "unlocked").error("uv.lock not found: run `uv lock` and commit uv.lock")
    assert s.state() == before
    as_uv_project(s.repo, django="5.2.18")  # a lock no venv was built for
    s.configure(installer="pip")
    try:
        s.fab("deploy").error("deploytasks.requirements is uv.lock, a uv lock, which needs uv on the server: "
                              "set deploytasks.installer: auto")
    finally:
        s.settings.pop("installer")
        s.configure()
    assert s.state() == before
