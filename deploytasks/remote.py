"""Fabric tasks for servers: `from deploytasks.remote import ns` in fabfile.py, then `fab -H prod deploy`."""
import shlex
import sys

from fabric import task
from invoke import Collection
from invoke.exceptions import Exit

from .quick_exit import skip_final_collection
from . import release_tasks, releases, restores, server_backups, server_setup, tables
from .host_names import host_name
from .migration_tasks import migrations_collection
from .errors import ConnectionLost, DeployTasksError, reported
from .local_runner import LocalRunner
from .settings import COLLECTION_CONFIG
from .step_tasks import step_tasks
from .target import live, require_live, server
from .task_help import answer_help_in
from .shell import connection_lost, failure, run
from . import shared
from . import plan as deploy_plan


skip_final_collection()  # `fab`/`inv` end 40 ms sooner (quick_exit.py)


@task
@reported
def setup(c):
    """Create the server layout, check git and python3 (with venv), upload production's shared files (deploy/<host>/)."""
    server_setup.prepare(c, server(c))


@task(help={"revision": "branch, tag or commit to deploy (default: deploytasks.branch)",
            "force": "deploy even when the checklist (`fab check`) has a FAIL",
            "again": "deploy even when the live release already serves this revision, built the same way",
            "plan": "only show what the deploy would do (as `fab plan`)",
            "json": "print the outcome (with --plan: the plan) as one JSON document on stdout (ok, release, error)"})
@reported
def deploy(c, revision=None, force=False, again=False, plan=False, json=False):
    """Deploy a new release: checklist, backup + rehearsed migrations, atomic switch, reload, health check.

    Nothing is deployed when the live release already serves the revision, built the same way (--again deploys)."""
    release_tasks.deploy(c, revision, force=force, again=again, plan=plan, as_json=json)


@task(name="plan", help={"revision": "the revision about to ship (default: deploytasks.branch)",
                         "json": "print the plan as JSON"})
@reported
def plan_task(c, revision=None, json=False):
    """What `fab deploy` would do, nothing done: commits, venv, migrations with SQL and lint, static, checklist."""
    release_tasks.plan(c, revision, as_json=json)


@task(help={"to": "release to go back to (default: the previous good one)", "yes": "do not ask for confirmation",
            "json": "print the outcome as one JSON document on stdout (ok, release, error)"})
@reported
def rollback(c, to=None, yes=False, json=False):
    """Roll code and schema back to the previous release (unapplies migrations with the current code)."""
    release_tasks.rollback(c, to=to, yes=yes, as_json=json)


@task(name="releases", help={"json": "print as JSON"})
@reported
def list_releases(c, json=False):
    """The releases on the server: revision, deployed at, by, migrations changed, current/bad."""
    release_tasks.listing(c, as_json=json)


@task(name="history", help={"last": "how many entries (default 20)", "json": "print as JSON"})
@reported
def history(c, last=None, json=False):
    """What was done on the server, newest first: deploys (failed too), rollbacks, restores, migrations."""
    last = 20 if last is None else last  # a string from the command line: checked here, not by Invoke's int()
    if not str(last).isdigit() or int(last) < 1:
        raise DeployTasksError(f"--last must be a whole number above 0, not {last!r}")
    settings = server(c)
    info = releases.admin(c, settings, "history", last=int(last))
    tables.show_server_history(info, json, host_name(c), settings.path)


@task(help={"force": "remove the lock (only when no deploy is running)"})
@reported
def unlock(c, force=False):
    """Show who holds the deploy lock; --force removes it."""
    releases.unlock(c, server(c), force=force)


@task(help={"revision": "the revision about to ship (default: deploytasks.branch)",
            "live-only": "check only the live release", "json": "print the verdicts as JSON"})
@reported
def check(c, revision=None, live_only=False, json=False):
    """The pre-deployment checklist for the live release and for the revision about to ship."""
    settings, project = live(c, kind="server" if live_only else "deploy")
    deploy_plan.show_checks(c, settings, project, revision, live_only=live_only, as_json=json)


@task(help={"download": "copy the backup to backups/<host>/ locally (default: yes)",
            "offsite": "also copy it (and its media) to deploytasks.offsite with rclone, verified by hash, from "
                       "deploytasks.offsite_from (default: deploytasks.backup_offsite)",
            "json": "print the manifest as JSON",
            "label": "a word added to the file name, e.g. before-upgrade",
            "media": "also archive the shared media (MEDIA_ROOT) beside the dump (default: deploytasks.backup_media)"})
@reported
def backup(c, download=True, json=False, media=False, offsite=False, label=None):
    """Back up the live database on the server, verify it, and download a checksum-verified copy (--media: and MEDIA_ROOT)."""
    server_backups.backup(c, download=download, as_json=json, media=media, offsite=offsite, label=label)


@task(name="backups", help={"json": "print as JSON",
                            "offsite": "list the off-site copies in deploytasks.offsite instead"})
@reported
def list_backups(c, json=False, offsite=False):
    """Backups on the server and local copies, side by side (--offsite: those in deploytasks.offsite)."""
    server_backups.show_listing(c, as_json=json, offsite=offsite)


@task(help={"file": "local backup file (with its .json manifest beside it); with --from-offsite an off-site name",
            "from-offsite": "FILE is an off-site backup's name (`fab backups --offsite`): fetch it verified, restore it",
            "yes": "do not ask for confirmation",
            "unverified": "allow a file without a manifest",
            "migrate": "then apply the migrations the restored data lacks (the code is ahead of it)",
            "media": "also restore the media archived with it (default: deploytasks.backup_media)"})
@reported
def restore(c, file, yes=False, unverified=False, media=False, from_offsite=False, migrate=False):
    """Restore a backup (a file, or a name `fab backups` lists) on the server: verify, upload, back up, restore."""
    settings, project = live(c)
    restores.named_on_server(c, settings, project, file, from_offsite=from_offsite, yes=yes, unverified=unverified,
                             media=media or settings.backup_media, migrate=migrate)


@task(help={"args": "the management command and its arguments, as one string: \"showmigrations accounts\""})
@reported
def manage(c, args):
    """Run any manage.py command in the live release: fab -H prod manage "showmigrations accounts"."""
    settings, project = live(c)
    require_live(c, project)  # its output streams: check first, so a missing release is one line
    words = shlex.split(args)
    if not words:
        raise DeployTasksError("name a management command, e.g. fab manage \"showmigrations\"")
    at_terminal = sys.stdin.isatty()  # `shell`, `dbshell`, prompts: a terminal on the server, keys and Ctrl-C sent on
    # without a terminal, what is piped in (`fab manage shell < seed.py`) goes to the command, and its end ends it
    what = f"manage.py {words[0]}"
    result = run(c, project.manage_command(*words), what=what, stream=True, pty=at_terminal, in_stream=None,
                 check=False)
    if result.failed and result.exited > 0 and not connection_lost(result):  # its own output, above, says why
        raise Exit(f"deploytasks: error: {what} exited with status {result.exited} (its output is above)",
                   code=result.exited)
    if connection_lost(result):
        raise ConnectionLost(f"the connection to the server was lost (closed or dropped) during {what}")
    if result.failed:
        raise DeployTasksError(failure(result, what))
    return result


ns = Collection()
for _task in (setup, deploy, plan_task, rollback, list_releases, history, unlock, check, backup, list_backups, restore, manage,
              *step_tasks("the live release")):
    ns.add_task(_task)
ns.add_collection(migrations_collection("fab"))
ns.add_collection(shared.shared_collection(server))
answer_help_in(ns, "fab")
ns.configure(COLLECTION_CONFIG)
ns.configure({"runners": {"local": LocalRunner}})
