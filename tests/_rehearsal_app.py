"""A fixture app, `rehearse`, whose second migration makes `name` unique: fine on an empty table, failing on a
table with duplicate names; and the pre-deploy entry run against a site the way a deploy runs it."""
from __future__ import annotations

import invoke

from deploytasks.django import run_django_script
from deploytasks.project import Project

INITIAL = '''from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [migrations.CreateModel("Thing", [
        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
        ("name", models.CharField(max_length=20)),
    ])]
'''
UNIQUE = '''from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("rehearse", "0001_initial")]
    operations = [migrations.AlterField("thing", "name", models.CharField(max_length=20, unique=True))]
'''
MODELS = "from django.db import models\n\n\nclass Thing(models.Model):\n    name = models.CharField(max_length=20%s)\n"


def add_app(root):
    app = root / "rehearse"
    (app / "migrations").mkdir(parents=True)
    (app / "__init__.py").write_text("")
    (app / "migrations" / "__init__.py").write_text("")
    (app / "migrations" / "0001_initial.py").write_text(INITIAL)
    (app / "models.py").write_text(MODELS % "")
    settings = root / "mysite" / "settings.py"
    settings.write_text(settings.read_text() + '\nINSTALLED_APPS += ["rehearse"]\n')


def add_unique(root):
    (root / "rehearse" / "migrations" / "0002_unique.py").write_text(UNIQUE)
    (root / "rehearse" / "models.py").write_text(MODELS % ", unique=True")


def predeploy(site, **params):
    """The deploy's server step (checks, backup, rehearsal on a copy, migrate) in the site, as a deploy runs it."""
    project = Project(root=str(site.root), base_python="python3", venv=str(site.venv))
    params = {"database": "default", "collectstatic": False, "release": "test", "backup_dest": str(site.root / "backups"),
              "keep": 0, "version": "test", "host": "test", **params}
    return run_django_script(invoke.Context(), project, "predeploy", params, what="pre-deploy checks", changes=True)
