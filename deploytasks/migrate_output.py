"""What `manage.py migrate`'s own output says about a run that failed: the migration it was applying and the
ones it had applied before (they stay applied: migrate does not undo them)."""
import re

APPLYING = re.compile(r"^\s+Applying (\S+?)\.\.\.( OK)?", re.M)


def failed_migration(stdout):
    """The migration a failed run was applying (its "Applying X..." line without OK), else None."""
    return next((name for name, ok in APPLYING.findall(stdout or "") if not ok), None)


def failure(stdout, detail, vendor=None) -> str:
    """One line: the failing migration, the error, what this run left applied, and what became of the failing
    migration itself on the database's `vendor` (None: unknown, every case said)."""
    steps = APPLYING.findall(stdout or "")
    done = [name for name, ok in steps if ok]
    failed = failed_migration(stdout)
    if failed is None:
        return f"migrate failed: {detail}"
    kept = (f"the {len(done)} migration(s) this run applied before it stayed applied "
            f"({', '.join(done[:3])}{', …' if len(done) > 3 else ''}{', ' + done[-1] if len(done) > 3 else ''})"
            if done else "no migration of this run stayed applied")
    return f"migrate failed at {failed}: {detail}; {kept}; {itself(failed, vendor)}"


def itself(failed, vendor) -> str:
    if vendor in ("postgresql", "sqlite"):
        return f"{failed} itself was rolled back (unless it sets atomic = False)"
    if vendor == "mysql":
        return (f"{failed} may be partly applied: MySQL/MariaDB cannot roll back schema changes, so what it did "
                "before it failed stays (the `check` task's schema row lists columns and tables the migrations do "
                "not have): undo that by hand, or restore the backup taken before, then migrate again")
    return (f"{failed} itself was rolled back on SQLite and PostgreSQL unless it sets atomic = False, but may be "
            "partly applied on MySQL/MariaDB (no transactional DDL)")
