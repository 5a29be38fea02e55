"""The bundle the client ships: deterministic, importable with zipimport, runnable with a bare interpreter."""
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from deploytasks import bundle
from deploytasks.shell import parse_marked_text


def test_the_bundle_is_deterministic_and_named_by_its_content():
    first, second = bundle.build(), bundle.build()
    assert first.data == second.data and first.name == second.name
    assert first.name.endswith(".pyz") and len(first.name) == len("0123456789abcdef.pyz")


def test_the_bundle_holds_the_whole_server_package_and_nothing_else(tmp_path):
    path = tmp_path / bundle.current().name
    path.write_bytes(bundle.current().data)
    names = zipfile.ZipFile(path).namelist()
    assert names[0] == "__main__.py"
    assert "deploytasks_server/runner.py" in names and "deploytasks_server/engines/sqlite.py" in names
    assert all(name == "__main__.py" or name.startswith("deploytasks_server/") for name in names)
    assert all(name.endswith(".py") for name in names)


def test_the_bundle_runs_an_entry_with_a_bare_interpreter(tmp_path):
    path = tmp_path / "b.pyz"
    path.write_bytes(bundle.current().data)
    (tmp_path / "requirements.txt").write_text("django\n")
    document = json.dumps({"entry": "requirements_hash", "params": {"requirements": str(tmp_path / "requirements.txt")}})
    done = subprocess.run([sys.executable, "-I", str(path)], input=document, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert parse_marked_text(done.stdout, done.stderr, 0, "x")["python"].count(".") == 2


def test_the_bundle_reports_a_server_error_as_the_error_document(tmp_path):
    path = tmp_path / "b.pyz"
    path.write_bytes(bundle.current().data)
    document = json.dumps({"entry": "server_admin", "params": {"action": "nope", "path": str(tmp_path)}})
    done = subprocess.run([sys.executable, "-I", str(path)], input=document, capture_output=True, text=True)
    assert done.returncode == 3
    assert done.stdout.strip().endswith('{"error": "unknown action \'nope\'"}')


def test_the_bootstrap_imports_from_the_zip_named_in_the_environment(tmp_path):
    path = tmp_path / "b.pyz"
    path.write_bytes(bundle.current().data)
    document = json.dumps({"entry": "list_backups", "params": {"dir": str(tmp_path / "none")}})
    done = subprocess.run([sys.executable, "-I", "-c", bundle.BOOTSTRAP], input=document, capture_output=True,
                          text=True, env={"DEPLOYTASKS_PYZ": str(path)})
    assert done.returncode == 0, done.stderr
    assert parse_marked_text(done.stdout, "", 0, "x") == {"dir": str(tmp_path / "none"), "backups": []}


def test_the_local_cache_is_private_and_written_once(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = bundle.local_path()
    assert path == str(tmp_path / "deploytasks" / bundle.current().name)
    assert (tmp_path / "deploytasks").stat().st_mode & 0o777 == 0o700
    written = (tmp_path / "deploytasks" / bundle.current().name).stat().st_mtime_ns
    assert bundle.local_path() == path
    assert (tmp_path / "deploytasks" / bundle.current().name).stat().st_mtime_ns == written


def test_a_bare_interpreter_name_is_looked_up_once_then_started_through_its_link(tmp_path):
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / bundle.current().name).write_bytes(bundle.current().data)
    bin_dir, calls = tmp_path / "bin", tmp_path / "calls"
    bin_dir.mkdir()
    shim = bin_dir / "pyshim"  # stands in for a version manager's shim: a script that execs the interpreter
    shim.write_text(f'#!/bin/sh\necho called >> "{calls}"\nexec "{sys.executable}" "$@"\n')
    shim.chmod(0o755)
    (tmp_path / "requirements.txt").write_text("django\n")
    document = json.dumps({"entry": "requirements_hash", "params": {"requirements": str(tmp_path / "requirements.txt")}})
    command = bundle.locator(str(tools)) + bundle.run_with("pyshim")
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)}

    def run():
        done = subprocess.run(["sh", "-c", command], input=document, capture_output=True, text=True, env=env)
        assert done.returncode == 0, done.stderr
        return parse_marked_text(done.stdout, done.stderr, 0, "x")["hash"]

    first = run()
    link = tools / "pyshim.resolved"
    assert link.is_symlink() and link.resolve() == Path(sys.executable).resolve()
    assert run() == first and calls.read_text().count("called") == 1  # the second run did not go through the shim
    link.unlink()
    link.symlink_to(tmp_path / "gone")  # the interpreter it named was removed: looked up again, linked again
    assert run() == first and calls.read_text().count("called") == 2
    assert link.resolve() == Path(sys.executable).resolve()
    assert not list(tools.glob("*.partial"))
    plain = bundle.linked_python("pyshim", str(tools)) + '"$py" -c "print(42)"'  # an upload's receiver, say
    assert subprocess.run(["sh", "-c", plain], capture_output=True, text=True, env=env).stdout == "42\n"
    assert calls.read_text().count("called") == 2
    link.unlink()
    assert subprocess.run(["sh", "-c", plain], capture_output=True, text=True, env=env).stdout == "42\n"
    assert calls.read_text().count("called") == 3


def _run_bundle(path, env_extra=None):
    (path.parent / "requirements.txt").write_text("django\n")
    document = json.dumps({"entry": "requirements_hash", "params": {"requirements": str(path.parent / "requirements.txt")}})
    env = {"DEPLOYTASKS_PYZ": str(path), **(env_extra or {})}
    done = subprocess.run([sys.executable, str(path)], input=document, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    return parse_marked_text(done.stdout, done.stderr, 0, "x")["hash"]


def test_the_first_run_writes_a_compiled_twin_that_later_starts_import_from(tmp_path):
    """zipimport compiles every module at every start: the first run writes <bundle>.<tag>.pyz beside the bundle
    (its sources and their bytecode), once; ENTRY and BOOTSTRAP import from it."""
    path = tmp_path / bundle.current().name
    path.write_bytes(bundle.current().data)
    first = _run_bundle(path)
    twin = tmp_path / f"{path.name[:-4]}.{sys.implementation.cache_tag}.pyz"
    assert twin.exists() and twin.stat().st_mode & 0o777 == 0o600
    names = zipfile.ZipFile(twin).namelist()
    sources = zipfile.ZipFile(path).namelist()
    assert set(sources) <= set(names)
    assert {n for n in names if n.endswith(".pyc")} == {n[:-3] + ".pyc" for n in sources if n != "__main__.py"}
    for name in sources:
        assert zipfile.ZipFile(twin).read(name) == zipfile.ZipFile(path).read(name)
    made = twin.stat()
    assert _run_bundle(path) == first
    assert (twin.stat().st_ino, twin.stat().st_mtime_ns) == (made.st_ino, made.st_mtime_ns)  # written once
    assert not list(tmp_path.glob("*.partial"))
    where = bundle.BOOTSTRAP.replace("main()", "print(sys.modules['deploytasks_server.runner'].__spec__.origin)")
    done = subprocess.run([sys.executable, "-c", where], capture_output=True, text=True, env={"DEPLOYTASKS_PYZ": str(path)})
    assert done.stdout.strip() == f"{twin}/deploytasks_server/runner.pyc", done.stderr


def test_no_twin_is_written_where_bytecode_is_not_wanted_and_the_sources_serve(tmp_path):
    path = tmp_path / bundle.current().name
    path.write_bytes(bundle.current().data)
    assert _run_bundle(path, {"PYTHONDONTWRITEBYTECODE": "1"})
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([path.name, "requirements.txt"])


def server_sources(tmp_path):
    source = tmp_path / "server"
    shutil.copytree(bundle.SOURCE, source, ignore=shutil.ignore_patterns("__pycache__"))
    return source


def test_the_cache_hands_back_the_bundle_it_built_for_the_same_sources_without_building_it(tmp_path, monkeypatch):
    source, cache = server_sources(tmp_path), tmp_path / "cache"
    first = bundle.cached(source, str(cache))
    assert first == bundle.build(source)
    assert (cache / first.name).read_bytes() == first.data and (cache / "index").stat().st_mode & 0o777 == 0o700

    def no_build(*args):
        raise AssertionError("built again")

    monkeypatch.setattr(bundle, "build", no_build)
    assert bundle.cached(source, str(cache)) == first


def test_an_edited_source_gets_a_new_bundle_and_a_damaged_cached_one_is_built_again(tmp_path):
    source, cache = server_sources(tmp_path), tmp_path / "cache"
    first = bundle.cached(source, str(cache))
    with open(source / "errors.py", "a") as handle:
        handle.write("# edited\n")
    edited = bundle.cached(source, str(cache))
    assert edited.name != first.name and edited == bundle.build(source)
    (cache / edited.name).write_bytes(first.data)  # the file no longer matches its name
    assert bundle.cached(source, str(cache)) == edited
    assert (cache / edited.name).read_bytes() == edited.data


def test_the_server_command_runs_the_bundle_without_the_interpreters_site(tmp_path):
    """The bundle needs the standard library alone: a sitecustomize (or .pth) of the server's Python is not run,
    so one that fails, or takes time, does not stop or slow a deploy's commands."""
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / bundle.current().name).write_bytes(bundle.current().data)
    site_dir = tmp_path / "site"
    site_dir.mkdir()
    (site_dir / "sitecustomize.py").write_text("raise SystemExit('a broken sitecustomize ran')\n")
    (tmp_path / "requirements.txt").write_text("django\n")
    document = json.dumps({"entry": "requirements_hash", "params": {"requirements": str(tmp_path / "requirements.txt")}})
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(site_dir)}
    broken = subprocess.run([sys.executable, "-c", "pass"], capture_output=True, text=True, env=env)
    assert "a broken sitecustomize ran" in broken.stderr  # what any Python with `site` would do here
    command = bundle.locator(str(tools)) + bundle.run_with(sys.executable)
    done = subprocess.run(["sh", "-c", command], input=document, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert len(parse_marked_text(done.stdout, done.stderr, 0, "x")["hash"]) == 64


def test_the_deploy_command_loads_none_of_the_slow_standard_modules_it_does_not_use(tmp_path):
    """Every deploy waits for prepare_release's imports before the lock: dataclasses (with inspect, ast, dis),
    calendar (with datetime) and tempfile are loaded only where they are used, not by the deploy's first step."""
    zipped = tmp_path / "bundle.pyz"
    zipped.write_bytes(bundle.current().data)
    probe = (f"import sys; sys.path.insert(0, {str(zipped)!r}); import {bundle.PACKAGE}.runner, "
             f"{bundle.PACKAGE}.prepare_release; print(' '.join(sorted(sys.modules)))")
    done = subprocess.run([sys.executable, "-S", "-c", probe], capture_output=True, text=True, check=True)
    loaded = set(done.stdout.split())
    assert f"{bundle.PACKAGE}.prepare_release" in loaded and "subprocess" in loaded
    assert not loaded & {"dataclasses", "inspect", "ast", "calendar", "datetime", "tempfile"}
