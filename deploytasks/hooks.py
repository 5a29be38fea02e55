"""deploytasks.hooks: the user's commands before/after the named steps of setup and deploy. Validated here, turned
into shell commands here (for the laptop, and for the server's deploy, which runs them in server/hooks.py)."""
import difflib
import json
import shlex

from .errors import DeployTasksError
from .output import console
from .server.hooks import failure
from .shell import q, run

SETUP_STEPS = ("venv", "install", "migrate", "createsuperuser", "collectstatic")
DEPLOY_STEPS = ("venv", "install", "collectstatic", "migrate", "switch", "reload")
STEPS = tuple(dict.fromkeys(SETUP_STEPS + DEPLOY_STEPS))
WHEN = ("before", "after")
ON_SERVER = ("collectstatic", "migrate", "switch", "reload")  # run by the deploy's server side (the supervisor)
EXAMPLE = 'hooks: {after: {install: ["manage.py compilemessages"]}}'


def _unknown(kind, name, known):
    hint = difflib.get_close_matches(str(name), known, n=1)
    return DeployTasksError(f"deploytasks.hooks: unknown {kind} {name!r}"
                            + (f" (did you mean {hint[0]}?)" if hint else f" (one of {', '.join(known)})"))


def _commands(when, step, commands):
    if commands is None:
        return []
    if isinstance(commands, (list, tuple)) and all(isinstance(c, str) and c.strip() for c in commands):
        for command in commands:
            try:
                words = shlex.split(command)
            except ValueError as exc:
                raise DeployTasksError(f"deploytasks.hooks.{when}.{step}: cannot read {command!r} ({exc})") from None
            if not words:
                raise DeployTasksError(f"deploytasks.hooks.{when}.{step}: {command!r} is not a command")
            if words[0] == "manage.py" and len(words) == 1:
                raise DeployTasksError(f"deploytasks.hooks.{when}.{step}: name the management command after manage.py")
        return [c.strip() for c in commands]
    raise DeployTasksError(f"deploytasks.hooks.{when}.{step} must be a list of commands, not {commands!r}")


def coerce(value) -> dict:
    """deploytasks.hooks as {when: {step: [command, ...]}} (text from an env var is read as JSON); one clear
    error for anything else."""
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except ValueError:
            raise DeployTasksError(f"deploytasks.hooks given as text must be JSON, e.g. {json.dumps({'after': {'install': ['manage.py compilemessages']}})}") from None
    if value is None:
        return {}
    if not hasattr(value, "items"):
        raise DeployTasksError(f"deploytasks.hooks must be a mapping like {EXAMPLE}, not {value!r}")
    hooks = {}
    for when, steps in value.items():
        if when not in WHEN:
            raise _unknown("moment", when, WHEN)
        if steps is None:
            continue
        if not hasattr(steps, "items"):
            raise DeployTasksError(f"deploytasks.hooks.{when} must map step names to lists of commands, not {steps!r}")
        for step, commands in steps.items():
            if step not in STEPS:
                raise _unknown("step", step, STEPS)
            listed = _commands(when, step, commands)
            if listed:
                hooks.setdefault(when, {})[step] = listed
    return hooks


def command(project, hook) -> str:
    """The shell command running `hook` in `project` (local project or release): `manage.py …` with the project's
    Python and env file; anything else through sh in its directory, the env file exported, the venv's bin first."""
    words = shlex.split(hook)
    if words[0] == "manage.py":
        return project.manage_command(*words[1:])
    path = f'PATH={q(project.venv + "/bin")}:"$PATH" ' if project.venv else ""
    return project.shell(f"{path}sh -c {q(hook)}")


def run_local(c, project, hooks, when, step) -> list:
    """Run the hooks of `when` `step` through c (laptop, or the server over SSH); the first failure raises."""
    ran = []
    for hook in (hooks.get(when) or {}).get(step) or []:
        result = run(c, command(project, hook), what=f"hook {hook!r}", check=False)
        if result.failed:
            raise DeployTasksError(failure(hook, when, step, result.exited, result.stderr, result.stdout))
        console.print(f"[green]✓[/] hook {when} {step}: {hook}", highlight=False)
        ran.append(hook)
    return ran


def around(c, project, hooks, plan) -> list:
    """The (name, step) plan of a setup with each step's before/after hooks run around it."""
    def hooked(name, step):
        def run_step():
            run_local(c, project, hooks, "before", name)
            outcome = step()
            run_local(c, project, hooks, "after", name)
            return outcome
        return run_step
    return [(name, hooked(name, step)) for name, step in plan]


def for_server(project, hooks) -> dict:
    """The server side's hooks ({when: {step: [[hook, command], ...]}}) with their commands built for the release."""
    return {when: {step: [[hook, command(project, hook)] for hook in listed]
                   for step, listed in steps.items() if step in ON_SERVER}
            for when, steps in hooks.items()}


def any_around(hooks, steps) -> bool:
    """Whether a hook runs before or after one of `steps`."""
    return bool(described(hooks or {}, steps))


def described(hooks, steps) -> list:
    """'after install: manage.py compilemessages' lines, in step order (for --dry and reports)."""
    return [f"{when} {step}: {hook}" for step in steps for when in WHEN
            for hook in (hooks.get(when) or {}).get(step) or []]
