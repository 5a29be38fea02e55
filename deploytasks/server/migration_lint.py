"""The migration safety lint: pending operations that break the old code still serving during a deploy, lock
big tables, or cannot be undone. Reads Django's migration objects (never the files' text, but for the
`# deploytasks: safe` marker a reviewer puts in one)."""
import inspect

from django.db.migrations import operations as ops
from django.db.models.fields import NOT_PROVIDED

SAFE_MARKER = "# deploytasks: safe"

TWO_RELEASES = "expand/contract over two releases"
WHY_INSTEAD = {
    "remove-field": ("the live code still selects and inserts the column: its queries fail as soon as it is gone",
                     TWO_RELEASES + ": ship code that no longer uses the field (SeparateDatabaseAndState removes it "
                     "from the state only), drop the column in the next release"),
    "delete-model": ("the live code still queries the table: every request using it fails once it is dropped",
                     TWO_RELEASES + ": stop using the model first, delete it in the next release"),
    "rename-field": ("the live code still uses the old column name until the switch",
                     TWO_RELEASES + ": add the new field and copy the data, drop the old one later; or keep the "
                     "column with db_column and rename only in the state (SeparateDatabaseAndState)"),
    "rename-model": ("the live code still uses the old table name until the switch",
                     "keep the table with Meta.db_table and rename only in the state (SeparateDatabaseAndState)"),
    "add-not-null": ("rows the live code inserts have no value for the new NOT NULL column (Django drops the "
                     "default after adding it): they fail until the switch",
                     "give the field db_default (Django 5.0+) or null=True, and make it NOT NULL in a later release"),
    "alter-not-null": ("NOT NULL scans and locks the whole table, fails on existing NULLs, and the live code may "
                       "still write NULL",
                       TWO_RELEASES + ": backfill and stop writing NULL first, then make it NOT NULL"),
    "alter-type": ("changing a column's type rewrites the table under an exclusive lock, and the live code may "
                   "write values the new type refuses",
                   "add a new column of the new type, backfill it, switch the code, drop the old column later"),
    "index-locks": ("building an index or unique constraint without CONCURRENTLY blocks writes to the table "
                    "for as long as it takes",
                    "AddIndexConcurrently (django.contrib.postgres.operations) in a non-atomic migration; for a "
                    "unique constraint, a unique index built concurrently first"),
    "irreversible": ("it has no reverse, so a rollback cannot unapply it: only a restore can",
                     "give RunPython a reverse_code (migrations.RunPython.noop if nothing to undo) or RunSQL a "
                     "reverse_sql"),
}
RULES = list(WHY_INSTEAD)
CONCURRENT = {"AddIndexConcurrently", "RemoveIndexConcurrently", "AddConstraintNotValid", "ValidateConstraint"}


def indexed(field):
    return bool(getattr(field, "unique", False) or getattr(field, "db_index", False)) and not field.primary_key


def has_db_default(field):
    return getattr(field, "db_default", NOT_PROVIDED) is not NOT_PROVIDED


def column_type(field):
    """What decides a column's type, without a connection: the field class and its size arguments."""
    return (field.get_internal_type(), getattr(field, "max_length", None), getattr(field, "max_digits", None),
            getattr(field, "decimal_places", None))


class Linter:
    def __init__(self, loader, vendor):
        self.loader = loader
        self.vendor = vendor
        self.created = set()  # (app, model) made by the plan itself: the live code does not use them

    def lint_migration(self, migration):
        """[(operation, rule)] of one migration. The models' state is built only when an AlterField needs it (the
        state before the migration, then every operation before that one: a RenameModel, say); where Django cannot
        build it the rules that compare old and new fields are left out, never the lint's run."""
        rules, state, before = [], None, []
        for operation in migration.operations:
            if isinstance(operation, ops.AlterField) and state is None:
                state = self.state_before(migration, before)
            rules += [(operation, rule) for rule in self.rules_for(migration.app_label, operation, state or None)]
            if state:
                try:
                    operation.state_forwards(migration.app_label, state)
                except Exception:  # noqa: BLE001 - a state Django cannot follow: no comparisons from here on
                    state = False
            before.append(operation)
        return rules

    def state_before(self, migration, operations):
        """The project's models as `operations` (the migration's first ones) leave them, or False."""
        try:
            state = self.loader.project_state((migration.app_label, migration.name), at_end=False)
            for operation in operations:
                operation.state_forwards(migration.app_label, state)
        except Exception:  # noqa: BLE001 - see lint_migration
            return False
        return state

    def rules_for(self, app, operation, state):
        name = type(operation).__name__
        if isinstance(operation, ops.SeparateDatabaseAndState):
            return [rule for inner in operation.database_operations for rule in self.rules_for(app, inner, None)]
        if isinstance(operation, ops.CreateModel):
            self.created.add((app, operation.name_lower))
            return []
        if isinstance(operation, (ops.RunPython, ops.RunSQL)):
            return [] if operation.reversible else ["irreversible"]
        model = getattr(operation, "model_name_lower", None) or getattr(operation, "name_lower", None)
        if (app, model) in self.created:
            if isinstance(operation, ops.RenameModel):  # still the plan's own table, under its new name
                self.created.add((app, operation.new_name_lower))
            return []
        postgres = self.vendor == "postgresql" and name not in CONCURRENT
        if isinstance(operation, ops.RemoveField):
            return ["remove-field"]
        if isinstance(operation, ops.DeleteModel):
            return ["delete-model"]
        if isinstance(operation, ops.RenameField):
            return ["rename-field"]
        if isinstance(operation, ops.RenameModel):
            return ["rename-model"]
        if isinstance(operation, ops.AddField):
            field, rules = operation.field, []
            if not field.null and not field.many_to_many and not has_db_default(field):
                rules.append("add-not-null")
            if postgres and indexed(field):
                rules.append("index-locks")
            return rules
        if isinstance(operation, ops.AlterField):
            return self.altered(app, operation, state, postgres)
        if isinstance(operation, (ops.AddIndex, ops.AddConstraint)) and postgres:
            return ["index-locks"]
        if isinstance(operation, (ops.AlterUniqueTogether, ops.AlterIndexTogether)) and postgres and operation.option_value:
            return ["index-locks"]
        return []

    def altered(self, app, operation, state, postgres):
        new = operation.field
        try:
            old = state.models[app, operation.model_name_lower].fields[operation.name]
        except (KeyError, AttributeError):
            return []
        rules = []
        if old.null and not new.null:
            rules.append("alter-not-null")
        if column_type(old) != column_type(new) and not (old.is_relation or new.is_relation):
            rules.append("alter-type")
        gains_unique = getattr(new, "unique", False) and not getattr(old, "unique", False)  # a SlugField was indexed
        if postgres and ((indexed(new) and not indexed(old)) or gains_unique):
            rules.append("index-locks")
        return rules


def marked_safe(migration):
    try:
        return SAFE_MARKER in inspect.getsource(inspect.getmodule(type(migration)))
    except (OSError, TypeError):
        return False


def listed(migration, safe):
    full = "%s.%s" % (migration.app_label, migration.name)
    return any(full == entry or (entry.startswith(migration.app_label + ".") and migration.name.startswith(entry.split(".", 1)[1]))
               for entry in safe)


def lint(loader, plan, vendor, safe=(), strict=False):
    """Findings for the forward migrations of `plan` ([(migration, backwards)], in order): {findings: [{migration,
    operation, rule, why, instead}], reviewed: [migrations opted out], strict}."""
    linter = Linter(loader, vendor)
    findings, reviewed = [], []
    if not getattr(loader, "applied_migrations", None) and len(plan) == len(loader.graph.nodes):
        # a new database, every migration pending: no live code uses any of it yet
        return {"findings": findings, "reviewed": reviewed, "strict": bool(strict), "new_database": True}
    for migration, backwards in plan:
        if backwards:
            continue
        rules = linter.lint_migration(migration)
        if not rules:
            continue
        full = "%s.%s" % (migration.app_label, migration.name)
        if listed(migration, safe) or marked_safe(migration):
            reviewed.append(full)
            continue
        for operation, rule in rules:
            why, instead = WHY_INSTEAD[rule]
            findings.append({"migration": full, "operation": operation.describe(), "rule": rule, "why": why,
                             "instead": instead})
    return {"findings": findings, "reviewed": reviewed, "strict": bool(strict)}


def refusal(report):
    """The one-line error a strict deploy stops with, or None."""
    findings = report["findings"]
    if not (report["strict"] and findings):
        return None
    first = findings[0]
    return ("migration safety lint (strict_migrations): %d finding(s), first %s: %s (%s) — %s; mark it reviewed with "
            "`%s` in the migration or deploytasks.safe_migrations" % (
                len(findings), first["migration"], first["operation"], first["rule"], first["instead"], SAFE_MARKER))


def enforce(loader, plan, vendor, params):
    """The lint of a deploy's plan; raises ServerError (nothing done yet) when strict_migrations refuses it."""
    from .errors import ServerError

    report = lint(loader, plan, vendor, params.get("safe_migrations") or (), params.get("strict_migrations"))
    problem = refusal(report)
    if problem:
        raise ServerError(problem + "; nothing was changed")
    return report
