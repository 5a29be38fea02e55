"""Entries of a deploy to several hosts that run in the staged release's Django: `fleet_stage` (system checks,
the WSGI application loaded, the media directory, collectstatic with its hooks: no database change) and
`fleet_predeploy` (the host that migrates, once, afterwards: predeploy without checking again). Each closes its
database connections when done: the same process then waits to switch, or to undo while another process
unapplies migrations."""
from django.core import checks as django_checks
from django.db import connections

from . import fleet_host, hooks, media, predeploy, static_files
from .errors import ServerError
from .results import FleetStaged, PredeployResult


def main(params) -> FleetStaged:
    fleet_host.begin(params)
    try:
        alias = params.get("database", "default")
        errors = [m for m in django_checks.run_checks(databases=[alias]) if m.is_serious() and not m.is_silenced()]
        if errors:
            raise ServerError("system check failed in the new release: %s" % str(errors[0]).splitlines()[0])
        predeploy.load_wsgi_application()
        result = {"media": media.share(params), "collectstatic": None}
        if params.get("collectstatic", True):
            hooks.run(params, "before", "collectstatic")
            result["static"] = static_files.collect(params)
            result["collectstatic"] = result["static"]["collectstatic"]
            hooks.run(params, "after", "collectstatic")
        return result
    finally:
        connections.close_all()


def migrate(params) -> PredeployResult:
    fleet_host.migrating()
    try:
        return predeploy.main(dict(params, checked=True))
    finally:
        connections.close_all()
