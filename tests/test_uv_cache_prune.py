"""The server's uv cache pruned to what venvs use (deploytasks/server/uv_cache.py), with the real uv and a cache of
the test's own: an unpacked package no venv hard-links any more is removed, and fetched again when a later venv
needs it; what a venv uses stays; nothing is removed while a uv holds the cache, or when venvs are copies."""
from __future__ import annotations

import fcntl
import os
import subprocess
import time

import pytest
import uv

from deploytasks.server import uv_cache

UV = uv.find_uv_bin()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    directory = tmp_path / "uv-cache"
    monkeypatch.setenv("UV_CACHE_DIR", str(directory))
    monkeypatch.delenv("UV_LINK_MODE", raising=False)
    return directory


def venv_with(path, requirement, **env):
    """A venv at `path` with `requirement` (and uv options before it, split on spaces) installed by uv."""
    subprocess.run([UV, "venv", "-q", str(path)], check=True, env={**os.environ, **env})
    subprocess.run([UV, "pip", "install", "-q", "--python", str(path / "bin" / "python"), *requirement.split()],
                   check=True, env={**os.environ, **env})
    return path


def imported(venv, attribute):
    """The value of module.attribute as the venv's Python imports it."""
    module = attribute.split(".")[0]
    done = subprocess.run([str(venv / "bin" / "python"), "-c", f"import {module}; print({attribute})"], check=True,
                          capture_output=True, text=True)
    return done.stdout.strip()


def entries(cache):
    return sorted(uv_cache.package_name(str(entry)) for entry in (cache / "archive-v0").iterdir())


def removed_soon(cache, timeout=10):
    """Whether the entries set aside are gone within `timeout` s (they are removed by a process of their own)."""
    deadline = time.monotonic() + timeout
    while list(cache.glob(uv_cache.ASIDE + "*")):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_a_package_only_a_removed_venv_used_is_removed_and_fetched_again_when_needed(tmp_path, cache):
    old = venv_with(tmp_path / "old", "sqlparse==0.5.2")
    live = venv_with(tmp_path / "live", "sqlparse==0.5.3")
    assert entries(cache) == ["sqlparse-0.5.2", "sqlparse-0.5.3"]
    assert uv_cache.prune_unused(str(cache), str(live)) == {"removed": [], "bytes": 0}  # both in use

    subprocess.run(["rm", "-rf", str(old)], check=True)
    report = uv_cache.prune_unused(str(cache), str(live))
    assert report["removed"] == ["sqlparse-0.5.2"] and report["bytes"] > 100_000
    assert entries(cache) == ["sqlparse-0.5.3"]
    assert removed_soon(cache)
    subprocess.run([str(live / "bin" / "python"), "-c", "import sqlparse; sqlparse.format('select 1')"], check=True)

    again = venv_with(tmp_path / "again", "sqlparse==0.5.2")  # uv sees the entry gone and fetches it
    assert imported(again, "sqlparse.__version__") == "0.5.2"


def test_nothing_is_removed_while_a_uv_holds_the_cache(tmp_path, cache):
    live = venv_with(tmp_path / "live", "sqlparse==0.5.3")
    subprocess.run(["rm", "-rf", str(venv_with(tmp_path / "old", "sqlparse==0.5.2"))], check=True)
    with open(cache / ".lock") as lock:
        fcntl.flock(lock, fcntl.LOCK_SH)  # what a running uv holds
        assert uv_cache.prune_unused(str(cache), str(live)) == {"skipped": "a uv process is using the cache"}
    assert entries(cache) == ["sqlparse-0.5.2", "sqlparse-0.5.3"]


def test_nothing_is_removed_when_venvs_are_copied_from_the_cache(tmp_path, cache):
    live = venv_with(tmp_path / "live", "sqlparse==0.5.3", UV_LINK_MODE="copy")
    assert uv_cache.prune_unused(str(cache), str(live)) == {
        "skipped": "the live venv is not hard-linked from the uv cache"}
    assert entries(cache) == ["sqlparse-0.5.3"]


def test_an_entry_left_half_removed_by_a_killed_prune_is_removed_by_the_next(tmp_path, cache):
    live = venv_with(tmp_path / "live", "sqlparse==0.5.3")
    leftover = cache / (uv_cache.ASIDE + "abc")
    (leftover / "pkg").mkdir(parents=True)
    (leftover / "pkg" / "module.py").write_text("x = 1\n")
    assert uv_cache.prune_unused(str(cache), str(live)) == {"removed": [], "bytes": 0}
    assert removed_soon(cache) and entries(cache) == ["sqlparse-0.5.3"]


def wheel(directory, name, version):
    """A minimal pure-Python wheel `name`-`version` in `directory` (an index of local files, as `--find-links`
    or a file:// index gives uv: cached under a pointer of another kind than PyPI's)."""
    import base64
    import hashlib
    import zipfile

    info = f"{name}-{version}.dist-info"
    files = {f"{name}/__init__.py": f"VERSION = {version!r}\n",
             f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
             f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    def digest(text):
        return base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
    record = "".join(f"{path},sha256={digest(text)},{len(text.encode())}\n" for path, text in files.items())
    record += f"{info}/RECORD,,\n"
    path = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for member, text in {**files, f"{info}/RECORD": record}.items():
            archive.writestr(member, text)
    return path


def test_a_package_from_local_files_is_pruned_with_its_pointer_and_installed_again(tmp_path, cache):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    wheel(wheels, "tinypkg", "1.0"), wheel(wheels, "tinypkg", "2.0")
    local = f"--no-index --find-links {wheels} tinypkg"
    old = venv_with(tmp_path / "old", f"{local}==1.0")
    live = venv_with(tmp_path / "live", f"{local}==2.0")
    subprocess.run(["rm", "-rf", str(old)], check=True)
    assert uv_cache.prune_unused(str(cache), str(live))["removed"] == ["tinypkg-1.0"]
    assert removed_soon(cache)
    again = venv_with(tmp_path / "again", f"{local}==1.0")
    assert imported(again, "tinypkg.VERSION") == "1.0"


def test_an_entry_no_index_file_is_found_to_name_stays(tmp_path, cache):
    """A cache layout this does not know (here: no wheels-v*/ index files at all) keeps every entry."""
    live = venv_with(tmp_path / "live", "sqlparse==0.5.3")
    subprocess.run(["rm", "-rf", str(venv_with(tmp_path / "old", "sqlparse==0.5.2"))], check=True)
    for index in cache.glob("wheels-v*"):
        subprocess.run(["rm", "-rf", str(index)], check=True)
    assert uv_cache.prune_unused(str(cache), str(live)) == {"removed": [], "bytes": 0}
    assert entries(cache) == ["sqlparse-0.5.2", "sqlparse-0.5.3"]


def test_a_server_build_gets_past_index_files_naming_entries_gone_from_the_cache(tmp_path):
    """An archive entry removed behind uv's back (by hand, by another tool) leaves index files naming it; uv then fails
    on a wheel from local files even with --refresh. The server's venv build removes those files and builds again."""
    from types import SimpleNamespace

    from deploytasks.installer import server_build_command
    from deploytasks.server import venv_build
    from deploytasks.server.layout import ServerLayout

    path, wheels = tmp_path / "site", tmp_path / "wheels"
    wheels.mkdir()
    wheel(wheels, "tinypkg", "1.0")
    (path / ".deploytasks").mkdir(parents=True)
    os.symlink(UV, path / ".deploytasks" / "uv")
    (path / "requirements.txt").write_text(f"--no-index\n--find-links {wheels}\ntinypkg==1.0\n")
    settings = SimpleNamespace(path=str(path), python="python3", installer="uv")

    def build(name):
        venv = path / name
        command = server_build_command(settings, str(path), str(venv), "requirements.txt", "0" * 64)
        return venv, venv_build.build(ServerLayout(str(path)), {"command": command, "venv": str(venv)})

    first, built = build("first")
    assert built["returncode"] == 0 and not built.get("cache_repaired"), built
    cache = path / ".deploytasks" / "uv-cache"
    for entry in (cache / "archive-v0").iterdir():
        subprocess.run(["rm", "-rf", str(entry)], check=True)
    broken = subprocess.run([UV, "pip", "install", "-q", "--refresh", "--python", str(first / "bin" / "python"),
                             "--reinstall", "-r", str(path / "requirements.txt")], env={**os.environ,
                            "UV_CACHE_DIR": str(cache)}, capture_output=True, text=True)
    uv_fails_alone = broken.returncode != 0  # uv 0.13 does ("failed to read directory …/archive-v0/…")

    second, built = build("second")
    assert built["returncode"] == 0 and bool(built.get("cache_repaired")) == uv_fails_alone, built
    assert imported(second, "tinypkg.VERSION") == "1.0"
