"""A fixture app, `lintcheck`, for the migration safety lint: 0001 creates the models, and every later
migration does exactly one thing one lint rule is about (or something that is safe)."""
from __future__ import annotations

from pathlib import Path

HEADER = "from django.db import migrations, models\n\n\n"

INITIAL = HEADER + '''class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel("Item", [
            ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
            ("title", models.CharField(max_length=50, null=True)),
            ("count", models.IntegerField()),
            ("code", models.CharField(max_length=10)),
            ("legacy", models.CharField(max_length=10, null=True)),
            ("slug", models.SlugField(blank=True)),
        ]),
        migrations.CreateModel("Old", [
            ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
        ]),
        migrations.CreateModel("Gone", [
            ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
        ]),
    ]
'''

# name -> (operations source, the rule it breaks or None)
STEPS = [
    ("0002_remove_field", 'migrations.RemoveField("item", "legacy")', "remove-field"),
    ("0003_delete_model", 'migrations.DeleteModel("Gone")', "delete-model"),
    ("0004_rename_field", 'migrations.RenameField("item", "code", "ref")', "rename-field"),
    ("0005_rename_model", 'migrations.RenameModel("Old", "New"), migrations.AlterField("new", "id", '  # as makemigrations
     'models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID"))',  # writes both
     "rename-model"),
    ("0006_add_not_null", 'migrations.AddField("item", "size", models.IntegerField(default=0))', "add-not-null"),
    ("0007_alter_not_null", 'migrations.AlterField("item", "title", models.CharField(max_length=50, default=""))',
     "alter-not-null"),
    ("0008_alter_type", 'migrations.AlterField("item", "count", models.BigIntegerField())', "alter-type"),
    ("0009_add_index", 'migrations.AddIndex("item", models.Index(fields=["ref"], name="item_ref_idx"))', "index-locks"),
    ("0010_run_python", 'migrations.RunPython(forwards)', "irreversible"),
    ("0011_safe_adds", 'migrations.AddField("item", "note", models.CharField(max_length=10, null=True)), '
                       'migrations.AddField("item", "level", models.IntegerField(db_default=1))', None),
    ("0012_create_and_fill", 'migrations.CreateModel("Fresh", [("id", models.BigAutoField(auto_created=True, '
                             'primary_key=True, serialize=False, verbose_name="ID"))]), '
                             'migrations.AddField("fresh", "extra", models.IntegerField(default=0))', None),
    ("0013_slug_unique", 'migrations.AlterField("item", "slug", models.SlugField(blank=True, unique=True))',
     "index-locks"),  # already db_index: the unique constraint is what is new
]
FLAGGED = {f"lintcheck.{name}": rule for name, _, rule in STEPS if rule}

MODELS = '''from django.db import models


class Item(models.Model):
    title = models.CharField(max_length=50, default="")
    count = models.BigIntegerField()
    ref = models.CharField(max_length=10)
    size = models.IntegerField(default=0)
    note = models.CharField(max_length=10, null=True)
    level = models.IntegerField(db_default=1)
    slug = models.SlugField(blank=True, unique=True)

    class Meta:
        indexes = [models.Index(fields=["ref"], name="item_ref_idx")]


class New(models.Model):
    pass


class Fresh(models.Model):
    extra = models.IntegerField(default=0)
'''

INITIAL_MODELS = '''from django.db import models


class Item(models.Model):
    title = models.CharField(max_length=50, null=True)
    count = models.IntegerField()
    code = models.CharField(max_length=10)
    legacy = models.CharField(max_length=10, null=True)
    slug = models.SlugField(blank=True)


class Old(models.Model):
    pass


class Gone(models.Model):
    pass
'''


def add_app(root: Path) -> Path:
    """The app at its first migration, installed in the site's settings."""
    app = root / "lintcheck"
    (app / "migrations").mkdir(parents=True)
    (app / "__init__.py").write_text("")
    (app / "migrations" / "__init__.py").write_text("")
    (app / "migrations" / "0001_initial.py").write_text(INITIAL)
    (app / "models.py").write_text(INITIAL_MODELS)
    settings = root / "mysite" / "settings.py"
    settings.write_text(settings.read_text() + '\nINSTALLED_APPS += ["lintcheck"]\n')
    return app


def add_steps(root: Path, marked=()) -> None:
    """The later migrations (those named in `marked` carry the reviewed-as-safe marker) and the final models."""
    app = root / "lintcheck"
    previous = "0001_initial"
    for name, operations, _ in STEPS:
        extra = "\n\ndef forwards(apps, schema_editor):\n    pass\n" if "forwards" in operations else ""
        marker = "# deploytasks: safe (reviewed)\n" if name in marked else ""
        (app / "migrations" / f"{name}.py").write_text(
            marker + HEADER + extra + f"\n\nclass Migration(migrations.Migration):\n"
            f"    dependencies = [(\"lintcheck\", \"{previous}\")]\n    operations = [{operations}]\n")
        previous = name
    (app / "models.py").write_text(MODELS)
