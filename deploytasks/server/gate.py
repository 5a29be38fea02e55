"""The deploy's gate: the checklist `inv check`/`fab check` show, run on the release about to ship before
anything is migrated or switched. A FAIL stops the deploy unless params["force"]."""
from . import introspect
from .checklist import FAIL, PASS, items
from .errors import ServerError


def run(alias, params):
    """The checklist's WARN and FAIL verdicts (a FAIL only when forced); raises ServerError on a FAIL."""
    verdicts = items(introspect.main(dict(params, database=alias)))
    failures = [v for v in verdicts if v["verdict"] == FAIL]
    if failures and not params.get("force"):
        raise ServerError("the checklist fails for the release about to ship (%s); nothing was migrated or switched: "
                          "fix it, or deploy anyway with `fab deploy --force`"
                          % "; ".join("%s: %s" % (v["item"], v["detail"]) for v in failures))
    return [v for v in verdicts if v["verdict"] != PASS]
