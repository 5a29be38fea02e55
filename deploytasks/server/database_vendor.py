"""Entry database_vendor (settings, no app registry): which database server a DATABASES entry uses (its backend's
`vendor`), for the words of a failed migrate: only some roll a failed migration's schema changes back."""
from .results import DatabaseVendor


def main(params) -> DatabaseVendor:
    from django.db import connections

    return {"vendor": connections[params.get("database", "default")].vendor}
