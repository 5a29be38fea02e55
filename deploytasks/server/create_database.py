"""Entry create_database (the project's settings, no app registry): the PostgreSQL or MySQL/MariaDB database a
DATABASES entry names, created when `inv setup` found it missing, as its own user (the `createdb` or
`CREATE DATABASE` a new developer would type), through Django's connection to the server's maintenance database."""
import re

from .errors import ServerError
from .results import DatabaseCreated

HINTS = {
    "postgresql": "create it as a superuser: sudo -u postgres createdb -O {user} {name}, or let the role create "
                  "databases: ALTER ROLE {user} CREATEDB",
    "mysql": "create it as root: CREATE DATABASE `{name}` CHARACTER SET utf8mb4; "
             "GRANT ALL ON `{name}`.* TO '{user}'@'%'",
}


def main(params) -> DatabaseCreated:
    from django.db import connections

    connection = connections[params.get("database", "default")]
    vendor, name = connection.vendor, connection.settings_dict.get("NAME")
    if vendor not in HINTS or not name or name != params.get("name"):
        return {"created": None, "vendor": vendor}
    user = connection.settings_dict.get("USER") or "<user>"
    suffix = ""
    if vendor == "mysql":
        charset = (connection.settings_dict.get("OPTIONS") or {}).get("charset", "utf8mb4")
        suffix = " CHARACTER SET %s" % charset if re.match(r"^\w+$", str(charset)) else ""
    try:
        with connection._nodb_cursor() as cursor:  # what Django's test runner creates its databases with
            cursor.execute("CREATE DATABASE %s%s" % (connection.ops.quote_name(name), suffix))
    except Exception as exc:  # noqa: BLE001 - the driver's own error classes
        text = " ".join(str(exc).split())
        if "already exists" in text or "database exists" in text:  # created meanwhile: migrate can go on
            return {"created": None, "vendor": vendor}
        if params.get("how") == "denied" and "denied" in text:  # 1044 again: it exists, or it may not be made
            what = "%r may not use the database %r (it may not exist either), and may not create it" % (user, name)
        else:
            what = "the database %r does not exist, and creating it as %r failed: %s" % (name, user, text)
        raise ServerError("%s; %s" % (what, HINTS[vendor].format(name=name, user=user))) from None
    return {"created": name, "vendor": vendor}
