"""Entry: deploy, part 2, inside the new release (the live one keeps serving): system checks, collectstatic,
and when migrations are pending: backup, rehearsal on a copy, migrate. Undoes its migrations on failure."""
import os

from django.core import checks as django_checks
from django.db import connections
from django.db.migrations.exceptions import InconsistentMigrationHistory
from django.db.migrations.executor import MigrationExecutor

from . import gate, hooks, media, migrate_failure, static_files, warm_start
from .django_info import engine_for_alias
from .cancel_watch import interrupted_on_cancel, stopped_on_cancel
from .engines.base import RehearsalSkipped, strictly_refused
from .errors import ServerError
from .journal import note
from .migrate import RehearsalFailed, applied_now, migrate, rehearse, safety_backup
from .migration_lint import enforce
from .results import PredeployResult


def first_line(exc):
    return str(exc).strip().splitlines()[0] if str(exc).strip() else ""


def back_up_and_rehearse(alias, engine, params, result):
    with stopped_on_cancel(params):  # Ctrl-C stops a long dump at once: nothing is applied yet
        manifest = safety_backup(alias, engine, params, "pre-deploy",
                                 "before deploying release %s" % params.get("release"), rehearsal=True)
    if manifest is None:
        result["rehearsed"] = False
        return
    result["backup"] = manifest["path"]
    try:
        note(params, phase="rehearsal")  # a Ctrl-C honoured here finds the copy made while dumping: it goes
    except BaseException:
        engine.discard_rehearsal_copy()
        raise
    try:
        with interrupted_on_cancel(params, connections[alias]):  # Ctrl-C stops the migrations on the copy at once
            rehearse(alias, engine, manifest["path"])
    except RehearsalSkipped as exc:
        if params.get("strict_migrations"):
            raise strictly_refused(exc) from None
        result["rehearsed"] = False
        result["rehearsal_skipped"] = str(exc)
        return
    except RehearsalFailed as failed:
        raise ServerError("migration %sfailed in the rehearsal on a copy of the database, nothing was applied: %s: %s%s"
                          % (failed.migration + " " if failed.migration else "", type(failed.error).__name__,
                             first_line(failed.error), left_by_mysql(engine, failed.error))) from None
    except Exception as exc:
        raise ServerError("the rehearsal on a copy of the database failed, nothing was applied: %s: %s" % (
            type(exc).__name__, first_line(exc))) from None
    result["rehearsed"] = True
    result["copied_while_dumping"] = engine.copied_while_dumping


def private_sqlite(database):
    """An SQLite database (and its -wal, -shm) readable by every local user (Django's migrate makes it 0644: password
    hashes, sessions) loses its permissions for others; its owner's and group's stay, as the app server needs."""
    if database.get("vendor") != "sqlite" or not database.get("name"):
        return
    for path in (database["name"], database["name"] + "-wal", database["name"] + "-shm"):
        try:
            mode = os.stat(path).st_mode
            if mode & 0o007:
                os.chmod(path, mode & 0o7770)
        except OSError:  # absent, or not ours to change: as it was
            pass


LEFT_OVER = ("Duplicate column name", "already exists", "Duplicate key name")  # MySQL's words for what is there


def left_by_mysql(engine, error):
    """A hint when a migration failed on MySQL/MariaDB because what it creates is there already: an earlier
    migration that stopped half-way left its DDL (MySQL cannot roll DDL back), and the copy has it too."""
    if (getattr(engine, "database", None) or {}).get("vendor") != "mysql" or not any(
            words in str(error) for words in LEFT_OVER):
        return ""
    return (" (the live database holds what this migration creates: an earlier migration that stopped half-way left "
            "it, MySQL does not undo DDL; `fab check` lists it under schema: drop it, or restore the backup that "
            "deploy named)")


def load_wsgi_application():
    """Load the new release's WSGI application, middleware included, as the app server will: a release that
    cannot load it is refused before it takes traffic (system checks do not import middleware)."""
    from django.core.servers.basehttp import get_internal_wsgi_application

    try:
        get_internal_wsgi_application()
    except Exception as exc:  # noqa: BLE001 - whatever stops the app server stops the deploy
        cause = exc.__cause__ or exc  # ImproperlyConfigured wraps the import error that says what is wrong
        raise ServerError("the WSGI application of the new release does not load (it would answer no request): "
                          "%s: %s" % (type(cause).__name__, first_line(cause))) from None


def main(params) -> PredeployResult:
    alias = params.get("database", "default")
    database, engine = engine_for_alias(alias)
    result = {"database": database, "checklist": gate.run(alias, params), "media": media.share(params),
              "warm_start": warm_start.started_early}

    if not params.get("checked"):  # a fleet host's staging (fleet_stage) checked this release in this process
        errors = [m for m in django_checks.run_checks(databases=[alias]) if m.is_serious() and not m.is_silenced()]
        if errors:
            raise ServerError("system check failed in the new release: %s" % str(errors[0]).splitlines()[0])
        load_wsgi_application()
    note(params, phase="collectstatic")
    if params.get("collectstatic", True):
        hooks.run(params, "before", "collectstatic")
        result["static"] = static_files.collect(params)
        result["collectstatic"] = result["static"]["collectstatic"]
        hooks.run(params, "after", "collectstatic")

    executor = MigrationExecutor(connections[alias])
    conflicts = executor.loader.detect_conflicts()
    if conflicts:
        app, names = sorted(conflicts.items())[0]
        raise ServerError("conflicting migrations in %s (%s): run `manage.py makemigrations --merge` and commit" % (
            app, ", ".join(sorted(names))))
    try:  # migrate would refuse it too; the plan alone would skip what is unapplied below an applied migration
        executor.loader.check_consistent_history(connections[alias])
    except InconsistentMigrationHistory as exc:
        raise ServerError("the database's migration history is inconsistent (%s): nothing was changed; apply or "
                          "record the missing migration by hand (manage.py migrate APP NAME), or restore a backup"
                          % exc) from None
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    before = applied_now(alias)
    result["state_before"] = before
    result["pending"] = ["%s.%s" % (m.app_label, m.name) for m, backwards in plan if not backwards]
    result["lint"] = enforce(executor.loader, plan, database["vendor"], params)
    hooks.run(params, "before", "migrate")
    if result["pending"]:
        note(params, phase="backup")
        back_up_and_rehearse(alias, engine, params, result)
        note(params, phase="migrate", backup=result.get("backup"), migrations_before=before)
        note(params, migrate_started=True)
        try:
            migrate(alias)
        except Exception as exc:
            failure = migrate_failure.after(alias, plan, before, exc, result.get("backup"), database["vendor"])
            if result.get("rehearsal_skipped"):  # the deploy's report of it never comes: the error says so
                failure = ServerError("%s (on the live database, not rehearsed on a copy: %s; backup taken before: %s)"
                                      % (failure, result["rehearsal_skipped"], result.get("backup")))
            raise failure from None
    hooks.run(params, "after", "migrate")
    result["state_after"] = applied_now(alias)
    private_sqlite(database)
    return result
