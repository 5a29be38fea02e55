"""`inv setup` and its steps (venv, install, migrate, createsuperuser, collectstatic), --dry, the CLI surface.

Real processes only: the real `inv` CLI on copies of example/, a real venv, real pip, real SQLite, real gunicorn.
"""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

from tests._util import assert_user_error

ADMIN = {
    "DJANGO_SUPERUSER_USERNAME": "admin",
    "DJANGO_SUPERUSER_EMAIL": "admin@example.com",
    "DJANGO_SUPERUSER_PASSWORD": "a-long-test-password-42",
}

TASKS = [
    "backup", "backups", "check", "collectstatic", "createsuperuser", "init", "install", "migrate", "restore", "setup",
    "venv", "migrations.history", "migrations.migrate", "migrations.plan", "migrations.reset", "migrations.sql",
    "migrations.status",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def superusers(site):
    return site.query("SELECT username, is_superuser, password FROM accounts_user ORDER BY id")


def site_packages(venv):
    (path,) = (venv / "lib").glob("python3*/site-packages")
    return path


def get_health(port, process, deadline_seconds=60):
    """GET /health/ once gunicorn answers; fails early if gunicorn died."""
    deadline = time.monotonic() + deadline_seconds
    while True:
        assert process.poll() is None, process.communicate()[1]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/", timeout=5) as response:
                return response.status, response.headers.get("Content-Type"), json.loads(response.read())
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def note_django_starts(root, log):
    """Each `manage.py` run of the project appends `manage <command>` as it starts (before Django is imported) and
    `ready <command>` once its apps are (AppConfig.ready) to `log`."""
    line = "(__import__('sys').argv[1:] or [''])[0] + '\\n'"
    manage = root / "manage.py"
    noted = f"import sys\n\nwith open({str(log)!r}, 'a') as _log:\n    _log.write('manage ' + {line})\n"
    manage.write_text(manage.read_text().replace("import sys\n", noted, 1))
    apps = root / "accounts" / "apps.py"
    apps.write_text(apps.read_text() + "\n    def ready(self):\n"
                    f"        with open({str(log)!r}, 'a') as log:\n            log.write('ready ' + {line})\n")


def test_setup_builds_a_working_site_then_a_second_setup_does_no_install_work(site, tmp_path):
    """The one test that builds a brand-new venv: setup from scratch, serve it, set up again. In the new venv,
    collectstatic beside migrate starts once migrate's Django is set up: it loads the bytecode migrate's start-up
    wrote instead of compiling the same modules at the same time."""
    site.venv = site.root / ".venv"
    site.configure()
    first_log, second_log = tmp_path / "pip-first.log", tmp_path / "pip-second.log"
    starts = tmp_path / "django-starts.log"
    note_django_starts(site.root, starts)

    result = site.inv("setup", env={**ADMIN, "PIP_LOG": str(first_log)}, fresh=True)  # the README's local path
    assert result.returncode == 0, result.stderr + result.stdout
    started = starts.read_text().splitlines()
    assert started.index("ready migrate") < started.index("manage collectstatic"), started
    assert "Traceback" not in result.stderr
    assert f"created {site.venv}" in result.stdout
    assert "installed requirements.txt" in result.stdout
    assert "34 applied" in result.stdout
    assert "created admin" in result.stdout
    assert "installed requirements.txt with uv pip" in result.stdout, "uv (the default builder) did the install"
    assert (site.venv / "bin" / "gunicorn").exists()
    assert f"pip: added to {site.venv} (beside migrate" in result.stdout  # uv built the venv without it, first
    assert (site.venv / "bin" / "pip").exists(), "users keep pip in the venv setup built"
    assert (site.root / "staticfiles" / "css" / "site.css").exists()
    assert (site.root / "staticfiles" / "admin").is_dir()
    [(name, is_superuser, password)] = superusers(site)
    assert (name, is_superuser) == ("admin", 1)
    assert password.startswith("pbkdf2_sha256$")  # hashed, never stored as given
    assert site.query("SELECT count(*) FROM django_migrations") == [(34,)]

    port = free_port()
    gunicorn = subprocess.Popen(
        [str(site.venv / "bin" / "gunicorn"), "mysite.wsgi", "--bind", f"127.0.0.1:{port}", "--no-control-socket"],
        cwd=site.root, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={"PATH": os.environ["PATH"], "DEBUG": "false", "SECRET_KEY": "test-" + "k" * 50},
    )
    try:
        status, content_type, body = get_health(port, gunicorn)
    finally:
        gunicorn.send_signal(signal.SIGTERM)
        gunicorn.communicate(timeout=30)
    assert status == 200
    assert content_type == "application/json"
    assert body["status"] == "ok" and body["database"] == "ok"

    stamp = site.venv / ".deploytasks-requirements"
    packages = site_packages(site.venv)
    before = (stamp.stat().st_mtime_ns, packages.stat().st_mtime_ns, sorted(p.name for p in packages.iterdir()))
    again = site.inv("setup", env={**ADMIN, "PIP_LOG": str(second_log)})
    assert again.returncode == 0, again.stderr + again.stdout
    assert "venv: present, kept" in again.stdout and "pip:" not in again.stdout
    assert "requirements unchanged, skipped" in again.stdout
    assert "no migrations to apply" in again.stdout
    assert "admin exists, kept" in again.stdout
    assert not second_log.exists(), "pip ran on the second setup"
    assert (stamp.stat().st_mtime_ns, packages.stat().st_mtime_ns, sorted(p.name for p in packages.iterdir())) == before
    assert superusers(site) == [(name, 1, password)]  # same user, same password hash


def test_setup_with_the_shared_venv_skips_install_and_collects_static(site):
    result = site.inv("setup")
    assert result.returncode == 0, result.stderr + result.stdout
    assert "requirements unchanged, skipped" in result.stdout
    assert "34 applied" in result.stdout
    assert (site.root / "staticfiles" / "accounts" / "css" / "plans.css").exists()
    assert "static files copied" in result.stdout and "(beside migrate, " in result.stdout  # no hook orders them
    rows = [line for line in result.stdout.splitlines() if line.startswith("│")]
    assert [row.split("│")[1].strip() for row in rows if row.split("│")[1].strip()] == [
        "venv", "install", "migrate", "createsuperuser", "collectstatic"]


def test_createsuperuser_from_env_then_kept(migrated_site):
    site = migrated_site
    created = site.inv("createsuperuser", env=ADMIN)
    assert created.returncode == 0, created.stderr
    assert "created admin" in created.stdout
    [(name, is_superuser, password)] = superusers(site)
    assert (name, is_superuser) == ("admin", 1)
    assert site.query("SELECT email, is_staff, is_active FROM accounts_user") == [("admin@example.com", 1, 1)]

    again = site.inv("createsuperuser", env={**ADMIN, "DJANGO_SUPERUSER_PASSWORD": "another-password-99"})
    assert again.returncode == 0, again.stderr
    assert "admin exists, kept" in again.stdout
    assert superusers(site) == [(name, 1, password)]


def test_a_superuser_password_alone_creates_admin(migrated_site):
    site = migrated_site
    created = site.inv("createsuperuser", env={"DJANGO_SUPERUSER_PASSWORD": "a-long-test-password-42"})
    assert created.returncode == 0, created.stderr
    assert "created admin" in created.stdout, created.stdout
    assert [(name, is_superuser) for name, is_superuser, _ in superusers(site)] == [("admin", 1)]


def test_superuser_without_credentials_or_tty_is_skipped_with_a_hint(migrated_site):
    site = migrated_site
    for args in (("createsuperuser",), ("setup", "--no-superuser"), ("setup",)):
        result = site.inv(*args, timeout=120)  # stdin is /dev/null: must not wait for a prompt
        assert result.returncode == 0, (args, result.stderr)
        if args == ("setup", "--no-superuser"):
            assert "createsuperuser" not in result.stdout
        else:
            assert "skipped: no credentials" in result.stdout
            assert "DJANGO_SUPERUSER_USERNAME" in result.stdout and "DJANGO_SUPERUSER_PASSWORD" in result.stdout
    assert superusers(site) == []


def test_no_superuser_option_skips_it_even_with_credentials(site):
    result = site.inv("setup", "--no-superuser", env=ADMIN)
    assert result.returncode == 0, result.stderr
    assert "createsuperuser" not in result.stdout
    assert site.query("SELECT count(*) FROM django_migrations") == [(34,)]
    assert superusers(site) == []


def test_venv_and_install_tasks_keep_what_is_there(site):
    venv = site.inv("venv")
    assert venv.returncode == 0, venv.stderr
    assert "present, kept" in venv.stdout
    install = site.inv("install")
    assert install.returncode == 0, install.stderr
    assert "requirements unchanged, skipped" in install.stdout


def test_local_requirements_are_what_inv_installs(site):
    """A team's laptops install requirements/dev.txt (which includes the production file the servers install)."""
    (site.root / "requirements").mkdir()
    (site.root / "requirements" / "dev.txt").write_text("-r ../requirements.txt\n")
    site.configure(local_requirements="requirements/dev.txt")
    dry = site.inv("--dry", "install")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "would install requirements/dev.txt with" in dry.stdout


def test_dry_setup_prints_the_commands_and_creates_nothing(site):
    site.venv = site.root / "new-venv"
    site.configure()
    before = sorted(p.name for p in site.root.iterdir())

    result = site.inv("--dry", "setup", env=ADMIN)
    assert result.returncode == 0, result.stderr + result.stdout
    dry = [line for line in result.stdout.splitlines() if line.startswith("dry-run:")]
    assert any(re.search(r"( -m venv |uv venv -q --seed )", line) and line.endswith(str(site.venv)) for line in dry), dry
    assert any("pip install" in line and "requirements.txt" in line for line in dry), dry
    assert re.search(r"migrate\s+.*would apply every migration \(no virtualenv yet", result.stdout), result.stdout
    assert re.search(r"collectstatic\s+.*would collect static files", result.stdout), result.stdout
    assert "manage.py" not in "\n".join(dry), dry
    assert not site.venv.exists()
    assert not site.db.exists()
    assert not (site.root / "staticfiles").exists()
    assert sorted(p.name for p in site.root.iterdir()) == before


def test_dry_setup_names_the_migrations_it_would_apply_and_changes_nothing(site):
    fresh = site.inv("--dry", "setup", "--no-superuser")
    assert fresh.returncode == 0, fresh.stderr + fresh.stdout
    assert re.search(r"would apply 34: contenttypes\.0001_initial, contenttypes\.0002_remove_content_type_name, auth\.0001_initial, … \(31 more\)", fresh.stdout), fresh.stdout
    assert "would collect static files" in fresh.stdout
    assert not site.db.exists()
    assert not (site.root / "staticfiles").exists()

    assert site.inv("migrate").returncode == 0
    before = site.fingerprint()
    again = site.inv("--dry", "setup", "--no-superuser")
    assert again.returncode == 0, again.stderr + again.stdout
    assert re.search(r"migrate\s+.*no migrations to apply", again.stdout), again.stdout
    assert "would collect static files" in again.stdout
    assert site.fingerprint() == before
    assert not (site.root / "staticfiles").exists()


def test_list_shows_every_task_with_a_one_line_help(site):
    result = site.inv("--list")
    assert result.returncode == 0, result.stderr
    listed = {}
    for line in result.stdout.splitlines():
        match = re.match(r"^  (\S+)(?: \(\S+\))?\s{2,}(\S.*)$", line)
        if match:
            listed[match.group(1)] = match.group(2)
    assert sorted(listed) == sorted(TASKS), result.stdout
    assert all(len(text) > 10 for text in listed.values()), listed


def test_task_help_shows_the_options_and_runs_nothing(site):
    result = site.inv("restore", "--help")
    assert result.returncode == 0, result.stderr + result.stdout
    assert "restore" in result.stdout.splitlines()[0]
    assert "Restore a backup" in result.stdout
    for option, text in (("--yes", "do not ask for confirmation"), ("--unverified", "no manifest"),
                         ("--file", "a file name in")):
        assert option in result.stdout and text in result.stdout, (option, result.stdout)
    assert result.stderr == ""
    assert not (site.root / "backups").exists() and not site.db.exists()

    flags_first = site.inv("--help", "migrations.migrate")
    assert flags_first.returncode == 0, flags_first.stderr
    assert "'latest'" in flags_first.stdout and "--yes" in flags_first.stdout
    reset = site.inv("migrations.reset", "--help")
    assert reset.returncode == 0, reset.stderr
    assert "--app" in reset.stdout and not site.db.exists()



def test_a_setup_failing_on_settings_a_fresh_clone_lacks_says_to_copy_env_example(site):
    """A project whose settings require a value the laptop's .env gives (a fresh clone has only .env.example)."""
    settings = site.root / "mysite" / "settings.py"
    settings.write_text(settings.read_text() + '\nif not os.environ.get("SECRET_KEY"):\n    from django.core.exceptions '
                        'import ImproperlyConfigured\n\n    raise ImproperlyConfigured("Set the SECRET_KEY environment '
                        'variable")\n')
    line = assert_user_error(site.inv("setup", "--no-superuser"), "Set the SECRET_KEY environment variable",
                             "there is no .env yet: copy .env.example to it and fill it in")
    assert "mysite/settings.py:" in line  # where the settings raised it
    (site.root / ".env").write_text("SECRET_KEY=from-the-laptops-env\n")
    done = site.inv("setup", "--no-superuser")
    assert done.returncode == 0, done.stderr
