"""What `manage.py migrate`'s own output says about a run that failed: the migration it was applying and the
ones it had applied before (they stay applied: migrate does not undo them)."""
import re

APPLYING = re.compile(r"^\s+Applying (\S+?)\.\.\.( OK)?", re.M)


def failure(stdout, detail) -> str:
    """One line: the failing migration, the error, what this run left applied (per engine)."""
    steps = APPLYING.findall(stdout or "")
    done = [name for name, ok in steps if ok]
    failed = next((name for name, ok in steps if not ok), None)
    if failed is None:
        return f"migrate failed: {detail}"
    kept = (f"the {len(done)} migration(s) this run applied before it stayed applied "
            f"({', '.join(done[:3])}{', …' if len(done) > 3 else ''}{', ' + done[-1] if len(done) > 3 else ''})"
            if done else "no migration of this run stayed applied")
    return (f"migrate failed at {failed}: {detail}; {kept}; {failed} itself was rolled back on SQLite and "
            f"PostgreSQL unless it sets atomic = False, but may be partly applied on MySQL/MariaDB (no transactional "
            f"DDL)")
