"""The introspection, checklist and backup scripts on an older supported Django (the example covers 5.2)."""
import json
import subprocess
import sys

import pytest

from tests import _forkserver as tools
from tests._util import clean_env, write_config


@pytest.fixture(scope="module")
def django42(tmp_path_factory):
    base = tmp_path_factory.mktemp("django42")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin/python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                    "django>=4.2,<4.3"], check=True, stdin=subprocess.DEVNULL)
    project = base / "proj"
    project.mkdir()
    subprocess.run([str(venv / "bin/django-admin"), "startproject", "site42", str(project)], check=True)
    subprocess.run([str(venv / "bin/python"), "manage.py", "startapp", "notes"], cwd=project, check=True)
    (project / "notes" / "models.py").write_text(
        "from django.db import models\n\n\nclass Note(models.Model):\n    text = models.TextField()\n"
    )
    settings = project / "site42" / "settings.py"
    settings.write_text(settings.read_text().replace("INSTALLED_APPS = [", "INSTALLED_APPS = [\n    'notes',"))
    subprocess.run([str(venv / "bin/python"), "manage.py", "makemigrations", "notes"], cwd=project, check=True)
    (project / "tasks.py").write_text("from deploytasks.local import ns\n")
    (project / "requirements.txt").write_text("django>=4.2,<4.3\n")
    write_config(project, venv=str(venv))
    return project


def inv(project, *args):
    return tools.run("inv", args, cwd=project, env=clean_env(), timeout=300)


def test_status_check_and_backup_on_django_42(django42):
    status = inv(django42, "migrations.status", "--json")
    assert status.returncode == 0, status.stderr
    apps = {row["app"]: row for row in json.loads(status.stdout)["apps"]}
    assert apps["notes"]["files"] == 1 and apps["notes"]["pending"] == 1

    migrated = inv(django42, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    check = inv(django42, "check", "--json")
    assert check.returncode == 0, check.stdout + check.stderr
    verdicts = {item["item"]: item["verdict"] for item in json.loads(check.stdout)["items"]}
    assert verdicts["migrations"] == "PASS" and verdicts["model changes"] == "PASS"

    backup = inv(django42, "backup", "--json")
    assert backup.returncode == 0, backup.stderr
    manifest = json.loads(backup.stdout)
    assert manifest["migrations"]["notes"] == ["0001_initial"]


def test_the_gunicorn_conf_imports_djangos_whole_framework_list_on_django_42(django42):
    from tests.unit.test_gunicorn_conf import framework_import

    first, again, last, *_ = framework_import(str(django42.parent / "venv" / "bin" / "python"))
    assert first == again and first.endswith(f"({last.split()[-1]} modules)"), (first, last)
    assert last.startswith("configured False"), last
