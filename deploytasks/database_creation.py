"""`inv setup` in a fresh clone whose PostgreSQL or MySQL/MariaDB database does not exist yet: migrate's error names
it, the server bundle's create_database makes it as the settings' own user, and migrate runs again."""
import re

from .django import run_django_script

MISSING = (
    (re.compile(r'database "([^"]+)" does not exist'), "missing"),  # PostgreSQL
    (re.compile(r"Unknown database '([^']+)'"), "missing"),  # MySQL/MariaDB (1049)
    (re.compile(r"Access denied for user '[^']*'@'[^']*' to database '([^']+)'"), "denied"),  # 1044: or missing
)


def missing_database(error):
    """(name, "missing" or "denied") of the database a connection error says does not exist, or may not be used
    (MySQL says so of a database that does not exist too, to a user without rights to it); else None."""
    for pattern, how in MISSING:
        found = pattern.search(error or "")
        if found:
            return found.group(1), how
    return None


def create(c, project, alias, name, how="missing") -> bool:
    """Create `name` when it is what DATABASES[alias] names; True when it was created here."""
    result = run_django_script(c, project, "create_database", {"database": alias, "name": name, "how": how},
                               what="creating the database", settings_only=True)
    return bool(result.get("created"))
