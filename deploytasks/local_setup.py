"""`inv setup`: the local project's steps in order (venv, install, migrate, createsuperuser, collectstatic), each
skipped when done, with their hooks, timed and shown as one table. collectstatic needs no database, so it runs
beside migrate unless a hook of those steps asks for an order; in a venv this setup builds, it starts once
migrate's Django is set up (its "Operations to perform" heading), so that it loads the bytecode migrate's start-up
wrote rather than compiling the same modules at the same time. A venv uv builds gets its pip beside migrate too
(`uv venv --seed` would hold up the install), unless a hook of the venv or the install might want pip there
already."""
import os
import threading
import time

from invoke.watchers import StreamWatcher

from . import database_creation, flows, hooks, steps, tables
from .errors import DeployTasksError
from .installer import local_uv
from .output import show
from .shell import is_dry
from .step_result import StepResult

ORDERED = ("migrate", "createsuperuser", "collectstatic")
AFTER_TIMEOUT = 30  # seconds a step beside migrate waits for migrate's Django to be set up before it starts anyway


class SetUp(StreamWatcher):
    """Sets `event` once `manage.py migrate` has printed its first heading: its Django is set up."""

    def __init__(self, event):
        super().__init__()
        self.event = event

    def submit(self, stream):
        if "Operations to perform" in stream:
            self.event.set()
        return []


class Beside:
    """A step run on a thread from `start` on (once `after` is set, if given); `result` waits for it and returns (or
    raises) what it did."""

    def __init__(self, step, after=None):
        self.step, self.after, self.outcome, self.failure, self.seconds = step, after, None, None, 0.0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        if self.after is not None:
            self.after.wait(AFTER_TIMEOUT)
        began = time.monotonic()
        try:
            self.outcome = self.step()
        except BaseException as exc:  # noqa: BLE001 - raised again by result()
            self.failure = exc
        self.seconds = time.monotonic() - began

    def start(self):
        self.thread.start()

    def wait(self):
        if self.thread.ident is not None:  # started
            self.thread.join()

    def result(self):
        self.wait()
        if self.failure is not None:
            raise self.failure
        return StepResult(self.outcome.status, f"{self.outcome} (beside migrate, {self.seconds:.1f}s)")


def setup(c, settings, project, *, superuser, username, email, password, python_asked=False):
    """Run the setup steps (createsuperuser only with `superuser`, collectstatic when deploytasks.collectstatic)."""
    ordered = hooks.any_around(settings.hooks, ORDERED)
    migrate_set_up = threading.Event()
    new_venv = bool(project.venv and not os.path.exists(project.python))  # no bytecode in it yet
    beside = Beside(lambda: steps.collectstatic(c, project), after=migrate_set_up if new_venv else None) \
        if settings.collectstatic and not ordered and not is_dry(c) else None
    pip_later = Beside(lambda: steps.add_pip(c, project)) if pip_beside_migrate(c, settings, project) else None
    alongside = [step for step in (beside, pip_later) if step is not None]

    def migrate():
        for step in alongside:
            step.start()
        try:
            return migrate_creating_database(c, project, settings.database, watchers=[SetUp(migrate_set_up)])
        except BaseException:
            migrate_set_up.set()
            for step in alongside:
                step.wait()  # nothing left running behind a failed setup
            raise
        finally:
            migrate_set_up.set()

    plan = [
        ("venv", lambda: steps.venv(c, project, seed=pip_later is None, asked=python_asked)),
        ("install", lambda: steps.install(c, project)),
        ("migrate", migrate),
    ]
    if pip_later is not None:
        plan.append(("pip", pip_later.result))
    if superuser:
        plan.append(("createsuperuser", lambda: steps.createsuperuser(c, project, username, email, password)))
    if settings.collectstatic:
        plan.append(("collectstatic", beside.result if beside is not None else lambda: steps.collectstatic(c, project)))
    try:
        rows = flows.timed_steps(hooks.around(c, project, settings.hooks, plan))
    except DeployTasksError as exc:
        raise DeployTasksError(f"{exc}{without_env_file(project, str(exc))}") from None
    show(tables.steps_table(f"Setup of {project.root}", rows))


def migrate_creating_database(c, project, database, watchers):
    """steps.migrate; when it fails because the database it connects to does not exist (a fresh clone on a new
    machine), the database is created (database_creation) and migrate runs again."""
    try:
        return steps.migrate(c, project, database=database, watchers=watchers)
    except DeployTasksError as exc:
        missing = database_creation.missing_database(str(exc))
        if missing is None or is_dry(c) or not database_creation.create(c, project, database, *missing):
            raise
        name = missing[0]
    outcome = steps.migrate(c, project, database=database)
    return StepResult(outcome.status if outcome.status != "kept" else "done",
                      f"created the database {name!r} (it did not exist); {outcome.detail}")


def without_env_file(project, error) -> str:
    """What to add to a setup's error about the settings when the project has a .env.example but no .env yet
    (a fresh clone), else ""."""
    env = project.env_file if os.path.isabs(project.env_file) else os.path.join(project.root, project.env_file)
    example = os.path.join(project.root, ".env.example")
    about_settings = any(word in error for word in ("ImproperlyConfigured", "environment variable", "SECRET_KEY"))
    if not about_settings or not project.env_file or os.path.exists(env) or not os.path.exists(example):
        return ""
    return (f"; there is no {os.path.relpath(env, project.root)} yet: copy .env.example to it and fill it in "
            "(deploytasks.env_file names another file)")


def pip_beside_migrate(c, settings, project) -> bool:
    """Whether the venv's pip is added beside migrate: uv builds a new venv and no hook of the venv or the install
    step might run pip."""
    return bool(project.venv and not os.path.exists(project.python) and not is_dry(c)
                and not hooks.any_around(settings.hooks, ("venv", "install")) and local_uv(project.installer))
