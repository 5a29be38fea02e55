"""`deploytasks.installer`: local venvs built by uv (pip kept inside them) or by pip; uv's failures and a uv killed
half-way leave a venv that the next install repairs. Real uv, real pip, real processes."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests._util import assert_user_error, clean_env, ctrl_c_reaches_it, uv_installs_into
from tests._util import silent_server as util_silent_server


def stamp_of(venv):
    return (venv / ".deploytasks-requirements").read_text().strip()


def imports_django(venv) -> bool:
    done = subprocess.run([str(venv / "bin" / "python"), "-c", "import django"], capture_output=True, timeout=60)
    return done.returncode == 0


def test_venv_and_install_build_with_uv_and_keep_pip_in_the_venv(site):
    site.venv = site.root / "uv-venv"
    site.configure()
    created = site.inv("venv")
    assert created.returncode == 0, created.stderr
    assert f"created {site.venv} with uv" in created.stdout
    assert (site.venv / "bin" / "pip").exists(), "users keep pip in a uv-built venv"
    installed = site.inv("install")
    assert installed.returncode == 0, installed.stderr
    assert "installed requirements.txt with uv pip" in installed.stdout
    assert imports_django(site.venv)
    stamp = stamp_of(site.venv)
    again = site.inv("install")
    assert "requirements unchanged, skipped" in again.stdout
    dry = site.inv("--dry", "install", "--force")
    assert dry.returncode == 0, dry.stderr
    assert any(line.startswith("dry-run:") and " pip install -q --python " in line for line in dry.stdout.splitlines())
    forced = site.inv("install", "--force")
    assert "installed requirements.txt with uv pip" in forced.stdout and stamp_of(site.venv) == stamp


def test_a_hook_after_venv_finds_pip_in_the_venv_setup_builds(site, tmp_path):
    """inv setup adds pip beside migrate (uv venv without --seed holds up nothing); a hook of the venv or the
    install step may run pip, so then the venv is seeded at once."""
    site.venv = site.root / "hooked-venv"
    seen = tmp_path / "pip-in-hook"
    site.configure(hooks={"after": {"venv": [f"test -x {site.venv}/bin/pip && touch {seen}"]}})
    result = site.inv("setup", "--no-superuser")
    assert result.returncode == 0, result.stderr + result.stdout
    assert seen.exists() and "pip:" not in result.stdout


def test_installer_pip_builds_with_python_venv_and_pip(site):
    site.venv = site.root / "pip-venv"
    (site.root / "small-requirements.txt").write_text("sqlparse\n")  # one small wheel: pip is slow enough
    site.configure(installer="pip", requirements="small-requirements.txt")
    result = site.inv("venv", "install")
    assert result.returncode == 0, result.stderr
    assert f"created {site.venv} with python -m venv" in result.stdout
    assert "installed small-requirements.txt with pip" in result.stdout and "uv" not in result.stdout
    done = subprocess.run([str(site.venv / "bin" / "python"), "-c", "import sqlparse"], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert stamp_of(site.venv)


def test_an_unknown_installer_is_one_error(site):
    site.configure(installer="conda")
    assert_user_error(site.inv("install"), "deploytasks.installer must be 'auto', 'uv' or 'pip', not 'conda'")


@pytest.fixture
def fresh_uv_cache(tmp_path):
    return {"UV_CACHE_DIR": str(tmp_path / "uv-cache")}


def test_an_unreachable_index_is_one_error_naming_it(site, fresh_uv_cache):
    port = closed_port()
    site.venv = site.root / "uv-venv"
    site.configure()
    assert site.inv("venv").returncode == 0
    env = dict(fresh_uv_cache, UV_DEFAULT_INDEX=f"http://127.0.0.1:{port}/simple", UV_HTTP_RETRIES="0")
    line = assert_user_error(site.inv("install", env=env), "uv pip install failed", f"127.0.0.1:{port}/simple/")
    # uv fetches the requirements side by side: whichever failed first is named
    assert "/simple/django/" in line or "/simple/gunicorn/" in line, line
    assert "Connection refused" in line
    assert not (site.venv / ".deploytasks-requirements").exists()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def silent_server():
    with util_silent_server() as url:
        yield url


@pytest.mark.parametrize("fault", ["uv killed", "ctrl-c"])
def test_a_uv_install_killed_halfway_is_redone_by_the_next_install(site, silent_server, fault):
    """uv SIGKILLed, or Ctrl-C in the terminal (SIGINT to inv and uv, its foreground process group), mid-install."""
    site.venv = site.root / "uv-venv"
    site.configure()
    assert site.inv("venv", "install").returncode == 0
    stamp = stamp_of(site.venv)
    with open(site.root / "requirements.txt", "a") as handle:
        handle.write(f"sqlparse @ {silent_server}/sqlparse-0.5.1-py3-none-any.whl\n")
    install = subprocess.Popen([sys.executable, "-m", "invoke", "install"], cwd=site.root, env=clean_env(),
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True, preexec_fn=ctrl_c_reaches_it)
    try:
        deadline = time.monotonic() + 120
        while not uv_installs_into(site.venv):
            assert install.poll() is None and time.monotonic() < deadline, install.communicate()
            time.sleep(0.02)
        if fault == "ctrl-c":
            os.killpg(install.pid, signal.SIGINT)
        else:
            for pid in uv_installs_into(site.venv):
                os.kill(pid, signal.SIGKILL)
        _, stderr = install.communicate(timeout=120)
    finally:
        if install.poll() is None:
            install.kill()
    assert install.returncode == 1 and "Traceback" not in stderr, stderr
    if fault == "ctrl-c":
        assert stderr.strip() == "deploytasks: error: interrupted (Ctrl-C) during uv pip install", stderr
    assert stamp_of(site.venv) == stamp, "the stamp still names the old requirements"
    assert "would install requirements.txt" in site.inv("--dry", "install").stdout, "so the next install redoes it"
    (site.root / "requirements.txt").write_text((site.root / "requirements.txt").read_text().rsplit("sqlparse @", 1)[0])
    assert "requirements unchanged, skipped" in site.inv("install").stdout


def server_uv_setup(tmp_path, python, site="srv"):
    """`fab setup`'s uv command (installer.server_uv_command) for deploy path tmp_path/site, run by sh with no uv on
    PATH and tmp_path/home as the server user's home; returns what it printed."""
    from types import SimpleNamespace

    from deploytasks.installer import server_uv_command

    command = server_uv_command(SimpleNamespace(python=str(python)), str(tmp_path / site))
    done = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=300,
                          env=clean_env(PATH="/usr/bin:/bin", HOME=str(tmp_path / "home")))
    assert done.returncode == 0, done.stderr
    uv = tmp_path / site / ".deploytasks" / "uv"
    assert subprocess.run([str(uv), "--version"], capture_output=True, timeout=60).returncode == 0, done.stdout
    return done.stdout


def install_server_uv(tmp_path, python):
    """`fab setup`'s uv install (no uv on PATH, none kept for the user yet); returns the venv it made for uv."""
    printed = server_uv_setup(tmp_path, python)
    path = tmp_path / "srv"
    assert "uv-installed" in printed, (printed, (path / ".deploytasks" / "uv-install.log").read_text())
    return path / ".deploytasks" / "uv-venv"


def test_setup_installs_server_uv_with_the_pythons_own_pip_into_a_venv_without_one(tmp_path):
    tool_venv = install_server_uv(tmp_path, sys.executable)  # this Python has pip
    assert not (tool_venv / "bin" / "pip").exists(), "the fast path: no pip bootstrapped into uv's own venv"


def test_setup_gives_the_users_next_deploy_paths_the_uv_it_installed_without_pip(tmp_path):
    install_server_uv(tmp_path, sys.executable)
    kept = tmp_path / "home" / ".cache" / "deploytasks" / "uv"
    assert os.access(kept, os.X_OK) and (kept.parent.stat().st_mode & 0o777) == 0o700
    printed = server_uv_setup(tmp_path, sys.executable, site="staging")
    assert "uv-copied" in printed, printed
    tools = tmp_path / "staging" / ".deploytasks"
    assert not (tools / "uv-venv").exists() and not (tools / "uv-install.log").exists(), "pip did not run"
    assert not (tools / "uv").is_symlink(), "a file of its own: the path keeps working if the user's copy goes"
    kept.unlink()
    kept.write_text("#!/bin/sh\nexit 1\n")  # a broken copy is not handed on: pip installs a fresh one
    kept.chmod(0o755)
    assert "uv-installed" in server_uv_setup(tmp_path, sys.executable, site="production")


def test_setup_installs_server_uv_with_a_venvs_pip_when_the_python_has_none(tmp_path):
    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True, timeout=120)
    tool_venv = install_server_uv(tmp_path, bare / "bin" / "python")
    assert (tool_venv / "bin" / "pip").exists(), "fell back to a venv with pip"


def test_setup_shares_one_uv_cache_among_the_deploy_paths_of_a_user_on_one_file_system(tmp_path):
    from types import SimpleNamespace

    from deploytasks.installer import server_uv_command

    bin_dir, home = tmp_path / "bin", tmp_path / "home"
    bin_dir.mkdir()
    (bin_dir / "uv").write_text("#!/bin/sh\necho uv 0.0\n")
    (bin_dir / "uv").chmod(0o755)
    own = tmp_path / "own" / ".deploytasks" / "uv-cache"
    own.mkdir(parents=True)  # a deploy path that has its own cache keeps it
    for site in ("staging", "production", "own"):
        command = server_uv_command(SimpleNamespace(python=sys.executable), str(tmp_path / site))
        done = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=120,
                              env=clean_env(PATH=f"{bin_dir}:/usr/bin:/bin", HOME=str(home)))
        assert done.returncode == 0 and "uv-on-path:" in done.stdout, done.stderr
    shared = home / ".cache" / "deploytasks" / "uv-cache"
    for site in ("staging", "production"):
        assert (tmp_path / site / ".deploytasks" / "uv-cache").resolve() == shared
    assert (shared.parent.stat().st_mode & 0o777) == 0o700
    assert own.is_dir() and not own.is_symlink()


def test_a_uv_project_installs_its_lock_with_the_dev_group_on_a_laptop(site):
    """requirements: uv.lock: the lock exported (dev group included: this is a laptop) and installed into the venv;
    a lock left as it was is skipped, and with installer: pip it is one error."""
    from tests.remote.test_uv_project import PYPROJECT, uv

    (site.root / "pyproject.toml").write_text(PYPROJECT.format(django="5.2.19", description="local"))
    done = subprocess.run([uv(), "lock", "-q"], cwd=site.root, env=clean_env(), capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=300)
    assert done.returncode == 0, done.stderr
    site.venv = site.root / "lock-venv"
    site.configure(requirements="uv.lock")
    assert site.inv("venv").returncode == 0
    installed = site.inv("install")
    assert installed.returncode == 0, installed.stderr
    assert "installed uv.lock with uv pip" in installed.stdout
    check = subprocess.run([str(site.venv / "bin" / "python"), "-c", "import django, iniconfig; "
                            "print(django.get_version())"], capture_output=True, text=True, timeout=60)
    assert check.stdout.strip() == "5.2.19", check.stderr
    assert "requirements unchanged, skipped" in site.inv("install").stdout
    site.configure(requirements="uv.lock", installer="pip")
    assert_user_error(site.inv("install", "--force"), "uv.lock is a uv lock, which needs uv and a venv")
    site.configure(requirements="uv.lock")
    items = {i["item"]: i for i in json.loads(site.inv("check", "--json").stdout)["items"]}
    assert items["uv lock"]["verdict"] == "PASS", items
    pyproject = site.root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"gunicorn==27.0.1"]', '"gunicorn==27.0.1", "iniconfig"]'))
    stale = site.inv("check", "--json")
    assert stale.returncode == 1, stale.stdout + stale.stderr
    items = {i["item"]: i for i in json.loads(stale.stdout)["items"]}
    assert items["uv lock"]["verdict"] == "FAIL" and "added: iniconfig" in items["uv lock"]["detail"], items
    assert "run `uv lock` and commit uv.lock" in items["uv lock"]["detail"]
