"""Entry fleet_stage: a staged release's part of a deploy to several hosts that touches no database: system
checks, the media directory, collectstatic with its hooks (the host that migrates runs predeploy afterwards,
once)."""
from django.core import checks as django_checks

from . import hooks, media, static_files
from .errors import ServerError


def main(params):
    alias = params.get("database", "default")
    errors = [m for m in django_checks.run_checks(databases=[alias]) if m.is_serious() and not m.is_silenced()]
    if errors:
        raise ServerError("system check failed in the new release: %s" % str(errors[0]).splitlines()[0])
    result = {"media": media.share(params), "collectstatic": None}
    if params.get("collectstatic", True):
        hooks.run(params, "before", "collectstatic")
        result["static"] = static_files.collect(params)
        result["collectstatic"] = result["static"]["collectstatic"]
        hooks.run(params, "after", "collectstatic")
    return result
