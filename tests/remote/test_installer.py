"""uv and pip as the builders of server venvs: `fab setup` installs uv where the server has none, deploys build
with it (its cache kept between deploys) or with pip; a failed or killed build leaves no venv and the live release."""
import os
import re
import shutil
import signal
import stat

import pytest

from deploytasks import bundle

from tests._util import EXAMPLE, silent_server, uv_installs_into

ADDRESS = "127.0.0.23"
SERVER_UV = "own"  # no uv prepared: `fab setup` installs one with the server's Python and pip


@pytest.fixture(scope="module")
def installed(server):
    """The server after a real `fab setup` (which installs uv: its user has no copy kept from an earlier one) and a
    first deploy."""
    server.sshd.set_env(XDG_CACHE_HOME=str(server.base / "user-cache"))
    before = server.sshd.session_count()
    server.setup_run = server.fab("setup").ok()
    server.setup_sessions = server.sshd.session_count() - before
    server.shipped_by_setup = (server.path / ".deploytasks" / bundle.current().name).exists()
    server.fab("deploy").ok()
    return server


def tools(server):
    return server.path / ".deploytasks"


def venv_dirs(server):
    return {name: server.path / "shared" / "venvs" / name for name in server.venvs()}


def test_setup_installs_uv_into_the_deploy_dir_and_the_first_deploy_builds_with_it(installed):
    s = installed
    assert f"venvs are built with uv: installed {tools(s)}/uv (no uv on PATH)" in s.setup_run.stdout
    assert os.access(tools(s) / "uv", os.X_OK)
    assert stat.S_IMODE((tools(s) / "uv.env").stat().st_mode) == 0o600
    [venv] = venv_dirs(s).values()
    assert (venv / "bin" / "pip").exists(), "pip stays available in a uv-built venv"
    assert any((tools(s) / "uv-cache").iterdir()), "the uv cache is kept on the server"
    assert os.access(s.base / "user-cache" / "deploytasks" / "uv", os.X_OK), "and a uv for the user's next paths"
    again = s.fab("setup").ok()
    assert f"venvs are built with uv: kept {tools(s)}/uv" in again.stdout


def test_setup_checks_installs_uv_and_reads_the_shared_files_in_one_command_and_ships_the_server_code(installed):
    s = installed
    assert s.shipped_by_setup, "the first deploy needs no upload of the server code"
    # the command, the server code over SFTP, production's .env (one command: its bytes on stdin)
    assert s.setup_sessions == 3, s.setup_sessions


def test_a_requirements_change_is_built_with_the_servers_uv(installed):
    s = installed
    before = set(s.venvs())
    sha = s.repo.requirements_change("sqlparse==0.5.3")
    run = s.fab("deploy").ok()
    [new] = set(s.venvs()) - before
    assert f"venv {new} built with uv {tools(s)}/uv" in run.stdout
    stamp = s.path / "shared" / "venvs" / new / ".deploytasks-requirements"
    assert stamp.read_text().strip().startswith(new)
    assert s.revision() == sha


def test_a_new_venv_takes_the_live_venvs_bytecode_of_the_files_both_hold_and_python_keeps_it(installed):
    """A requirements change: the new venv's packages are uv's links to the same files as the live venv's, so the
    bytecode the live venv's Django wrote is linked in, and the new release's checks start without compiling it."""
    s = installed
    live = (s.path / "current" / ".venv").resolve()
    [live_pyc] = live.glob("lib/python*/site-packages/django/db/models/__pycache__/base.cpython-*.pyc")
    before = set(s.venvs())
    s.repo.requirements_change("# the same packages in a new venv")
    run = s.fab("deploy").ok()
    [new] = set(s.venvs()) - before
    reused = re.search(rf"venv {new} built with uv .* \(bytecode of (\d+) unchanged modules taken from the live venv\)",
                       " ".join(run.stdout.split()))
    assert reused and int(reused[1]) > 100, run.stdout
    new_pyc = s.path / "shared" / "venvs" / new / live_pyc.relative_to(live)
    # the new release's Django imported it during the deploy's checks and found it valid: no file of its own
    assert os.path.samefile(new_pyc, live_pyc)


def test_installer_pip_builds_with_pip(installed):
    s = installed
    s.configure(installer="pip")
    try:
        before = set(s.venvs())
        s.repo.requirements_change("# built by pip")
        run = s.fab("deploy").ok()
        [new] = set(s.venvs()) - before
        assert f"venv {new} built with pip" in run.stdout and "uv" not in run.stdout
        assert (s.path / "shared" / "venvs" / new / "bin" / "pip").exists()
    finally:
        s.settings.pop("installer")
        s.configure()


def test_without_uv_on_the_server_deploys_use_pip_and_say_so_once(installed):
    s = installed
    (tools(s) / "uv").rename(tools(s) / "uv.away")
    try:
        before = set(s.venvs())
        s.repo.requirements_change("# no uv here")
        run = s.fab("deploy").ok()
        [new] = set(s.venvs()) - before
        assert run.stdout.count("no uv on the server") == 1, run.stdout
        assert f"venv {new} built with pip" in run.stdout
    finally:
        (tools(s) / "uv.away").rename(tools(s) / "uv")


def test_installer_uv_without_uv_is_one_error_and_the_live_release_stays(installed):
    s = installed
    s.configure(installer="uv")
    (tools(s) / "uv").rename(tools(s) / "uv.away")
    try:
        before = s.state()
        s.repo.requirements_change("# uv required")
        s.fab("deploy").error("installer is uv but there is no uv", "fab setup")
        assert s.state()["current"] == before["current"] and s.state()["venvs"] == before["venvs"]
        assert not s.state()["locked"]
    finally:
        (tools(s) / "uv.away").rename(tools(s) / "uv")
        s.settings.pop("installer")
        s.configure()


@pytest.fixture
def index_env(installed):
    """Point the server's uv at another package index through {path}/.deploytasks/uv.env (restored afterwards)."""
    path = tools(installed) / "uv.env"
    saved = path.read_text()

    def point_at(url):
        path.write_text(f"UV_DEFAULT_INDEX={url}\nUV_HTTP_RETRIES=0\n")
    yield point_at
    path.write_text(saved)


def test_an_unreachable_index_is_one_error_naming_it_and_the_live_release_stays(installed, index_env, closed_port):
    s = installed
    index_env(f"http://127.0.0.1:{closed_port}/simple")
    before = s.state()
    s.repo.requirements_change("sqlparse==0.5.2")
    line = s.fab("deploy").error("building the venv", f"127.0.0.1:{closed_port}/simple/")
    assert "Connection refused" in line
    assert s.state()["venvs"] == before["venvs"], "no half-built venv is left"
    assert s.state()["current"] == before["current"] and not s.state()["locked"]


@pytest.fixture
def silent_index():
    """A package index on the loopback that accepts connections and never answers (a hung index)."""
    with silent_server() as url:
        yield url + "/simple"


def test_a_uv_install_killed_halfway_leaves_no_venv_and_the_live_release_stays(installed, silent_index, waiter):
    s = installed
    before = s.state()
    s.repo.requirements_change(f"sqlparse @ {silent_index}/sqlparse/sqlparse-0.5.1-py3-none-any.whl")  # hangs
    deploy = s.fab_background("deploy")
    venvs_dir = s.path / "shared" / "venvs"
    try:
        assert waiter(lambda: uv_installs_into(venvs_dir), timeout=120), "uv pip install never started"
        assert len(venv_dirs(s)) == len(before["venvs"]) + 1, "the new venv is half-built"
        for pid in uv_installs_into(venvs_dir):
            os.kill(pid, signal.SIGKILL)
        deploy.wait(timeout=120)
    finally:
        if deploy.poll() is None:
            deploy.kill()
    assert deploy.returncode == 1
    assert s.state()["venvs"] == before["venvs"], "the half-built venv is gone"
    assert s.state()["current"] == before["current"] and not s.state()["locked"]


def cache_packages(s):
    """name-version of every package unpacked in the deploy path's uv cache."""
    from deploytasks.server import uv_cache

    archive = os.path.join(os.path.realpath(tools(s) / "uv-cache"), "archive-v0")
    return {uv_cache.package_name(os.path.join(archive, name)) for name in os.listdir(archive)}


def test_the_uv_cache_loses_the_packages_only_pruned_venvs_used(installed):
    s = installed
    s.configure(keep_releases=1, prune_uv_cache=True)  # the default; off elsewhere in the tests (conftest.Server)

    def requirements(extra):  # the example's requirements and one more line (the earlier tests' lines dropped)
        def edit(work):
            (work / "requirements.txt").write_text((EXAMPLE / "requirements.txt").read_text() + extra + "\n")
        return s.repo.commit(f"requirements: {extra}", edit)
    try:
        requirements("sqlparse==0.5.0")
        s.fab("deploy").ok()
        requirements("sqlparse==0.4.4")
        s.fab("deploy").ok()
        assert {"sqlparse-0.5.0", "sqlparse-0.4.4"} <= cache_packages(s)
        sha = requirements("sqlparse==0.4.4  # the same packages, a new venv")
        run = s.fab("deploy").ok()  # prunes the first of the three releases, then its venv
    finally:
        s.settings.pop("keep_releases")
        s.configure(prune_uv_cache=False)
    assert s.revision() == sha
    assert "1 unused package(s) removed from the uv cache" in run.stdout, run.stdout
    left = cache_packages(s)
    assert "sqlparse-0.5.0" not in left and "sqlparse-0.4.4" in left and "django-5.2.19" in {p.lower() for p in left}
    s.fab("deploy", "--revision", s.repo.head("HEAD~2")).ok()  # its venv is built again: sqlparse fetched again
    assert "sqlparse-0.5.0" in cache_packages(s)


def test_a_cleaned_user_cache_is_made_again_by_the_next_deploy_and_by_setup(installed):
    """{path}/.deploytasks/uv-cache links to the user's ~/.cache/deploytasks/uv-cache (here under XDG_CACHE_HOME):
    a routine cache clean (rm -rf ~/.cache) left the link dangling, and uv failed every venv build on it ("failed
    to create directory ...: File exists") while `fab setup` said ready."""
    s = installed
    link, user_cache = tools(s) / "uv-cache", s.base / "user-cache"
    target = os.readlink(link)
    assert target.startswith(str(user_cache)), target
    shutil.rmtree(user_cache)
    assert link.is_symlink() and not link.exists()
    before = set(s.venvs())
    sha = s.repo.requirements_change("# a new venv, built after a cache clean")
    run = s.fab("deploy").ok()
    [new] = set(s.venvs()) - before
    assert f"venv {new} built with uv {tools(s)}/uv" in run.stdout, run.stdout
    assert f"the uv cache {target} was gone" in run.stdout, run.stdout
    assert s.revision() == sha and os.readlink(link) == target
    assert any(p.lower().startswith("django-") for p in cache_packages(s)), "uv filled the cache made again"

    shutil.rmtree(user_cache)
    setup = s.fab("setup").ok()
    assert f"the uv cache {target} was gone" in setup.stdout, setup.stdout
    assert link.is_symlink() and link.is_dir() and os.readlink(link) == target
