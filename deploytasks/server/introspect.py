"""Entry: everything deploytasks needs to know about a project, in one Django start-up."""
import os
import sys

import django
from django.db import DatabaseError, connections

from . import squashes
from .django_info import (apps_migrated_into, database_info, full_plan, is_reversible, load_migrations,
                          migration_files, other_aliases)
from .migration_lint import lint
from .results import Introspection
from .schema_drift import compare


def main(params) -> Introspection:
    alias = params.get("database", "default")
    result = {"django": django.get_version(), "python": sys.version.split()[0], "database": database_info(alias)}
    others = other_aliases(alias)
    if others:  # the checklist says what deploytasks leaves to the project on them
        result["other_databases"] = [{"alias": other, "apps": apps_migrated_into(other)} for other in others]
    # Connecting to a missing SQLite file creates it: read nothing from it, it has nothing applied.
    missing = result["database"]["vendor"] == "sqlite" and not os.path.exists(result["database"]["name"])
    if result["database"]["vendor"] == "sqlite":
        result["database"]["exists"] = not missing
    loader = load_migrations(None if missing else alias)
    files = migration_files(loader)

    applied_at = {}
    result["database"]["reachable"] = True
    try:
        from django.db.migrations.recorder import MigrationRecorder

        recorder = MigrationRecorder(connections[alias])
        if not missing and recorder.has_table():
            for app, name, applied in recorder.migration_qs.values_list("app", "name", "applied"):
                applied_at[(app, name)] = applied.isoformat() if applied else None
    except DatabaseError as exc:
        result["database"]["reachable"] = False
        result["database"]["error"] = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__

    conflicts = {app: sorted(names) for app, names in loader.detect_conflicts().items()}
    applied = squashes.applied_at(loader, applied_at)
    order = {key: index for index, key in enumerate(squashes.graph_order(loader))}
    apps = {}
    for app_label, names in sorted(files.items()):
        migrations = []
        for name in names:
            migration = loader.graph.nodes[(app_label, name)]
            migrations.append({
                "name": name,
                "applied": applied.get((app_label, name)),
                "is_applied": (app_label, name) in applied,
                "order": order[(app_label, name)],
                "reversible": is_reversible(migration),
                "children": sorted("%s.%s" % child.key for child in loader.graph.node_map[(app_label, name)].children),
            })
        leaves = sorted(name for app, name in loader.graph.leaf_nodes() if app == app_label)
        apps[app_label] = {"migrations": migrations, "leaves": leaves, "conflicts": conflicts.get(app_label, [])}
    unknown = ["%s.%s" % key for key in squashes.unknown(loader, applied_at)]
    result.update({"apps": apps, "conflicts": conflicts, "unknown_applied": unknown})

    if params.get("plan", True) and not conflicts and result["database"].get("reachable"):
        from django.db.migrations.executor import MigrationExecutor

        if missing:
            plan = full_plan(loader)
        else:
            executor = MigrationExecutor(connections[alias])
            plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        result["lint"] = lint(loader, plan, result["database"]["vendor"], params.get("safe_migrations") or (),
                              params.get("strict_migrations"))
        result["plan"] = [
            {
                "app": migration.app_label,
                "name": migration.name,
                "backwards": backwards,
                "reversible": is_reversible(migration),
                "operations": [operation.describe() for operation in migration.operations],
            }
            for migration, backwards in plan
        ]

    if params.get("changes", True):
        try:
            from django.apps import apps as django_apps
            from django.db.migrations.autodetector import MigrationAutodetector
            from django.db.migrations.loader import MigrationLoader
            from django.db.migrations.questioner import NonInteractiveMigrationQuestioner
            from django.db.migrations.state import ProjectState

            offline = MigrationLoader(None, ignore_no_migrations=True)
            detector = MigrationAutodetector(
                offline.project_state(),
                ProjectState.from_apps(django_apps),
                NonInteractiveMigrationQuestioner(specified_apps=set(), dry_run=True),
            )
            changes = detector.changes(graph=offline.graph)
            result["changes"] = {
                app: [
                    {"name": migration.name, "operations": [op.describe() for op in migration.operations]}
                    for migration in migrations
                ]
                for app, migrations in changes.items()
            }
        except Exception as exc:  # reported as a failed check item, not a crash
            result["changes_error"] = "%s: %s" % (type(exc).__name__, exc)

    if params.get("schema") and result["database"].get("reachable") and not conflicts:
        result["schema"] = compare(alias)
    if params.get("healthcheck"):  # the live release: does the app server answer?
        from .releases import health_problem

        result["health"] = {"url": params["healthcheck"], "problem": health_problem(params["healthcheck"], None, 5)}

    if params.get("checks", True):
        from django.core import checks

        messages = [m for m in checks.run_checks(databases=None if missing else [alias]) if not m.is_silenced()]
        result["checks"] = [
            {"level": "error" if m.is_serious() else "warning", "id": m.id, "message": str(m)}
            for m in messages
        ]
    return result

