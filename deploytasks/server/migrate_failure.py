"""What a failed `migrate` in a deploy did: the migration that failed, what the run had applied before it, and
whether undoing those worked; said per engine (MySQL/MariaDB cannot roll back DDL, so the failing migration
itself may be partly applied there) and per migration (one with atomic = False runs outside a transaction)."""
from .errors import ServerError
from .migrate import applied_now, migrate_to

NO_TRANSACTIONAL_DDL = ("mysql",)


def applied_keys(state):
    return {"%s.%s" % (app, name) for app, names in state.items() for name in names}


def first_line(exc):
    text = str(exc).strip()
    return "%s: %s" % (type(exc).__name__, text.splitlines()[0]) if text else type(exc).__name__


def after(alias, plan, before, exc, backup, vendor):
    """The ServerError to raise once migrate raised `exc`: names the failing migration and what stayed applied,
    after unapplying what the run applied (to the state `before`)."""
    forwards = ["%s.%s" % (m.app_label, m.name) for m, backwards in plan if not backwards]
    try:
        now = applied_keys(applied_now(alias))
    except Exception:  # noqa: BLE001 - the database may be unreachable now: say what is known
        now = None
    done = [name for name in forwards if now is not None and name in now and name not in applied_keys(before)]
    failed = next((name for name in forwards if now is not None and name not in now), None)
    message = "migrate failed at %s: %s" % (failed or "a migration", first_line(exc))
    non_atomic = any("%s.%s" % (m.app_label, m.name) == failed and not getattr(m, "atomic", True) for m, _ in plan)
    if vendor in NO_TRANSACTIONAL_DDL and failed:
        message += " (%s DDL is not transactional: part of %s may be applied)" % (vendor, failed)
    elif non_atomic:
        message += " (%s is not atomic, atomic = False: what it did before the error stayed applied)" % failed
    restore = ("restore %s" % backup) if backup else "there is no backup (the database held nothing before)"
    if not done:
        return ServerError(message + "; no migration of this deploy stayed applied" + (
            "; if the schema looks wrong, %s" % restore if failed and (vendor in NO_TRANSACTIONAL_DDL or non_atomic)
            else ""))
    try:
        migrate_to(alias, before)
    except Exception as undo_exc:  # noqa: BLE001 - report both
        try:
            still = sorted(applied_keys(applied_now(alias)) - applied_keys(before))
        except Exception:  # noqa: BLE001
            still = done
        return ServerError("%s; undoing the %d applied before it failed too (%s), still applied: %s: %s" % (
            message, len(done), first_line(undo_exc), ", ".join(still) or "none", restore))
    return ServerError("%s; the %d migration(s) applied before it were unapplied again (%s)" % (
        message, len(done), ", ".join(done)))
