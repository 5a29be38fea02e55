"""Schema drift: the live database's tables, columns, indexes and constraints (Django's introspection on that
connection) against those the applied migrations produce on a scratch database of the same engine."""
import contextlib
import hashlib
import json
import os
import sys
import tempfile

from django.db import connections
from django.db.migrations.executor import MigrationExecutor

from .django_info import engine_for_alias
from .engines import scratch
from .engines.base import RehearsalSkipped
from .migrate import applied_now


def column(introspection, cursor, info):
    try:
        kind = introspection.get_field_type(info.type_code, info)
    except KeyError:
        kind = str(info.type_code)
    length = info.internal_size if info.internal_size not in (None, -1) else info.display_size
    size = [value for value in (length, info.precision, info.scale) if value not in (None, -1, 0)]
    return "%s%s %s" % (kind, "(%s)" % ", ".join(map(str, size)) if size else "", "NULL" if info.null_ok else "NOT NULL")


def constraint(table, details):
    columns = ", ".join(details["columns"] or [])
    if details["primary_key"]:
        return "primary key on %s(%s)" % (table, columns)
    if details["foreign_key"]:
        return "foreign key %s(%s) -> %s(%s)" % (table, columns, details["foreign_key"][0], details["foreign_key"][1])
    if details["unique"]:
        return "unique constraint on %s(%s)" % (table, columns)
    if details["index"]:
        return "index on %s(%s)" % (table, columns)
    return "check constraint on %s(%s)" % (table, columns) if details.get("check") else None


def snapshot(connection):
    """{table: {"columns": {name: description}, "constraints": set of descriptions}}."""
    introspection = connection.introspection
    tables = {}
    with connection.cursor() as cursor:
        for table in introspection.table_names(cursor):
            columns = {info.name: column(introspection, cursor, info)
                       for info in introspection.get_table_description(cursor, table)}
            described = (constraint(table, details) for details in introspection.get_constraints(cursor, table).values())
            tables[table] = {"columns": columns, "constraints": sorted({d for d in described if d})}
    return tables


def differences(live, expected):
    """One line per difference, live against expected."""
    lines = []
    for table in sorted(set(live) - set(expected)):
        lines.append("table %s is in the database but not in the migrations" % table)
    for table in sorted(set(expected) - set(live)):
        lines.append("table %s is missing (the migrations create it)" % table)
    for table in sorted(set(live) & set(expected)):
        have, want = live[table]["columns"], expected[table]["columns"]
        for name in sorted(set(have) - set(want)):
            lines.append("column %s.%s (%s) is in the database but not in the migrations" % (table, name, have[name]))
        for name in sorted(set(want) - set(have)):
            lines.append("column %s.%s (%s) is missing" % (table, name, want[name]))
        for name in sorted(set(have) & set(want)):
            if have[name] != want[name]:
                lines.append("column %s.%s is %s, the migrations make it %s" % (table, name, have[name], want[name]))
        have, want = set(live[table]["constraints"]), set(expected[table]["constraints"])
        lines += ["%s is in the database but not in the migrations" % item for item in sorted(have - want)]
        lines += ["%s is missing" % item for item in sorted(want - have)]
    return lines


@contextlib.contextmanager
def pointed_at(connection, settings):
    original = {key: connection.settings_dict.get(key) for key in settings}
    connection.close()
    connection.settings_dict.update(settings)
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.update(original)


def migrated_to(connection, state):
    executor = MigrationExecutor(connection)
    targets = [(app, names[-1]) for app, names in sorted(state.items()) if names]
    executor.migrate(targets)


CACHE_KEPT = 20  # expected schemas kept in the cache (one per migration state and engine seen)


def cache_dir():
    return os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "deploytasks", "schemas")


def cache_key(connection, state):
    """What the expected schema depends on: the engine and its version, Django's version, the applied migrations
    and their files' bytes. None when a migration's file cannot be read."""
    import django
    from django.db.migrations.loader import MigrationLoader

    loader = MigrationLoader(None, ignore_no_migrations=True)
    server = getattr(connection, "pg_version", None) or getattr(connection, "mysql_version", None) or \
        getattr(connection.Database, "sqlite_version", None)
    digest = hashlib.sha256(json.dumps([connection.vendor, str(server), django.get_version(),
                                        sorted((app, list(names)) for app, names in state.items())]).encode())
    for app, names in sorted(state.items()):
        for name in names:
            migration = loader.disk_migrations.get((app, name))
            path = getattr(sys.modules.get(type(migration).__module__), "__file__", None) if migration else None
            if not path:
                return None
            try:
                with open(path, "rb") as handle:
                    digest.update(handle.read())
            except OSError:
                return None
    return digest.hexdigest()


def expected_schema(alias, database, engine, state):
    """The schema the applied migrations make (cached by cache_key: running every migration on a scratch database
    takes seconds to tens of seconds for a large project, and the live state changes only with a deploy)."""
    key = cache_key(connections[alias], state)
    path = os.path.join(cache_dir(), key + ".json") if key else None
    if path:
        try:
            with open(path) as handle:
                return json.load(handle)
        except (OSError, ValueError):
            pass
    expected = migrated_schema(alias, database, engine, state)
    if path:
        remember(path, expected)
    return expected


def remember(path, expected):
    """Write the cache entry atomically and keep only the newest CACHE_KEPT; a cache that cannot be written is
    no error."""
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        partial = "%s.%d.partial" % (path, os.getpid())
        with open(partial, "w") as handle:
            json.dump(expected, handle)
        os.replace(partial, path)
        entries = sorted((os.path.join(os.path.dirname(path), name) for name in os.listdir(os.path.dirname(path))
                          if name.endswith(".json")), key=os.path.getmtime)
        for old in entries[:-CACHE_KEPT]:
            os.unlink(old)
    except OSError:
        pass


def migrated_schema(alias, database, engine, state):
    connection = connections[alias]
    if database["vendor"] == "sqlite":
        with tempfile.TemporaryDirectory(prefix="deploytasks-schema-") as directory:
            with pointed_at(connection, {"NAME": os.path.join(directory, "schema.sqlite3")}):
                migrated_to(connection, state)
                return snapshot(connection)
    name = scratch.create(engine, "schema")
    try:
        with pointed_at(connection, {"NAME": name}):
            migrated_to(connection, state)
            return snapshot(connection)
    finally:
        scratch.drop(engine, name)


def compare(alias):
    """{tables, differences} or {skipped: reason}."""
    database, engine = engine_for_alias(alias)
    if engine is None or database["vendor"] not in ("sqlite",) + tuple(scratch.QUOTES):
        return {"skipped": "schema comparison supports SQLite, PostgreSQL and MySQL/MariaDB, not %s" % database["vendor"]}
    if not engine.has_data():
        return {"skipped": "there is no database yet"}
    live = snapshot(connections[alias])
    state = applied_now(alias)
    try:
        expected = expected_schema(alias, database, engine, state)
    except RehearsalSkipped as exc:
        return {"skipped": str(exc)}
    return {"tables": len(live), "differences": differences(live, expected)}
