"""Entry point name -> "module:function" (relative to this package), imported only when it runs, so a
command loads just what it needs (a SQLite site never imports the PostgreSQL code)."""
import importlib

ENTRIES = {
    # run with the interpreter alone
    "list_backups": "manifests:list_backups",
    "requirements_hash": "requirements:report",
    "prepare_release": "prepare_release:main",
    "finalize_release": "finalize_release:main",
    "server_admin": "server_admin:main",
    "deploy_supervised": "supervisor:follow",
    "supervisor": "supervisor:supervise",
    "deploy_outcome": "supervisor:outcome",
    "fleet_step": "fleet_step:main",
    "venv_build": "venv_build:main",
    "media_delta": "media_delta:main",
    # run with Django set up (manage.py shell, or settings only)
    "introspect": "introspect:main",
    "deploy_plan": "deploy_plan:main",
    "superuser": "superuser:main",
    "backup": "backup:main",
    "create_database": "create_database:main",
    "database_vendor": "database_vendor:main",
    "restore": "restore:main",
    "restore_warm": "restore:warm",
    "early_safety": "early_safety:main",
    "predeploy": "predeploy:main",
    "health_request": "health_diagnosis:main",
    "collect_static": "static_files:ensure",
    "fleet_stage": "fleet_stage:main",
    "fleet_predeploy": "fleet_stage:migrate",
    "migrate_to_state": "migrate:to_state",
    "schema_left_behind": "migrate:left_behind",
    "media_backup": "media_archive:backup",
    "media_restore": "media_archive:restore",
}


def resolve(name):
    """The function of entry `name` (KeyError for an unknown one)."""
    module_name, function = ENTRIES[name].split(":")
    module = importlib.import_module("." + module_name, __package__)
    return getattr(module, function)
