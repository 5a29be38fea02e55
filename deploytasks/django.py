"""Asking Django about a project: one `manage.py shell` start-up returns everything as JSON."""
from .shell import run_script

def run_django_script(c, project, name, params, *, what, changes=False, description=None, settings_only=False,
                      started=None):
    """An entry point run with Django set up; settings_only: settings and connections but no app registry (faster).
    started: that command already running, waiting for a request (shell.run_script)."""
    return run_script(
        c,
        project.settings_script_command() if settings_only else project.django_script_command(),
        name,
        params,
        what=what,
        changes=changes,
        description=description,
        tools=project.tools or None,
        started=started,
    )


def introspect(c, project, settings, *, plan=True, changes=True, checks=True, schema=False, health=False):
    """Database (no password), migration files, applied set, leaves, conflicts, plan, model changes, checks; with
    `health`, the answer of the health check URL (the live release's app server)."""
    params = {"database": settings.database, "plan": plan, "changes": changes, "checks": checks,
              "strict_migrations": settings.strict_migrations, "safe_migrations": settings.safe_migrations, "schema": schema}
    if health and settings.healthcheck:
        params["healthcheck"] = settings.healthcheck
    return run_django_script(c, project, "introspect", params, what="asking Django about the project")
