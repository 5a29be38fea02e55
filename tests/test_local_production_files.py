"""Production's files (deploy/<host>/.env …) sit beside the project but local tasks never read them, and the
backups directory the tool creates is ignored by git. Real `inv` on copies of example/, real git."""
from __future__ import annotations

import errno
import json
import os
import subprocess
import threading

from tests._util import backup_json, sqlite_rows


class Tripwire:
    """A named pipe: whoever opens it for reading is seen (and given poisoned settings). Opening a FIFO
    needs no particular tool, so this proves "never opened" without strace."""

    def __init__(self, path, poison):
        self.path, self.poison = path, poison
        self.opened, self.done = threading.Event(), threading.Event()
        os.makedirs(os.path.dirname(path), exist_ok=True)
        os.mkfifo(path, 0o600)
        self.thread = threading.Thread(target=self.wait, daemon=True)
        self.thread.start()

    def wait(self):
        with open(self.path, "w") as pipe:  # blocks until a reader opens the other end
            if self.done.is_set():
                return
            self.opened.set()
            try:
                pipe.write(self.poison)
            except BrokenPipeError:
                pass

    def disarm(self):
        self.done.set()
        try:
            os.close(os.open(self.path, os.O_RDONLY | os.O_NONBLOCK))  # lets the writer return
        except OSError as exc:  # pragma: no cover
            assert exc.errno == errno.ENOENT
        self.thread.join(10)


def test_local_tasks_never_read_production_files(migrated_site, tmp_path):
    site = migrated_site
    poison_db = tmp_path / "production.sqlite3"
    poison = f"DATABASE_URL=sqlite:///{poison_db}\nDJANGO_SETTINGS_MODULE=mysite.production_only\n"
    # a plain production .env (as `fab setup` expects it) that would send local tasks elsewhere or break them
    (site.root / "deploy" / "prod").mkdir(parents=True)
    (site.root / "deploy" / "prod" / ".env").write_text(poison)
    tripwire = Tripwire(str(site.root / "deploy" / "production" / ".env"), poison)
    try:
        check = site.inv("check", "--json")
        assert check.returncode == 0, check.stderr + check.stdout
        manifest = backup_json(site)
        listed = site.inv("backups")
        assert listed.returncode == 0, listed.stderr
        restored = site.inv("restore", manifest["file"], "--yes")
        assert restored.returncode == 0, restored.stderr + restored.stdout
    finally:
        tripwire.disarm()
    assert not tripwire.opened.is_set(), "a local task opened deploy/production/.env"
    assert manifest["database"] == str(site.db)
    assert sqlite_rows(manifest["path"], "SELECT count(*) FROM django_migrations") == [(34,)]
    assert not poison_db.exists()
    assert "34 applied, none pending" in check.stdout  # the poisoned database would have none

    control = Tripwire(str(tmp_path / "control" / ".env"), poison)  # the tripwire does see a reader
    read = subprocess.run(["cat", control.path], capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    control.disarm()
    assert control.opened.is_set() and read.stdout == poison


def test_backups_directory_is_created_private_and_ignored_by_git(migrated_site):
    site = migrated_site
    subprocess.run(["git", "init", "-q"], cwd=site.root, check=True, stdin=subprocess.DEVNULL)
    manifest = backup_json(site)
    ignore = site.root / "backups" / ".gitignore"
    assert "*" in ignore.read_text().splitlines()
    assert os.stat(site.root / "backups").st_mode & 0o777 == 0o700
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=site.root,
                            capture_output=True, text=True, check=True, stdin=subprocess.DEVNULL).stdout
    assert "backups/" not in status, status
    assert manifest["file"] not in status
    assert "manage.py" in status  # git does see the rest of the project

    ignore.write_text("# mine\n*.sqlite3\n")  # an existing .gitignore is the user's: kept as it is
    backup_json(site)
    assert ignore.read_text() == "# mine\n*.sqlite3\n"


def test_a_production_settings_module_in_the_projects_env_file_is_warned_of_once(migrated_site):
    """cookiecutter-django's merge_production_dotenvs_in_dotenv.py writes production's values into the project's
    .env: every `inv` task then ran on what production's settings name, with no word. A WARN on stderr (a --json
    stays whole) names the module and where it came from; the task runs."""
    site = migrated_site
    (site.root / "mysite" / "production.py").write_text("from .settings import *  # noqa: F401,F403\n")
    env = site.root / ".env"
    before = env.read_text() if env.exists() else ""
    env.write_text(before + "DJANGO_SETTINGS_MODULE=mysite.settings\nDJANGO_SETTINGS_MODULE=mysite.production\n")
    try:
        checked = site.inv("check", "--json")
        status = site.inv("migrations.status")
    finally:
        env.write_text(before)
    assert checked.returncode == 0 and status.returncode == 0, checked.stderr + status.stderr
    warning = "WARN DJANGO_SETTINGS_MODULE=mysite.production (.env): `inv` works on the database and files that"
    assert checked.stderr.count(warning) == 1 and status.stderr.count(warning) == 1, checked.stderr
    assert json.loads(checked.stdout) and "WARN DJANGO" not in checked.stdout
    quiet = site.inv("migrations.status")  # the settings module of this machine: no word
    assert "WARN DJANGO_SETTINGS_MODULE" not in quiet.stderr
