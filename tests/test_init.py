"""`deploytasks init` and `inv init` on real projects: a bare `django-admin startproject` with a requirements/ dir,
the bundled example, existing files (kept, with a diff), --force, and bad input (one line, nothing written)."""
from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from deploytasks.config_files import read, tomllib
from deploytasks.settings import Settings, _check_keys, _coerce, DEFAULTS
from tests._util import EXAMPLE, assert_user_error, clean_env, copy_example, deploytasks_command
from tests.sshd import free_port

BIN = Path(sys.executable).parent


def startproject(base: Path, name="mysite") -> Path:
    done = subprocess.run([str(BIN / "django-admin"), "startproject", name], cwd=base, env=clean_env(),
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120)
    assert done.returncode == 0, done.stderr
    root = base / name
    (root / "requirements").mkdir()
    (root / "requirements" / "base.txt").write_text("Django>=5.2\n")
    (root / "requirements" / "production.txt").write_text("-r base.txt\ngunicorn\n")
    (root / "requirements" / "dev.txt").write_text("-r base.txt\npytest\n")
    return root


def init(root: Path, *args) -> subprocess.CompletedProcess:
    """The real console script (`deploytasks init`), as a user runs it in the project."""
    return subprocess.run([*deploytasks_command(), "init", *args], cwd=root, env=clean_env(), capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=300)


def ok(result) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    return result.stdout


def snapshot(root: Path) -> dict:
    """Every file under root with its bytes and mode (what a refused init must leave as it was)."""
    return {str(p.relative_to(root)): (p.read_bytes(), stat.S_IMODE(p.stat().st_mode))
            for p in sorted(root.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


def settings_of(path: Path) -> Settings:
    """The section init wrote, read and validated the way inv and fab read it."""
    values = read(str(path))
    _check_keys(values)
    return Settings(**{key: _coerce(key, value, DEFAULTS[key]) for key, value in values.items()})


def test_bare_startproject_gets_a_complete_setup(tmp_path):
    root = startproject(tmp_path)
    out = ok(init(root, "--host", "web1", "--path", "/srv/shop", "--bind", "127.0.0.1:8123"))
    for name in ("tasks.py", "fabfile.py", "deploytasks.yaml", ".gitignore", "gunicorn.conf.py", "deploy/gunicorn.sh",
                 "deploy/mysite.service", "deploy/web1/.env"):
        assert (root / name).is_file(), name
        assert f"wrote     {name}" in out, out
    settings = settings_of(root / "deploytasks.yaml")
    assert settings.path == "/srv/shop"
    assert settings.requirements == "requirements/production.txt"  # over base.txt and dev.txt
    assert settings.local_requirements == "requirements/dev.txt"  # what a laptop's `inv setup` installs
    assert settings.reload == "sh current/deploy/gunicorn.sh"
    assert settings.healthcheck == "http://127.0.0.1:8123/admin/login/"
    assert settings.shared_sources == {".env": "deploy/web1/.env"}
    assert settings.collectstatic is False  # startproject sets no STATIC_ROOT
    assert settings.repo == ""  # no git remote: said, not guessed
    assert "repo (no git remote 'origin')" in out
    assert "settings introspected with" in out and "mysite.settings" in out and "sqlite3" in out
    assert "STATIC_ROOT is not set" in out and "SQLite database db.sqlite3 is inside the project" in out
    assert "(also there: requirements/base.txt, requirements/dev.txt)" in (root / "deploytasks.yaml").read_text()
    assert (root / "tasks.py").read_text().endswith("from deploytasks.local import ns\n")
    assert (root / "fabfile.py").read_text().endswith("from deploytasks.remote import ns\n")
    assert (root / ".gitignore").read_text().splitlines()[1:] == [".venv/", "backups/", ".env", "deploy/*/.env",
                                                                  "*.before-restore-*/"]
    env = root / "deploy" / "web1" / ".env"
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    text = env.read_text()
    assert "DJANGO_SETTINGS_MODULE=mysite.settings\n" in text
    assert "\n# SECRET_KEY=" in text  # startproject's settings do not read it: offered, commented out
    assert not (root / ".env").exists()  # never the laptop's env file
    script = root / "deploy" / "gunicorn.sh"
    assert os.access(script, os.X_OK)
    assert subprocess.run(["sh", "-n", str(script)]).returncode == 0
    assert "mysite.wsgi:application" in script.read_text() and "127.0.0.1:8123" in script.read_text()
    assert "--chdir /srv/shop/current" in (root / "deploy" / "mysite.service").read_text()
    assert "\nEnvironment=PWD=/srv/shop/current\n" in (root / "deploy" / "mysite.service").read_text()
    assert (root / "gunicorn.conf.py").read_text() == (EXAMPLE / "gunicorn.conf.py").read_text()  # the example's
    listing = subprocess.run([sys.executable, "-m", "invoke", "--list"], cwd=root, env=clean_env(),
                             capture_output=True, text=True, timeout=120)
    assert listing.returncode == 0 and "backup" in listing.stdout, listing.stderr


def test_second_run_changes_nothing(tmp_path):
    root = startproject(tmp_path)
    ok(init(root))
    before = snapshot(root)
    out = ok(init(root))
    assert snapshot(root) == before  # the env file's fresh SECRET_KEY included
    assert "wrote" not in out
    assert "skipped   tasks.py: exists, the same" in out
    assert "skipped   .gitignore: has the lines already" in out
    assert "skipped   deploy/production/.env: exists: kept even with --force" in out


def test_a_section_of_the_users_keeps_its_keys_and_gets_the_ones_init_sets(tmp_path):
    root = startproject(tmp_path)
    pyproject = ('[tool.deploytasks]\n# ours\nrequirements = "reqs/prod.txt"\n\n'
                 '[tool.deploytasks.stages.staging]\npath = "/srv/staging"\n\n[tool.black]\nline-length = 100\n')
    (root / "pyproject.toml").write_text(pyproject)
    out = ok(init(root))
    text = (root / "pyproject.toml").read_text()
    document = tomllib.loads(text)
    section = document["tool"]["deploytasks"]
    assert section["requirements"] == "reqs/prod.txt" and "# ours" in text  # the user's, as written
    assert section["path"] == "/srv/mysite" and section["reload"] and section["healthcheck"]
    assert section["stages"] == {"staging": {"path": "/srv/staging"}} and document["tool"]["black"] == {"line-length": 100}
    assert "added to  pyproject.toml: [tool.deploytasks]: " in out and "(its own keys kept)" in out
    again = ok(init(root))
    assert "skipped   pyproject.toml: already has [tool.deploytasks] with the keys init sets" in again
    assert (root / "pyproject.toml").read_text() == text


def test_existing_files_are_kept_and_pyproject_gets_the_section(tmp_path):
    root = startproject(tmp_path)
    (root / "tasks.py").write_text("from invoke import task\n\n@task\ndef hello(c):\n    print('hi')\n")
    pyproject = '[project]\nname = "mysite"\nversion = "1.0"\n\n[tool.black]\nline-length = 100\n'
    (root / "pyproject.toml").write_text(pyproject)
    (root / ".gitignore").write_text("*.pyc\n/backups\n")
    out = ok(init(root))
    assert (root / "tasks.py").read_text().startswith("from invoke import task")
    assert "skipped   tasks.py: exists (--force replaces it)" in out
    assert "+from deploytasks.local import ns" in out  # the diff is shown
    text = (root / "pyproject.toml").read_text()
    assert text.startswith(pyproject)
    document = tomllib.loads(text)
    assert document["tool"]["black"] == {"line-length": 100} and document["project"]["version"] == "1.0"
    assert settings_of(root / "pyproject.toml").requirements == "requirements/production.txt"
    assert not (root / "deploytasks.yaml").exists()
    assert "appended  pyproject.toml: [tool.deploytasks]" in out
    assert "[tool.deploytasks] in pyproject.toml" in (root / "fabfile.py").read_text()
    assert (root / ".gitignore").read_text().splitlines() == [
        "*.pyc", "/backups", "", "# deploytasks: the local venv, backups (dumps hold password hashes), settings "
        "with secrets, the media a restore put aside", ".venv/", ".env", "deploy/*/.env",
        "*.before-restore-*/"]  # /backups was there already
    again = ok(init(root))
    assert "skipped   pyproject.toml: already has [tool.deploytasks]" in again
    assert "-# what `fab deploy` ships" not in again  # a section the same as init's: nothing to show
    assert (root / "pyproject.toml").read_text() == text
    edited = text.replace('path = "/srv/mysite"', 'path = "/srv/elsewhere"')
    (root / "pyproject.toml").write_text(edited)
    assert '-path = "/srv/elsewhere"\n      +path = "/srv/mysite"' in ok(init(root))  # the diff, not the file
    assert (root / "pyproject.toml").read_text() == edited


def test_force_replaces_files_and_the_section_but_never_the_env_file(tmp_path):
    root = startproject(tmp_path)
    (root / "pyproject.toml").write_text('[tool.deploytasks]\npath = "/srv/old"\n\n[tool.deploytasks.stages.x]\n'
                                         'branch = "x"\n\n[tool.ruff]\nline-length = 90\n')
    (root / "tasks.py").write_text("# mine\n")
    env = root / "deploy" / "production" / ".env"
    env.parent.mkdir(parents=True)
    env.write_text("SECRET_KEY=keep-me\n")
    out = ok(init(root, "--force", "--path", "/srv/new"))
    assert (root / "tasks.py").read_text().endswith("from deploytasks.local import ns\n")
    assert "replaced  tasks.py" in out and "replaced  pyproject.toml" in out
    document = tomllib.loads((root / "pyproject.toml").read_text())
    assert document["tool"]["ruff"] == {"line-length": 90}
    assert document["tool"]["deploytasks"]["path"] == "/srv/new" and "stages" not in document["tool"]["deploytasks"]
    assert env.read_text() == "SECRET_KEY=keep-me\n"
    assert "keep-me" not in out  # secrets are never shown as a diff
    assert "skipped   deploy/production/.env: exists: kept even with --force" in out


def test_inv_init_after_the_readme_one_line_tasks_file(tmp_path):
    root = startproject(tmp_path)
    (root / "tasks.py").write_text("from deploytasks.local import ns\n")
    done = subprocess.run([sys.executable, "-m", "invoke", "init", "--host", "prod"], cwd=root, env=clean_env(),
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=300)
    out = ok(done)
    assert "skipped   tasks.py: exists (--force replaces it)" in out
    assert (root / "deploy" / "prod" / ".env").is_file() and (root / "fabfile.py").is_file()
    assert settings_of(root / "deploytasks.yaml").shared_sources == {".env": "deploy/prod/.env"}


def test_example_project_settings_reading_the_environment(tmp_path):
    root = copy_example(tmp_path / "example")
    out = ok(init(root))
    settings = settings_of(root / "deploytasks.yaml")
    assert settings.shared_dirs == ["media"] and settings.collectstatic is True
    assert settings.requirements == "requirements.txt"
    env = (root / "deploy" / "production" / ".env").read_text()
    # the example reads these from the environment: set, not commented out
    assert "\nDATABASE_URL=sqlite:////srv/mysite/shared/db.sqlite3\n" in env and "\nDEBUG=false\n" in env
    assert "\nSECRET_KEY=" in env
    # nothing to fix in the example's settings; its static files and uploads are for a web server in front
    before_going_live = out.split("Before going live:", 1)[1].split("Next:", 1)[0]
    assert before_going_live.count("\n  - ") == 1 and "nothing serves the static files" in before_going_live, out
    assert (root / "deploy" / "production" / ".env.example").is_file()


def test_settings_that_cannot_run_are_read_statically(tmp_path):
    root = startproject(tmp_path)
    settings = root / "mysite" / "settings.py"
    settings.write_text("import nosuchmodule_for_init_test\n" + settings.read_text()
                        + "\nSTATIC_ROOT = BASE_DIR / 'staticfiles'\nMEDIA_ROOT = BASE_DIR / 'uploads'\n")
    out = ok(init(root))
    assert "could not run the settings" in out and "nosuchmodule_for_init_test" in out
    assert "mysite/settings.py read statically" in out
    values = settings_of(root / "deploytasks.yaml")
    assert values.shared_dirs == ["uploads"] and values.collectstatic is True
    assert "database engine  django.db.backends.sqlite3" in out


def test_a_settings_package_read_statically_follows_its_star_imports(tmp_path):
    root = startproject(tmp_path)
    package = root / "mysite" / "settings"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "base.py").write_text((root / "mysite" / "settings.py").read_text().replace(
        "Path(__file__).resolve().parent.parent", "Path(__file__).resolve().parent.parent.parent")
        + "\nSTATIC_ROOT = BASE_DIR / 'staticfiles'\nMEDIA_ROOT = BASE_DIR / 'var' / 'media'\n")
    (package / "dev.py").write_text("import nosuchmodule_for_init_test\n\nfrom .base import *  # noqa\n\nDEBUG = True\n")
    (root / "mysite" / "settings.py").unlink()
    manage = root / "manage.py"
    manage.write_text(manage.read_text().replace("mysite.settings'", "mysite.settings.dev'")
                      .replace('mysite.settings"', 'mysite.settings.dev"'))
    out = ok(init(root))
    assert "mysite/settings/dev.py read statically" in out
    values = settings_of(root / "deploytasks.yaml")
    assert values.collectstatic is True and values.shared_dirs == ["var/media"]  # from base.py, through the import
    assert "database engine  django.db.backends.sqlite3" in out and "STATIC_ROOT is not set" not in out


def test_not_a_django_project_writes_nothing(tmp_path):
    (tmp_path / "README").write_text("hello\n")
    before = snapshot(tmp_path)
    assert_user_error(init(tmp_path), "is not a Django project (no manage.py)")
    assert snapshot(tmp_path) == before
    (tmp_path / "manage.py").write_text("print('hello')\n")
    assert_user_error(init(tmp_path), "does not look like Django's manage.py")


@pytest.mark.parametrize("args, fragment", [
    (("--path", "srv/relative"), "--path must be an absolute directory"),
    (("--path", "/srv/a b"), "--path must be an absolute directory"),
    (("--host", "../etc"), "--host must be a host name"),
    (("--bind", "8000"), "--bind must be HOST:PORT"),
    (("--nonsense",), "unrecognized arguments: --nonsense"),
])
def test_bad_options_write_nothing(tmp_path, args, fragment):
    root = startproject(tmp_path)
    before = snapshot(root)
    assert_user_error(init(root, *args), fragment)
    assert snapshot(root) == before


def test_unreadable_pyproject_writes_nothing(tmp_path):
    root = startproject(tmp_path)
    (root / "pyproject.toml").write_text("[project\nname = 1\n")
    before = snapshot(root)
    assert_user_error(init(root), "cannot read pyproject.toml")
    assert snapshot(root) == before


def test_unwritable_directory_writes_nothing(tmp_path):
    root = startproject(tmp_path)
    (root / "deploy").mkdir()
    before = snapshot(root)
    locked = root / "deploy"
    if subprocess.run(["chattr", "+i", str(locked)], capture_output=True).returncode != 0:
        os.chmod(locked, 0o555)  # not root: permissions are enough
    try:
        line = assert_user_error(init(root), "cannot write deploy/", "nothing was written")
    finally:
        subprocess.run(["chattr", "-i", str(locked)], capture_output=True)
        os.chmod(locked, 0o755)
    assert snapshot(root) == before, line
    assert sorted(p.name for p in root.iterdir()) == ["deploy", "manage.py", "mysite", "requirements"]


def test_dry_run_writes_nothing(tmp_path):
    root = startproject(tmp_path)
    before = snapshot(root)
    out = ok(init(root, "--dry"))
    assert "would write tasks.py" in out and "dry run: nothing written" in out
    assert snapshot(root) == before
    shutil.rmtree(root)


def test_a_project_below_the_git_root_is_warned_about(tmp_path):
    root = startproject(tmp_path)
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True, env=clean_env(), capture_output=True)
    assert "the git repository starts at" in ok(init(root))


def test_a_settings_package_gets_its_production_module_in_the_env_file(tmp_path):
    root = startproject(tmp_path)
    package = root / "mysite" / "settings"
    package.mkdir()
    (root / "mysite" / "settings.py").rename(package / "base.py")
    (package / "__init__.py").write_text("")
    (package / "dev.py").write_text("from .base import *  # noqa\n")
    (package / "production.py").write_text("from .base import *  # noqa\nimport os\n"
                                           "SECRET_KEY = os.environ['SECRET_KEY']\nDEBUG = False\n")
    manage = root / "manage.py"
    manage.write_text(manage.read_text().replace("'mysite.settings'", "'mysite.settings.dev'"))
    out = ok(init(root))
    assert "settings module  mysite.settings.dev" in out
    assert "DEBUG = True is written in mysite.settings.dev, manage.py's default (the settings read here); " \
           "production's env file picks mysite.settings.production" in " ".join(out.split()), out
    env = (root / "deploy/production/.env").read_text()
    assert "\nDJANGO_SETTINGS_MODULE=mysite.settings.production\n" in env
    assert "\nSECRET_KEY=" in env  # production.py reads it, though dev.py is the one manage.py names


def test_a_settings_module_manage_py_builds_from_an_environment_variable_is_read_with_its_default(tmp_path):
    """manage.py picks `mysite.settings.` + DJANGO_ENV (default dev) and dev.py cannot run before the venv exists:
    the static read follows dev.py (not the empty package), and production gets the package's production.py."""
    root = startproject(tmp_path)
    package = root / "mysite" / "settings"
    package.mkdir()
    (package / "base.py").write_text((root / "mysite" / "settings.py").read_text().replace(
        "Path(__file__).resolve().parent.parent", "Path(__file__).resolve().parent.parent.parent")
        + "\nSTATIC_ROOT = BASE_DIR / 'var' / 'static'\nMEDIA_ROOT = BASE_DIR / 'var' / 'media'\n")
    (root / "mysite" / "settings.py").unlink()
    (package / "__init__.py").write_text("")
    (package / "dev.py").write_text("import nosuchmodule_for_init_test\n\nfrom .base import *  # noqa\n")
    (package / "production.py").write_text("from .base import *  # noqa\nDEBUG = False\n")
    manage = root / "manage.py"
    text = manage.read_text()
    assert "'mysite.settings'" in text
    manage.write_text(text.replace("'mysite.settings'", "'mysite.settings.' + os.environ.get('DJANGO_ENV', 'dev')"))
    out = ok(init(root))
    assert "settings module  mysite.settings.dev" in out and "mysite/settings/dev.py read statically" in out
    values = settings_of(root / "deploytasks.yaml")
    assert values.collectstatic is True and values.shared_dirs == ["var/media"]
    assert "\nDJANGO_SETTINGS_MODULE=mysite.settings.production\n" in (root / "deploy/production/.env").read_text()


def test_the_systemd_units_gunicorn_reloads_after_the_release_it_started_in_is_pruned(tmp_path):
    """systemd starts gunicorn in WorkingDirectory={path}/current, which the kernel resolves to the release then
    live; gunicorn goes back to its start directory on every reload unless PWD names the symlink, and its master
    exited ("can't chdir") once that release was pruned. The unit's gunicorn, started as systemd would (its
    Environment, WorkingDirectory and ExecStart, no shell), through two deploys and a prune."""
    srv, port = tmp_path / "srv", free_port("127.0.0.1")
    root = copy_example(tmp_path / "example")
    ok(init(root, "--path", str(srv), "--bind", f"127.0.0.1:{port}"))
    unit = dict(line.split("=", 1) for line in (root / "deploy" / "mysite.service").read_text().splitlines()
                if "=" in line and not line.startswith("#"))
    (srv / "shared").mkdir(parents=True)
    env = {"PATH": os.environ["PATH"], "DATABASE_URL": f"sqlite:///{srv}/shared/db.sqlite3", "DEBUG": "false",
           "SECRET_KEY": "test-" + "k" * 50, "ALLOWED_HOSTS": "127.0.0.1"}
    name, value = unit["Environment"].split("=", 1)
    env[name] = value

    def release(name):
        copy_example(srv / "releases" / name)
        (srv / "releases" / name / "REVISION").write_text(name + "\n")
        (srv / "next").symlink_to(srv / "releases" / name)
        os.replace(srv / "next", srv / "current")

    def serves(name):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and gunicorn.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/", timeout=5) as response:
                    if json.loads(response.read())["revision"] == name:
                        return True
            except OSError:
                pass
            time.sleep(0.1)
        return False

    release("first")
    argv = shlex.split(unit["ExecStart"])
    argv[0] = str(BIN / "gunicorn")
    gunicorn = subprocess.Popen(argv + ["--no-control-socket"], cwd=unit["WorkingDirectory"], env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert serves("first")
        for name in ("second", "third"):
            release(name)
            if name == "third":
                shutil.rmtree(srv / "releases" / "first")  # pruned, as keep_releases does
            gunicorn.send_signal(signal.SIGHUP)  # ExecReload
            assert serves(name), gunicorn.poll()
    finally:
        gunicorn.terminate()
        _, errors = gunicorn.communicate(timeout=30)
    assert "can't chdir" not in errors.decode(), errors.decode()[-2000:]


def test_a_uv_project_gets_its_lock_as_the_requirements_and_gunicorn_found_in_it(tmp_path):
    """Dependencies in pyproject.toml, pinned by uv.lock, a requirements.txt exported long ago beside them: the lock
    is what the servers install (what a lock change changes), the stale export is only mentioned."""
    root = startproject(tmp_path)
    shutil.rmtree(root / "requirements")
    (root / "requirements.txt").write_text("Django>=5.2\n")  # an old `uv export`
    (root / "pyproject.toml").write_text('[project]\nname = "mysite"\nversion = "1.0"\n'
                                         'dependencies = ["Django>=5.2", "gunicorn"]\n')
    (root / "uv.lock").write_text('version = 1\n\n[[package]]\nname = "django"\nversion = "5.2.19"\n'
                                  'source = { registry = "https://pypi.org/simple" }\n\n'
                                  '[[package]]\nname = "gunicorn"\nversion = "27.0.1"\n'
                                  'source = { registry = "https://pypi.org/simple" }\n\n'
                                  '[[package]]\nname = "mysite"\nversion = "1.0"\nsource = { virtual = "." }\n')
    out = ok(init(root))
    assert "requirements     uv.lock" in out, out
    settings = settings_of(root / "pyproject.toml")
    assert settings.requirements == "uv.lock" and settings.local_requirements == ""
    assert "gunicorn is not in" not in out


def test_a_wagtail_site_is_health_checked_at_its_root_where_its_pages_are(tmp_path):
    """The admin's login page answers 200 while every page of a CMS fails: the health check asks `/`."""
    root = startproject(tmp_path)
    settings = root / "mysite" / "settings.py"
    settings.write_text(settings.read_text().replace("'django.contrib.admin',",
                                                     "'wagtail',\n    'django.contrib.admin',"))
    out = ok(init(root, "--bind", "127.0.0.1:8000"))
    assert settings_of(root / "deploytasks.yaml").healthcheck == "http://127.0.0.1:8000/", out


def test_settings_reading_database_url_through_dj_database_url_get_it_in_the_env_file(tmp_path):
    """dj_database_url.config() (or django-environ's env.db()) reads DATABASE_URL without the settings naming it."""
    root = startproject(tmp_path)
    settings = root / "mysite" / "settings.py"
    text = settings.read_text()
    start = text.index("DATABASES = {")
    end = text.index("\n}\n", start) + 3
    settings.write_text(text[:start] + "import dj_database_url\n\nDATABASES = {'default': dj_database_url.config("
                        "default='sqlite:///db.sqlite3')}\n" + text[end:])
    ok(init(root, "--host", "prod"))
    lines = (root / "deploy" / "prod" / ".env").read_text().splitlines()
    assert [line for line in lines if line.startswith("DATABASE_URL=")], lines

    # the engine unknown (not a literal), the requirements' driver says which: not an active SQLite URL
    (root / "requirements" / "base.txt").write_text("Django>=5.2\npsycopg[binary]==3.2.3\n")
    ok(init(root, "--host", "pg", "--force"))
    lines = (root / "deploy" / "pg" / ".env").read_text().splitlines()
    assert "DATABASE_URL=postgres://USER:PASSWORD@HOST:5432/NAME" in lines, lines


def test_a_health_view_the_project_routes_is_what_the_health_check_asks(tmp_path):
    """A `health/` route (here in an app's urls included at the root, one as a plain regex too) proves more than
    the admin's login page: the health check asks it."""
    root = startproject(tmp_path)
    (root / "status").mkdir()
    (root / "status" / "__init__.py").write_text("")
    (root / "status" / "urls.py").write_text(
        "from django.http import JsonResponse\nfrom django.urls import path, re_path\n\n"
        "urlpatterns = [re_path(r'^health/.*$', JsonResponse), path('-/healthz/', JsonResponse)]\n")
    urls = root / "mysite" / "urls.py"
    urls.write_text(urls.read_text().replace("from django.urls import path", "from django.urls import include, path")
                    .replace("urlpatterns = [", "urlpatterns = [\n    path('ops/', include('status.urls')),"))
    out = ok(init(root, "--bind", "127.0.0.1:8000"))
    assert settings_of(root / "deploytasks.yaml").healthcheck == "http://127.0.0.1:8000/ops/-/healthz/", out


COOKIECUTTER_BASE = '''"""Base settings to build other settings files upon."""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve(strict=True).parent.parent.parent
# myshop/
APPS_DIR = BASE_DIR / "myshop"
env = environ.Env()

READ_DOT_ENV_FILE = env.bool("DJANGO_READ_DOT_ENV_FILE", default=False)
if READ_DOT_ENV_FILE:
    # OS environment variables take precedence over variables from .env
    env.read_env(str(BASE_DIR / ".env"))

DEBUG = env.bool("DJANGO_DEBUG", False)
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"
USE_TZ = True

DATABASES = {"default": env.db("DATABASE_URL")}
DATABASES["default"]["ATOMIC_REQUESTS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.admin",
]

STATIC_ROOT = str(BASE_DIR / "staticfiles")
STATIC_URL = "/static/"
STATICFILES_DIRS = [str(APPS_DIR / "static")]
MEDIA_ROOT = str(APPS_DIR / "media")
MEDIA_URL = "/media/"

ADMIN_URL = "admin/"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"verbose": {"format": "%(levelname)s %(asctime)s %(module)s %(message)s"}},
    "handlers": {"console": {"level": "DEBUG", "class": "logging.StreamHandler", "formatter": "verbose"}},
    "root": {"level": "INFO", "handlers": ["console"]},
}
'''

COOKIECUTTER_LOCAL = '''from .base import *  # noqa: F403
from .base import env

DEBUG = True
SECRET_KEY = env("DJANGO_SECRET_KEY", default="kJx3rVQv2XbQ9pYw0u0mN4sTq8Lh1cFz")
ALLOWED_HOSTS = ["localhost", "0.0.0.0", "127.0.0.1"]
EMAIL_HOST = env("EMAIL_HOST", default="mailpit")
if env("USE_DOCKER") == "yes":
    import socket

    hostname, _, ips = socket.gethostbyname_ex(socket.gethostname())
    INTERNAL_IPS = [".".join(ip.split(".")[:-1] + ["1"]) for ip in ips]
'''

COOKIECUTTER_PRODUCTION = '''from .base import *  # noqa: F403
from .base import DATABASES
from .base import env

SECRET_KEY = env("DJANGO_SECRET_KEY")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["example.com"])
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
DEFAULT_FROM_EMAIL = env("DJANGO_DEFAULT_FROM_EMAIL", default="myshop <noreply@example.com>")
ADMIN_URL = env("DJANGO_ADMIN_URL")
LOGGING = {
    "version": 1,
    "handlers": {"console": {"level": "DEBUG", "class": "logging.StreamHandler"}},
    "root": {"level": "INFO", "handlers": ["console"]},
    "loggers": {"django.security.DisallowedHost": {"level": "ERROR", "handlers": ["console"], "propagate": False}},
}
'''

# what the project's venv has of django-environ: env(), env.bool/int/list/db() and ImproperlyConfigured as it raises it
ENVIRON_STAND_IN = '''import os

from django.core.exceptions import ImproperlyConfigured

NOTSET = object()


class Env:
    def __call__(self, var, cast=None, default=NOTSET):
        if var in os.environ:
            return os.environ[var] if cast is None else cast(os.environ[var])
        if default is NOTSET:
            raise ImproperlyConfigured(f"Set the {var} environment variable")
        return default

    def bool(self, var, default=NOTSET):
        value = self(var, default=default)
        return value if isinstance(value, bool) else value.lower() in ("1", "true", "yes", "on")

    def int(self, var, default=NOTSET):
        return int(self(var, default=default))

    def list(self, var, default=NOTSET):
        value = self(var, default=default)
        return value.split(",") if isinstance(value, str) else value

    def db(self, var="DATABASE_URL", default=NOTSET):
        self(var, default=default)
        return {"ENGINE": "django.db.backends.postgresql", "NAME": "myshop"}

    def read_env(self, path):
        pass
'''


def cookiecutter_project(base: Path, name="myshop") -> Path:
    """A cookiecutter-django project: manage.py at the top (config.settings.local by default), a config/settings
    package of base/local/production/test reading django-environ's env(), the apps in myshop/, requirements/; its
    .venv runs this Python with django-environ (a stand-in) beside Django."""
    root = base / name
    settings = root / "config" / "settings"
    settings.mkdir(parents=True)
    (root / "manage.py").write_text(
        "#!/usr/bin/env python\nimport os\nimport sys\nfrom pathlib import Path\n\nif __name__ == '__main__':\n"
        "    os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings.local')\n"
        "    from django.core.management import execute_from_command_line\n\n"
        f"    sys.path.append(str(Path(__file__).parent.resolve() / '{name}'))\n"
        "    execute_from_command_line(sys.argv)\n")
    (root / "config" / "__init__.py").write_text("")
    (root / "config" / "urls.py").write_text("from django.contrib import admin\nfrom django.conf import settings\n"
                                             "from django.urls import path\n\n"
                                             "urlpatterns = [path(settings.ADMIN_URL, admin.site.urls)]\n")
    (root / "config" / "wsgi.py").write_text("import os\n\nfrom django.core.wsgi import get_wsgi_application\n\n"
                                             "os.environ.setdefault('DJANGO_SETTINGS_MODULE', "
                                             "'config.settings.production')\napplication = get_wsgi_application()\n")
    (settings / "__init__.py").write_text('"""Settings package."""\n')
    (settings / "base.py").write_text(COOKIECUTTER_BASE.replace("myshop", name))
    (settings / "local.py").write_text(COOKIECUTTER_LOCAL)
    (settings / "production.py").write_text(COOKIECUTTER_PRODUCTION.replace("myshop", name))
    (settings / "test.py").write_text('from .base import *  # noqa: F403\nfrom .base import env\n\n'
                                      'SECRET_KEY = env("DJANGO_SECRET_KEY", default="test-only-key")\n')
    (root / name / "static").mkdir(parents=True)
    (root / name / "__init__.py").write_text("")
    (root / "requirements").mkdir()
    (root / "requirements" / "base.txt").write_text("Django==5.2.*\ndjango-environ==0.12.0\n")
    (root / "requirements" / "local.txt").write_text("-r base.txt\npytest\n")
    (root / "requirements" / "production.txt").write_text("-r base.txt\ngunicorn==23.0.0\npsycopg[c]==3.2.3\n")
    site = base / "venv-site-packages"
    site.mkdir()
    (site / "environ.py").write_text(ENVIRON_STAND_IN)
    python = root / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(f"#!/bin/sh\nPYTHONPATH={shlex.quote(str(site))} exec {shlex.quote(sys.executable)} \"$@\"\n")
    python.chmod(0o755)
    return root


def test_a_cookiecutter_projects_env_file_sets_the_variables_its_settings_read(tmp_path):
    """cookiecutter-django reads DJANGO_SECRET_KEY, DJANGO_DEBUG, DJANGO_ALLOWED_HOSTS, DATABASE_URL and (in
    production, no default) DJANGO_ADMIN_URL through django-environ's env(): values under those names, the one
    init has no value for listed to fill in; its LOGGING's "level": "DEBUG" is no environment variable."""
    root = cookiecutter_project(tmp_path)
    out = ok(init(root))
    lines = (root / "deploy" / "production" / ".env").read_text().splitlines()
    assert "DJANGO_SETTINGS_MODULE=config.settings.production" in lines
    assert [line for line in lines if line.startswith("DJANGO_SECRET_KEY=") and len(line) > 60], lines
    assert "DJANGO_DEBUG=false" in lines and "DJANGO_ALLOWED_HOSTS=127.0.0.1" in lines, lines
    assert "DATABASE_URL=postgres://USER:PASSWORD@HOST:5432/NAME" in lines, lines  # psycopg in the requirements
    assert not [line for line in lines if line.lstrip("# ").startswith(("SECRET_KEY=", "DEBUG=", "ALLOWED_HOSTS="))]
    assert "# DJANGO_ADMIN_URL=" in lines  # commented out: empty, it would pass (an empty ADMIN_URL serves the admin at /)
    assert "required by the settings" in lines[lines.index("# DJANGO_ADMIN_URL=") - 1]
    assert not [line for line in lines if "USE_DOCKER" in line or "CONN_MAX_AGE" in line]  # local's; a default
    assert "DJANGO_ADMIN_URL" in out.partition("Before going live:")[2], out



def test_settings_that_fail_in_the_projects_venv_are_reported_with_its_reason(tmp_path):
    """The project's .venv has Django and runs the settings as far as a missing DATABASE_URL; the Python running
    init, tried after it, lacks django-environ: the reason given is the venv's, not the last one tried."""
    root = cookiecutter_project(tmp_path)
    out = ok(init(root))
    assert (f"could not run the settings ({root}/.venv/bin/python: django.core.exceptions.ImproperlyConfigured: "
            "Set the DATABASE_URL environment variable)") in out, out
    assert "No module named 'environ'" not in out


def test_a_media_root_under_the_apps_directory_read_statically_is_kept_where_it_is(tmp_path):
    """MEDIA_ROOT = str(APPS_DIR / "media") with APPS_DIR = BASE_DIR / "myshop": myshop/media, not media."""
    root = cookiecutter_project(tmp_path)
    out = ok(init(root))
    assert "config/settings/local.py read statically" in out
    assert settings_of(root / "deploytasks.yaml").shared_dirs == ["myshop/media"], out
    assert "MEDIA_ROOT       myshop/media" in out


def test_a_media_root_under_a_directory_that_is_no_plain_path_is_not_guessed(tmp_path):
    """APPS_DIR = ROOT_DIR.path("myshop") (django-environ's Path, older cookiecutter-django): no guess at MEDIA_ROOT,
    said so; the project's root is not taken for it."""
    root = cookiecutter_project(tmp_path)
    base = root / "config" / "settings" / "base.py"
    base.write_text(base.read_text().replace('APPS_DIR = BASE_DIR / "myshop"', 'APPS_DIR = BASE_DIR.path("myshop")'))
    out = ok(init(root))
    assert settings_of(root / "deploytasks.yaml").shared_dirs == [], out
    assert "MEDIA_ROOT (not a plain path in config/settings/local.py)" in out


def src_layout(base: Path, name="acme") -> Path:
    """startproject moved into src/ (manage.py at the top puts src on sys.path), a settings package base / local /
    production reading the environment, a health route: what many company projects look like."""
    root = startproject(base, name)
    (root / "src").mkdir()
    (root / name).rename(root / "src" / name)
    package = root / "src" / name / "settings"
    package.mkdir()
    (package / "base.py").write_text((root / "src" / name / "settings.py").read_text().replace(
        "Path(__file__).resolve().parent.parent", "Path(__file__).resolve().parent.parent.parent.parent"))
    (root / "src" / name / "settings.py").unlink()
    (package / "__init__.py").write_text("")
    (package / "local.py").write_text("from .base import *  # noqa\nDEBUG = True\n")
    (package / "production.py").write_text(
        "import os\n\nfrom .base import *  # noqa\n\nSECRET_KEY = os.environ['DJANGO_SECRET_KEY']\n"
        "DEBUG = os.environ.get('DJANGO_DEBUG', '') == 'true'\n"
        "ALLOWED_HOSTS = os.environ.get('DJANGO_ALLOWED_HOSTS', '').split(',')\n")
    urls = root / "src" / name / "urls.py"
    urls.write_text(urls.read_text().replace("urlpatterns = [", "urlpatterns = [\n    path('healthz/', admin.site.login),"))
    manage = root / "manage.py"
    manage.write_text(manage.read_text().replace(f"'{name}.settings'", f"'{name}.settings.local'").replace(
        "def main():", "def main():\n    sys.path.insert(0, str(Path(__file__).resolve().parent / 'src'))").replace(
        "import sys", "import sys\nfrom pathlib import Path"))
    return root


@pytest.mark.parametrize("read", ["introspected", "statically"])
def test_a_src_layout_gets_its_production_settings_health_route_and_gunicorn_s_python_path(tmp_path, read):
    """A src/ layout: init looked for the settings and the URLconf only under the project's directory, so production's
    env file named the local settings and names they never read, the health check fell back to the admin's login, and
    gunicorn could not import the project (ModuleNotFoundError) where manage.py could."""
    root = src_layout(tmp_path)
    if read == "statically":  # the local settings cannot run here: init reads the files
        with open(root / "src" / "acme" / "settings" / "local.py", "a") as handle:
            handle.write("import nosuchmodule_for_init_test  # noqa\n")
    out = ok(init(root, "--path", "/srv/acme"))
    assert ("read statically" in out) == (read == "statically"), out
    assert "(from src, which manage.py puts on sys.path: gunicorn gets --pythonpath)" in out, out
    env = (root / "deploy/production/.env").read_text()
    assert "\nDJANGO_SETTINGS_MODULE=acme.settings.production\n" in env, env
    assert "\nDJANGO_SECRET_KEY=" in env and "\nDJANGO_DEBUG=false\n" in env, env
    # not under "the settings do not read these yet", where a user would wait for the settings to read it
    assert "\n# deploy/gunicorn.sh reads these (not the settings): uncomment one to change it\n" \
           "# GUNICORN_BIND=127.0.0.1:8000\n# GUNICORN_WORKERS=2\n" in env, env
    assert settings_of(root / "deploytasks.yaml").healthcheck.endswith(":8000/healthz/")
    assert '--pythonpath "$root/current"/src --error-logfile' in (root / "deploy/gunicorn.sh").read_text()
    assert "--workers 2 --pythonpath /srv/acme/current/src acme.wsgi:application" in \
        (root / "deploy/acme.service").read_text()


def test_gunicorn_imports_a_src_layout_s_project_with_the_python_path_init_gives_it(tmp_path):
    """The --pythonpath init writes, given to a real gunicorn started outside src/: the project answers."""
    root = src_layout(tmp_path)
    ok(init(root, "--path", "/srv/acme"))
    (root / "src" / "acme" / "settings" / "local.py").write_text(
        "from .base import *  # noqa\nDEBUG = True\nALLOWED_HOSTS = ['*']\n")
    port, log = free_port("127.0.0.1"), tmp_path / "gunicorn.log"
    with open(log, "wb") as output:
        gunicorn = subprocess.Popen(
            [str(BIN / "gunicorn"), "--pythonpath", f"{root}/src", "--bind", f"127.0.0.1:{port}", "--chdir", str(root),
             "--workers", "1", "--graceful-timeout", "1", "--no-control-socket", "acme.wsgi:application"],
            cwd=tmp_path, env=clean_env(DJANGO_SETTINGS_MODULE="acme.settings.local"), stdout=output, stderr=output)
    try:
        status = None
        for _ in range(300):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz/", timeout=5) as response:
                    status = response.status
                break
            except urllib.error.HTTPError as exc:
                status = exc.code
                break
            except OSError:
                if gunicorn.poll() is not None:
                    break
                time.sleep(0.1)
        assert status == 200, log.read_text()
    finally:
        gunicorn.send_signal(signal.SIGINT)  # gunicorn's quick shutdown
        gunicorn.wait(timeout=30)


def test_a_site_whose_static_files_nothing_serves_is_told_before_it_goes_live(tmp_path):
    """gunicorn serves no static files and Django none with DEBUG off: a stock Wagtail project deployed with init's
    gunicorn script passed its health check of `/` while the admin had no CSS and every image 404ed, and init said
    nothing. whitenoise in the requirements serves the static files."""
    root = startproject(tmp_path)
    settings = root / "mysite" / "settings.py"
    settings.write_text(settings.read_text() + "\nSTATIC_ROOT = BASE_DIR / 'staticfiles'\n")
    out = " ".join(ok(init(root, "--dry")).split())
    assert "nothing serves the static files or the uploads" in out and "add whitenoise" in out, out
    with open(root / "requirements" / "base.txt", "a") as handle:
        handle.write("whitenoise>=6\n")  # production.txt includes base.txt
    assert "nothing serves the static files" not in ok(init(root, "--dry"))
