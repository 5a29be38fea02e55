"""Asking Django about a project: one `manage.py shell` start-up returns everything as JSON."""
from .errors import DeployTasksError
from .shell import run_script

def run_django_script(c, project, name, params, *, what, changes=False, description=None, settings_only=False):
    """An entry point run with Django set up; settings_only: settings and connections but no app registry (faster)."""
    return run_script(
        c,
        project.settings_script_command() if settings_only else project.django_script_command(),
        name,
        params,
        what=what,
        changes=changes,
        description=description,
        tools=project.tools or None,
    )


def introspect(c, project, settings, *, plan=True, changes=True, checks=True, schema=False):
    """Database (no password), migration files, applied set, leaves, conflicts, plan, model changes, checks."""
    params = {"database": settings.database, "plan": plan, "changes": changes, "checks": checks,
              "strict_migrations": settings.strict_migrations, "safe_migrations": settings.safe_migrations, "schema": schema}
    return run_django_script(c, project, "introspect", params, what="asking Django about the project")


def applied_state(info) -> dict:
    """{app: [applied migration names]} from an introspection."""
    return {
        app: [m["name"] for m in data["migrations"] if m["is_applied"]]
        for app, data in info["apps"].items()
    }


def resolve_target(info, app, target, cli="inv"):
    """Validate `migrate APP TARGET`; returns (full name or 'zero', direction). `cli` names the program in the hint."""
    apps = info["apps"]
    if app not in apps:
        known = ", ".join(sorted(apps)) or "none"
        raise DeployTasksError(f"no app labelled {app!r} with migrations (apps with migrations: {known})")
    names = [m["name"] for m in apps[app]["migrations"]]
    applied = [m["name"] for m in apps[app]["migrations"] if m["is_applied"]]
    if target is None:
        return None, "forwards"
    if target == "zero":
        return "zero", "backwards" if applied else "none"
    matches = [name for name in names if name == target or name.startswith(target)]
    if target in names:
        matches = [target]
    if not matches:
        raise DeployTasksError(
            f"{app} has no migration {target!r}: run `{cli} migrations.status` to see its migrations"
        )
    if len(matches) > 1:
        raise DeployTasksError(f"{target!r} matches several {app} migrations ({', '.join(matches)}): be more specific")
    name = matches[0]
    position = names.index(name)
    later_applied = [n for n in names[position + 1:] if n in applied]
    if later_applied:
        return name, "backwards"
    if name in applied:
        return name, "none"
    return name, "forwards"
