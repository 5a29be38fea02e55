"""What Django says about the project (imported only by the entries that run with Django set up; django.db is
imported where it is used: a settings-only backup of SQLite or PostgreSQL never needs it)."""


def database_info(alias):
    from django.db import connections

    connection = connections[alias]
    settings_dict = connection.settings_dict
    return {
        "alias": alias,
        "engine": settings_dict.get("ENGINE", ""),
        "vendor": connection.vendor,
        "name": str(settings_dict.get("NAME") or ""),
        "host": settings_dict.get("HOST") or "",
        "port": str(settings_dict.get("PORT") or ""),
        "user": settings_dict.get("USER") or "",
    }


def set_up_apps():
    """The app registry for an entry started with settings only (it started slow work first, e.g. a dump)."""
    from django.apps import apps

    if not apps.ready:
        import django

        django.setup()


def load_migrations(alias):
    """The migration graph, with the applied set read from `alias` (None: offline, nothing applied)."""
    from django.db import connections
    from django.db.migrations.loader import MigrationLoader

    return MigrationLoader(connections[alias] if alias else None, ignore_no_migrations=True)


def migration_files(loader):
    """{app: [migration names in dependency order]} for every app with migrations."""
    graph = loader.graph
    files = {}
    for leaf in sorted(graph.leaf_nodes()):
        for app_label, name in graph.forwards_plan(leaf):
            names = files.setdefault(app_label, [])
            if name not in names:
                names.append(name)
    return files


def full_plan(loader):
    """`migrate`'s plan for an empty database, computed without connecting to it."""
    plan = []
    for leaf in sorted(loader.graph.leaf_nodes()):
        for key in loader.graph.forwards_plan(leaf):
            if (loader.graph.nodes[key], False) not in plan:
                plan.append((loader.graph.nodes[key], False))
    return plan


def is_reversible(migration):
    return all(getattr(operation, "reversible", True) for operation in migration.operations)


# ENGINEs whose engine needs only their settings, read without importing django.db and the backend (psycopg and
# Django's ORM: about 0.3 s of CPU; django.db and the SQLite backend: about 0.1 s, the first tenth of an SQLite backup).
VENDOR_OF_ENGINE = {"django.db.backends.postgresql": "postgresql", "django.db.backends.postgresql_psycopg2": "postgresql",
                    "django.db.backends.sqlite3": "sqlite"}


class SettingsOnly:
    """Stands in for a Django connection where only its settings are read: nothing to close."""

    def __init__(self, settings_dict):
        self.settings_dict = settings_dict

    def close(self):
        pass


def engine_for_alias(alias, unsupported=None, settings_only=False):
    """(database info, its engine) for a Django database alias (see engines.engine_for). settings_only: for an
    ENGINE in VENDOR_OF_ENGINE, the database backend is not loaded (the engine only reads its settings)."""
    from .engines import engine_for

    settings_dict = configured_database(alias) if settings_only else None
    vendor = settings_dict is not None and VENDOR_OF_ENGINE.get(settings_dict.get("ENGINE"))
    if vendor:
        database = {"alias": alias, "engine": settings_dict["ENGINE"], "vendor": vendor,
                    "name": str(settings_dict.get("NAME") or ""), "host": settings_dict.get("HOST") or "",
                    "port": str(settings_dict.get("PORT") or ""), "user": settings_dict.get("USER") or ""}
        return database, engine_for(database, SettingsOnly(settings_dict), unsupported)
    from django.db import connections

    database = database_info(alias)
    return database, engine_for(database, connections[alias], unsupported)


def configured_database(alias):
    """settings.DATABASES[alias] as written, or None (not there, or not a dict: Django's own handling then decides)."""
    from django.conf import settings

    databases = getattr(settings, "DATABASES", None)
    entry = databases.get(alias) if isinstance(databases, dict) else None
    return entry if isinstance(entry, dict) else None


def other_aliases(alias) -> list:
    """The DATABASES aliases besides `alias`, sorted (read from the settings: no app registry needed)."""
    from django.conf import settings

    databases = getattr(settings, "DATABASES", None)
    return sorted(name for name in databases if name != alias) if isinstance(databases, dict) else []


def apps_migrated_into(alias) -> list:
    """The app labels with a model `manage.py migrate --database alias` would create a table for (the routers'
    allow_migrate and the model's own managed/proxy/required_db_vendor decide, as migrate's operations ask)."""
    from django.apps import apps
    from django.db import router

    return sorted({model._meta.app_label for model in apps.get_models(include_auto_created=True)
                   if router.allow_migrate_model(alias, model)})


def has_tables(alias):
    """Whether the database holds any table (an SQLite file a connection just created holds none)."""
    from django.db import connections

    with connections[alias].cursor() as cursor:
        return bool(connections[alias].introspection.table_names(cursor))
