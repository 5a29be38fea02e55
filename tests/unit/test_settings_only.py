"""server/settings_only.py: manage.py run for its set-up only (the settings-only start of backups, the restore's
safety dump), with a stand-in for django.core.management unless manage.py needs more of it."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from deploytasks.bundle import SETTINGS_BOOTSTRAP

ROOT = Path(__file__).resolve().parents[2]

STANDARD = """
import os, sys

def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "site_settings")
    try:
        from django.core.management import execute_from_command_line
    except ImportError as exc:
        raise ImportError("Couldn't import Django.") from exc
    execute_from_command_line(sys.argv)

if __name__ == "__main__":
    main()
"""
VARIANTS = {
    "dotted": """
        import os, sys
        import django.core.management
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "site_settings")
        django.core.management.execute_from_command_line(sys.argv)
        """,
    "runserver's port": """
        import os, sys
        from django.core.management import execute_from_command_line
        from django.core.management.commands.runserver import Command as runserver
        runserver.default_port = "8080"
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "site_settings")
        execute_from_command_line(sys.argv)
        """,
    "call_command": """
        import os, sys
        from django.core.management import call_command, execute_from_command_line
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "site_settings")
        assert callable(call_command)
        execute_from_command_line(sys.argv)
        """,
}
REPORT = ("from django.conf import settings; import json; print(json.dumps([settings.SITE_NAME, "
          "'django.core.management' in sys.modules, 'django.urls' in sys.modules]))")


def settings_only(tmp_path, manage):
    (tmp_path / "site_settings.py").write_text("SITE_NAME = 'example'\nSECRET_KEY = 'x'\n")
    (tmp_path / "manage.py").write_text(textwrap.dedent(manage))
    code = f"import sys; sys.path.insert(0, {str(ROOT)!r}); from deploytasks.server.settings_only import set_up; "
    done = subprocess.run([sys.executable, "-c", code + "set_up(sys.argv[1]); " + REPORT, "manage.py"], cwd=tmp_path,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_standard_manage_py_sets_the_settings_up_without_loading_the_management_package(tmp_path):
    assert settings_only(tmp_path, STANDARD) == '["example", false, false]'


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_manage_py_that_needs_more_of_the_management_package_gets_it_and_runs_no_command(tmp_path, variant):
    name, in_modules, _ = settings_only(tmp_path, VARIANTS[variant]).strip("[]").split(", ")
    assert name == '"example"'
    assert in_modules == ("false" if variant == "dotted" else "true")  # the real package once it is used


def test_the_settings_only_start_is_one_line_for_dry_runs_and_runs_set_up_before_the_request():
    assert "\n" not in SETTINGS_BOOTSTRAP
    assert SETTINGS_BOOTSTRAP.index("set_up(sys.argv[1])") < SETTINGS_BOOTSTRAP.index("runner import main")


ENGINE_REPORT = textwrap.dedent("""
    import json, sys
    from deploytasks.server.django_info import engine_for_alias
    from deploytasks.server.errors import ServerError
    try:
        database, engine = engine_for_alias("default", "no backups of %s", settings_only=True)
        found = [database["vendor"], database["name"], type(engine).__name__]
    except ServerError as exc:
        found = [exc.message]
    print(json.dumps(found + ["django.db" in sys.modules]))
    """)


def engine_found(tmp_path, databases):
    (tmp_path / "site_settings.py").write_text(f"from pathlib import Path\nSECRET_KEY = 'x'\nDATABASES = {databases}\n")
    (tmp_path / "manage.py").write_text(textwrap.dedent(STANDARD))
    code = f"import sys; sys.path.insert(0, {str(ROOT)!r}); from deploytasks.server.settings_only import set_up; "
    tools = tmp_path / "bin"  # the engine looks for PostgreSQL's client tools on PATH; none of them runs here
    tools.mkdir(exist_ok=True)
    for name in ("pg_dump", "pg_restore", "psql"):
        (tools / name).write_text("#!/bin/sh\nexit 1\n")
        (tools / name).chmod(0o755)
    done = subprocess.run([sys.executable, "-c", code + "set_up(sys.argv[1])\n" + ENGINE_REPORT, "manage.py"],
                          cwd=tmp_path, capture_output=True, text=True,
                          env=dict(os.environ, PATH=f"{tools}{os.pathsep}{os.environ['PATH']}"))
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_settings_only_backup_of_sqlite_or_postgresql_reads_the_settings_without_loading_django_db(tmp_path):
    sqlite = "{'default': {'ENGINE': 'django.db.backends.sqlite3', 'NAME': Path('/srv/app/db.sqlite3')}}"
    assert engine_found(tmp_path, sqlite) == '["sqlite", "/srv/app/db.sqlite3", "SQLite", false]'
    postgresql = "{'default': {'ENGINE': 'django.db.backends.postgresql', 'NAME': 'shop', 'HOST': 'db'}}"
    assert engine_found(tmp_path, postgresql) == '["postgresql", "shop", "PostgreSQL", false]'


def test_databases_django_fills_in_itself_are_left_to_django(tmp_path):
    assert engine_found(tmp_path, "{}") == '["no backups of unknown", true]'  # Django's stand-in for no database
