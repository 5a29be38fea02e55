"""Invoke tasks for the developer's machine: `from deploytasks.local import ns` in tasks.py."""

from invoke import Collection, task

from .quick_exit import skip_final_collection
from . import local_backups, local_setup, restores, tables
from .config_files import project_dir
from .django import introspect
from .migration_tasks import migrations_collection
from .errors import reported
from .shell import is_dry
from .local_runner import LocalRunner
from .settings import COLLECTION_CONFIG
from .step_tasks import step_tasks
from .target import local_settings_and_project, require_venv
from .uv_project import lock_state
from .task_help import answer_help_in


skip_final_collection()  # `fab`/`inv` end 40 ms sooner (quick_exit.py)


@task(help={
    "python": "interpreter that creates the venv (default: deploytasks.python)",
    "no-superuser": "do not create a superuser",
    "username": "superuser name (or DJANGO_SUPERUSER_USERNAME)",
    "email": "superuser email (or DJANGO_SUPERUSER_EMAIL)",
    "password": "superuser password (prefer DJANGO_SUPERUSER_PASSWORD: options show in the process list)",
})
@reported
def setup(c, python=None, no_superuser=False, username=None, email=None, password=None):
    """Set the project up: venv, install, migrate, createsuperuser, collectstatic (skips what is done), with their hooks."""
    settings, project = local_settings_and_project(c, python)
    local_setup.setup(c, settings, project, superuser=not no_superuser, username=username, email=email,
                      password=password, python_asked=bool(python))


@task(help={"json": "print the verdicts as JSON"})
@reported
def check(c, json=False):
    """Pre-deployment checklist: migrations, model changes, system checks, plan, conflicts."""
    settings, project = local_settings_and_project(c)
    require_venv(project)
    info = introspect(c, project, settings, schema=True)
    lock = lock_state(project.path(settings.requirements), settings.installer)
    if lock:
        info["lock"] = lock
    tables.show_checklist(info, json, f"Pre-deployment checklist ({project.root})")


@task(help={
    "keep": "keep this many newest backups of each kind (default: deploytasks.keep_backups; 0 keeps all)",
    "label": "a word added to the file name, e.g. before-upgrade",
    "json": "print the manifest as JSON",
    "media": "also archive MEDIA_ROOT beside the dump (default: deploytasks.backup_media)",
    "offsite": "also copy it (and its media) to deploytasks.offsite with rclone, verified by hash "
               "(default: deploytasks.backup_offsite)",
})
@reported
def backup(c, keep=None, label=None, json=False, media=False, offsite=False):
    """Back up the database (SQLite backup API, pg_dump, mysqldump), verify it and write its manifest (--media: and MEDIA_ROOT)."""
    settings, project = local_settings_and_project(c)
    require_venv(project)
    local_backups.backup(c, settings, project, keep=keep, label=label, as_json=json, media=media, offsite=offsite)


@task(name="backups", help={"json": "print the list as JSON", "verify": "re-check every file's sha256",
                            "offsite": "list the off-site copies in deploytasks.offsite instead"})
@reported
def list_backups(c, json=False, verify=False, offsite=False):
    """List the backups in deploytasks.backups (--offsite: those in deploytasks.offsite), newest first."""
    settings, project = local_settings_and_project(c)
    local_backups.show_listing(c, settings, project, as_json=json, verify=verify, offsite=offsite)


@task(help={
    "file": "the backup: a path, or a file name in deploytasks.backups (with --from-offsite: an off-site name)",
    "from-offsite": "FILE is an off-site backup's name (`inv backups --offsite`): fetch it verified, then restore",
    "yes": "do not ask for confirmation",
    "unverified": "allow a file that has no manifest (no checksum to verify)",
    "migrate": "then apply the migrations the restored data lacks (the code is ahead of it)",
    "media": "also restore the media archived with it (default: deploytasks.backup_media)",
})
@reported
def restore(c, file, yes=False, unverified=False, media=False, from_offsite=False, migrate=False):
    """Restore a backup: verify it, take a safety backup, confirm, replace the database atomically (--media: and MEDIA_ROOT)."""
    settings, project = local_settings_and_project(c)
    require_venv(project)
    restores.named_in_project(c, project, settings, file, from_offsite=from_offsite, yes=yes, unverified=unverified,
                              media=media or settings.backup_media, migrate=migrate)


@task(help={
    "force": "replace existing files (never deploy/<host>/.env)",
    "host": "the host as typed after `fab -H`: its env file is deploy/<host>/.env (default: production)",
    "path": "the deploy directory on the server (default: /srv/<project>)",
    "bind": "gunicorn's address (default: 127.0.0.1:8000)",
})
@reported
def init(c, force=False, host=None, path=None, bind=None):
    """Write tasks.py, fabfile.py, the config section, .gitignore lines and deploy/ files inferred from the project."""
    from .init import initialize

    initialize(project_dir(c.config), force=force, host=host, path=path, bind=bind, dry=is_dry(c))


ns = Collection()
for _task in (init, setup, *step_tasks("the project"), check,
              backup, list_backups, restore):
    ns.add_task(_task)
ns.add_collection(migrations_collection("inv"))
answer_help_in(ns, "inv")
ns.configure(COLLECTION_CONFIG)
ns.configure({"runners": {"local": LocalRunner}})
