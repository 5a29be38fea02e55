"""A new venv takes the live venv's bytecode for the source files both hold as the very same file."""
import os
import py_compile
import shutil
import subprocess
import sys
from types import SimpleNamespace

from deploytasks.server.bytecode import link_from_live, link_shared, link_unchanged_modules

PACKAGES = "lib/python3.11/site-packages"


def venv_with(root, sources, python="python3.11"):
    """A venv-shaped directory whose site-packages holds `sources` (relative path -> text, or a path to link)."""
    site = root / "lib" / python / "site-packages"
    for relative, source in sources.items():
        target = site / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(source, str):
            target.write_text(source)
        else:
            os.link(source, target)
    return root


def writing_bytecode(**extra):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return dict(env, **extra)


def compiled(venv, relative):
    """Write the bytecode Python would write on import, return its path."""
    source = venv / PACKAGES / relative
    return venv / PACKAGES / py_compile.compile(str(source), doraise=True).split(PACKAGES + "/", 1)[1]


def test_only_bytecode_of_the_very_same_source_file_is_linked(tmp_path):
    old = venv_with(tmp_path / "old", {"pkg/__init__.py": "", "pkg/same.py": "A = 1\n", "pkg/copied.py": "B = 2\n",
                                       "pkg/changed.py": "C = 3\n"})
    old_site = old / PACKAGES
    new = venv_with(tmp_path / "new", {"pkg/same.py": old_site / "pkg/same.py",
                                       "pkg/__init__.py": old_site / "pkg/__init__.py", "pkg/changed.py": "C = 4\n"})
    shutil.copy2(old_site / "pkg/copied.py", new / PACKAGES / "pkg/copied.py")  # same bytes and times, another file
    pycs = {name: compiled(old, f"pkg/{name}.py") for name in ("__init__", "same", "copied", "changed")}

    assert link_shared(str(old), str(new)) == 2
    new_cache = new / PACKAGES / "pkg" / "__pycache__"
    assert sorted(p.name for p in new_cache.iterdir()) == sorted(pycs[n].name for n in ("__init__", "same"))
    assert os.path.samefile(new_cache / pycs["same"].name, pycs["same"])
    assert link_shared(str(old), str(new)) == 0  # already there: nothing replaced, no error


def test_python_accepts_the_linked_bytecode_and_does_not_write_its_own(tmp_path):
    old = venv_with(tmp_path / "old", {"shared_mod.py": "VALUE = 'from the shared file'\n"})
    new = venv_with(tmp_path / "new", {"shared_mod.py": old / PACKAGES / "shared_mod.py"})
    pyc = compiled(old, "shared_mod.py")
    assert link_shared(str(old), str(new)) == 1
    linked = new / PACKAGES / pyc.relative_to(old / PACKAGES)
    done = subprocess.run([sys.executable, "-c", "import shared_mod; print(shared_mod.VALUE)"], capture_output=True,
                          text=True, cwd=tmp_path, env=writing_bytecode(PYTHONPATH=str(new / PACKAGES)), check=True)
    assert done.stdout.strip() == "from the shared file"
    assert os.path.samefile(linked, pyc), "Python found the bytecode valid: it did not write a new file"


def test_venvs_of_different_pythons_or_without_site_packages_share_nothing(tmp_path):
    old = venv_with(tmp_path / "old", {"m.py": "X = 1\n"})
    compiled(old, "m.py")
    other = venv_with(tmp_path / "other", {"m.py": old / PACKAGES / "m.py"}, python="python3.12")
    assert link_shared(str(old), str(other)) == 0
    assert link_shared(str(old), str(tmp_path / "absent")) == 0
    assert not (other / "lib/python3.12/site-packages/__pycache__").exists()


def test_from_the_live_release_only_and_never_into_itself(tmp_path):
    layout = SimpleNamespace(current=str(tmp_path / "current"))
    old = venv_with(tmp_path / "venvs" / "old", {"m.py": "X = 1\n"})
    compiled(old, "m.py")
    new = venv_with(tmp_path / "venvs" / "new", {"m.py": old / PACKAGES / "m.py"})
    assert link_from_live(layout, str(new)) == 0  # no live release
    (tmp_path / "releases" / "r1").mkdir(parents=True)
    (tmp_path / "releases" / "r1" / ".venv").symlink_to(old)
    (tmp_path / "current").symlink_to(tmp_path / "releases" / "r1")
    assert link_from_live(layout, str(old)) == 0
    assert link_from_live(layout, str(new)) == 1


def release_with(root, files):
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    return root


def test_a_new_release_takes_the_old_ones_bytecode_for_unchanged_modules_only(tmp_path):
    old = release_with(tmp_path / "old", {"app/__init__.py": "", "app/models.py": "M = 1\n", "app/views.py": "V = 1\n",
                                          "app/never_imported.py": "N = 1\n"})
    pycs = {name: old / py_compile.compile(str(old / f"app/{name}.py"), doraise=True).split(str(old) + "/", 1)[1]
            for name in ("__init__", "models", "views")}
    new = release_with(tmp_path / "new", {"app/__init__.py": "", "app/models.py": "M = 1\n", "app/views.py": "V = 2\n",
                                          "app/never_imported.py": "N = 1\n"})
    os.utime(new / "app/models.py", (1_000_000_000, 1_000_000_000))  # git archive: the commit's time, not the old one

    assert link_unchanged_modules(str(old), str(new)) == 2
    cache = new / "app" / "__pycache__"
    assert sorted(p.name for p in cache.iterdir()) == sorted(pycs[n].name for n in ("__init__", "models"))
    assert (new / "app/models.py").stat().st_mtime_ns == (old / "app/models.py").stat().st_mtime_ns
    assert (new / "app/views.py").read_text() == "V = 2\n"

    done = subprocess.run([sys.executable, "-c", "import app.models, app.views; print(app.models.M, app.views.V)"],
                          capture_output=True, text=True, cwd=new, env=writing_bytecode(), check=True)
    assert done.stdout.split() == ["1", "2"]
    assert os.path.samefile(cache / pycs["models"].name, pycs["models"]), "valid as it is: Python kept it"
    assert not os.path.samefile(cache / pycs["views"].name, pycs["views"]), "the changed module compiled anew"


def test_symlinked_directories_and_files_of_the_release_are_left_alone(tmp_path):
    old = release_with(tmp_path / "old", {"media/x.py": "X = 1\n", "settings_link.py": "S = 1\n"})
    py_compile.compile(str(old / "media/x.py"), doraise=True)
    py_compile.compile(str(old / "settings_link.py"), doraise=True)
    new = tmp_path / "new"
    new.mkdir()
    (new / "media").symlink_to(old / "media")  # a shared directory
    (new / "settings_link.py").symlink_to(old / "settings_link.py")
    assert link_unchanged_modules(str(old), str(new)) == 0
    assert not (new / "__pycache__").exists()


def test_a_release_without_a_live_one_or_whose_walk_fails_takes_nothing_and_the_deploy_goes_on(tmp_path, monkeypatch):
    from deploytasks.server import bytecode

    layout = SimpleNamespace(release=lambda name: str(tmp_path / "releases" / name))
    assert bytecode.link_from_live_release(layout, None, str(tmp_path)) == 0

    def broken(*_args):
        raise ValueError("a name the walk could not handle")

    monkeypatch.setattr(bytecode, "link_unchanged_modules", broken)
    assert bytecode.link_from_live_release(layout, "r1", str(tmp_path)) == 0
