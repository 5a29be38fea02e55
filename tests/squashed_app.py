"""A `ledger` app added to a copy of the example project, with a squashed migration, in the stages a real
project goes through:

- "before": 0001_initial, 0002_entry_note, 0003_seed (a RunPython without reverse: irreversible);
- "squashed": plus 0001_squashed_0003_seed (replaces the three, irreversible too) and 0004_entry_memo, which
  was written before the squash and still depends on 0003_seed (Django remaps it to the squash);
- "trimmed": the replaced files deleted and 0004 pointing at the squash, as Django's docs say to finish;
- "squash alone": the three and the squash (reversible here), nothing after it (a fresh database gets the squash
  applied directly, and a release records it under its own name only).

A database migrated at "before" then run at "squashed" holds only the replaced names; one migrated at
"squashed" holds the replaced names and the squashed one (recorded last, after 0004)."""
from pathlib import Path

LEDGER = "ledger"
SQUASHED = "0001_squashed_0003_seed"
REPLACED = ["0001_initial", "0002_entry_note", "0003_seed"]
LATER = "0004_entry_memo"

MODELS = {
    "before": "amount = models.IntegerField()\n    note = models.CharField(max_length=100, default='')\n",
    "squashed": "amount = models.IntegerField()\n    note = models.CharField(max_length=100, default='')\n"
                "    memo = models.CharField(max_length=100, default='')\n",
}

HEADER = "from django.db import migrations, models\n\n\n"
SEED = ("def seed(apps, schema_editor):\n"
        "    apps.get_model('ledger', 'Entry').objects.create(amount=1, note='opening balance')\n\n\n")
ENTRY = ("migrations.CreateModel(name='Entry', fields=[\n"
         "            ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),\n"
         "            ('amount', models.IntegerField()),\n")
NOTE_FIELD = "            ('note', models.CharField(default='', max_length=100)),\n"

FILES = {
    "0001_initial": HEADER + "class Migration(migrations.Migration):\n    initial = True\n    dependencies = []\n"
                    "    operations = [\n        " + ENTRY + "        ]),\n    ]\n",
    "0002_entry_note": HEADER + "class Migration(migrations.Migration):\n"
                       "    dependencies = [('ledger', '0001_initial')]\n"
                       "    operations = [migrations.AddField('entry', 'note', models.CharField(default='', max_length=100))]\n",
    "0003_seed": HEADER + SEED + "class Migration(migrations.Migration):\n"
                 "    dependencies = [('ledger', '0002_entry_note')]\n"
                 "    operations = [migrations.RunPython(seed)]\n",
    SQUASHED: HEADER + SEED + "class Migration(migrations.Migration):\n    initial = True\n"
              "    replaces = [('ledger', '0001_initial'), ('ledger', '0002_entry_note'), ('ledger', '0003_seed')]\n"
              "    dependencies = []\n"
              "    operations = [\n        " + ENTRY + NOTE_FIELD + "        ]),\n"
              "        migrations.RunPython(seed),\n    ]\n",
}


def later(depends_on):
    return (HEADER + "class Migration(migrations.Migration):\n"
            f"    dependencies = [('ledger', '{depends_on}')]\n"
            "    operations = [migrations.AddField('entry', 'memo', models.CharField(default='', max_length=100))]\n")


def add_ledger(root: Path, stage: str) -> None:
    """Write (or move to) `stage` of the ledger app in a project copy at root; registers it in INSTALLED_APPS."""
    app = root / LEDGER
    migrations = app / "migrations"
    migrations.mkdir(parents=True, exist_ok=True)
    (app / "__init__.py").write_text("")
    (migrations / "__init__.py").write_text("")
    (app / "models.py").write_text("from django.db import models\n\n\nclass Entry(models.Model):\n    "
                                   + MODELS["before" if stage in ("before", "squash alone") else "squashed"])
    names = {"before": REPLACED, "squashed": REPLACED + [SQUASHED], "trimmed": [SQUASHED],
             "squash alone": REPLACED + [SQUASHED]}[stage]
    for stale in migrations.glob("0*.py"):
        stale.unlink()
    for name in names:
        text = FILES[name]
        if stage == "squash alone" and name == SQUASHED:  # reversible: a rollback could unapply it
            text = text.replace("migrations.RunPython(seed),", "migrations.RunPython(seed, migrations.RunPython.noop),")
        (migrations / f"{name}.py").write_text(text)
    if stage not in ("before", "squash alone"):
        (migrations / f"{LATER}.py").write_text(later("0003_seed" if stage == "squashed" else SQUASHED))
    for cache in migrations.glob("__pycache__"):
        for compiled in cache.iterdir():
            compiled.unlink()
    settings = root / "mysite" / "settings.py"
    text = settings.read_text()
    if f'"{LEDGER}",' not in text:
        settings.write_text(text.replace('    "accounts",\n]', f'    "accounts",\n    "{LEDGER}",\n]', 1))
