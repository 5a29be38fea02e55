"""Fabric tasks for servers: `from deploytasks.remote import ns` in fabfile.py, then `fab -H prod deploy`."""
import dataclasses
import json as jsonlib
import os
import posixpath
import shlex

from fabric import task
from invoke import Collection

from . import backups as backup_store
from . import flows, releases, restores, server_backups, server_setup, tables
from .connection import host_name
from .django import introspect
from .migration_tasks import migrations_collection
from .errors import DeployTasksError, reported
from .output import console, print_json, show
from .settings import COLLECTION_CONFIG
from .step_tasks import step_tasks
from .target import has_live_release, live, require_live, server
from .task_help import answer_help_in
from .shell import is_dry, run
from . import shared
from . import fleet_deploy, fleet_hosts, fleet_releases
from . import plan as deploy_plan


@task
@reported
def setup(c):
    """Create the server layout, check git and python3 (with venv), upload production's shared files (deploy/<host>/)."""
    server_setup.prepare(c, server(c))


@task(help={"revision": "branch, tag or commit to deploy (default: deploytasks.branch)",
            "force": "deploy even when the checklist (`fab check`) has a FAIL",
            "plan": "only show what the deploy would do (as `fab plan`)",
            "json": "with --plan, or with several hosts (-H a,b): print the plan / the fleet's outcome as JSON"})
@reported
def deploy(c, revision=None, force=False, plan=False, json=False):
    """Deploy a new release: checklist, backup + rehearsed migrations, atomic switch, reload, health check."""
    hosts, coordinator = fleet_hosts.fleet_of(c, "deploy")
    if hosts and not plan:  # -H a,b,c: the first call deploys all of them as one (fleet_deploy.py)
        if coordinator:
            fleet_deploy.deploy(c, hosts, revision, force=force, as_json=json)
        return
    settings = server(c, kind="deploy")
    if plan:
        deploy_plan.show_plan(deploy_plan.deploy_plan(c, settings, revision), json)
        return
    releases.deploy(c, settings, revision, force=force)


@task(name="plan", help={"revision": "the revision about to ship (default: deploytasks.branch)",
                         "json": "print the plan as JSON"})
@reported
def plan_task(c, revision=None, json=False):
    """What `fab deploy` would do, nothing done: commits, venv, migrations with SQL and lint, static, checklist."""
    settings = server(c, kind="deploy")
    deploy_plan.show_plan(deploy_plan.deploy_plan(c, settings, revision), json)


@task(help={"to": "release to go back to (default: the previous good one)", "yes": "do not ask for confirmation"})
@reported
def rollback(c, to=None, yes=False):
    """Roll code and schema back to the previous release (unapplies migrations with the current code)."""
    hosts, coordinator = fleet_hosts.fleet_of(c, "rollback")
    if hosts:  # -H a,b: every host to the same release, the schema once (fleet_releases.py)
        if coordinator:
            fleet_releases.rollback(c, hosts, to=to, yes=yes)
        return
    settings = server(c)
    releases.rollback(c, settings, to=to, yes=yes)


@task(name="releases", help={"json": "print as JSON"})
@reported
def list_releases(c, json=False):
    """The releases on the server: revision, deployed at, by, migrations changed, current/bad."""
    hosts, coordinator = fleet_hosts.fleet_of(c, "releases")
    if hosts:  # -H a,b: side by side, drift flagged
        if coordinator:
            fleet_releases.listing(c, hosts, json)
        return
    settings = server(c)
    info = releases.admin(c, settings, "releases")
    if json:
        print_json(dict(info, host=host_name(c)))
        return
    show(tables.releases_table(f"Releases on {host_name(c)}:{settings.path}", info["releases"]))
    if info.get("lock"):
        console.print(f"[yellow]locked[/]: {info['lock'].get('action')} by {info['lock'].get('who')} since {info['lock'].get('since')}")


@task(help={"force": "remove the lock (only when no deploy is running)"})
@reported
def unlock(c, force=False):
    """Show who holds the deploy lock; --force removes it."""
    settings = server(c)
    info = releases.admin(c, settings, "unlock", force=force and not is_dry(c))
    lock = info["lock"]
    if not lock:
        console.print("Not locked.")
        return
    stale = lock.get("age", 0) > settings.lock_stale_after
    console.print(f"Locked: {lock.get('action')} by {lock.get('who')} since {lock.get('since')} ({lock.get('age')}s ago)"
                  + (" — stale" if stale else ""))
    flows.show_held_deploy(lock.get("deploy"), info.get("recovered"))
    if info["removed"]:
        console.print("[green]✓[/] lock removed")
    elif not force:
        console.print("Pass --force to remove it if no deploy is running"
                      + (" (it recovers the dead deploy first)." if (lock.get("deploy") or {}).get("running") is False else "."))


@task(help={"revision": "the revision about to ship (default: deploytasks.branch)",
            "live-only": "check only the live release", "json": "print the verdicts as JSON"})
@reported
def check(c, revision=None, live_only=False, json=False):
    """The pre-deployment checklist for the live release and for the revision about to ship."""
    settings, project = live(c, kind="server" if live_only else "deploy")
    sections = []
    if has_live_release(c, project):
        sections.append(("live", f"live release on {host_name(c)}", introspect(c, project, settings, schema=True)))
    elif live_only:
        require_live(c, project)
    if not live_only:
        with releases.candidate(c, settings, revision) as (prep, candidate):
            title = f"next: {revision or settings.branch} @ {prep['revision'][:12]} on {host_name(c)}"
            sections.append(("next", title, introspect(c, candidate, settings)))
    tables.show_checklists(sections, json)


@task(help={"download": "copy the backup to backups/<host>/ locally (default: yes)",
            "json": "print the manifest as JSON",
            "media": "also archive the shared media (MEDIA_ROOT) beside the dump (default: deploytasks.backup_media)"})
@reported
def backup(c, download=True, json=False, media=False):
    """Back up the live database on the server, verify it, and download a checksum-verified copy (--media: and MEDIA_ROOT)."""
    settings, project = live(c, open_now=False)  # Fabric's own connection is opened only if it is needed
    hosts, _ = fleet_hosts.fleet_of(c, "backup")
    if hosts and host_name(c) != fleet_deploy.migrate_host_name(hosts, settings):  # the database is shared
        console.print(f"{host_name(c)}: no backup: the hosts share one database, backed up once on "
                      f"{fleet_deploy.migrate_host_name(hosts, settings)}", highlight=False)
        return
    manifest = server_backups.take(c, settings, project, download=download, media=media or settings.backup_media,
                                   quiet=json)
    if json and manifest:
        print_json(manifest)


@task(name="backups", help={"json": "print as JSON"})
@reported
def list_backups(c, json=False):
    """Backups on the server and local copies, side by side."""
    settings, project = live(c)
    project = dataclasses.replace(project, root=settings.path)  # listing needs no release, only the server's Python
    remote = backup_store.listing(c, project, posixpath.join(settings.path, "backups"))
    local_dir = server_backups.local_dir(settings, host_name(c))
    local = {}
    if os.path.isdir(local_dir):
        for name in os.listdir(local_dir):
            if name.endswith(".json"):
                with open(os.path.join(local_dir, name)) as handle:
                    local[name[:-5]] = jsonlib.load(handle)
    if json:
        print_json({"host": host_name(c), "server": remote, "local": list(local.values()), "local_dir": local_dir})
        return
    show(tables.server_backups_table(f"Backups of {host_name(c)}", remote, local))


@task(help={"file": "local backup file (with its .json manifest beside it)", "yes": "do not ask for confirmation",
            "unverified": "allow a file without a manifest",
            "media": "also restore the media archived with it (default: deploytasks.backup_media)"})
@reported
def restore(c, file, yes=False, unverified=False, media=False):
    """Restore a local backup on the server: verify, upload, verify again, safety backup, restore, reload (--media: and MEDIA_ROOT)."""
    settings, project = live(c)
    local = os.path.abspath(os.path.expanduser(file))
    restores.on_server(c, settings, project, local, yes=yes, unverified=unverified, media=media or settings.backup_media)


@task(help={"args": "the management command and its arguments, as one string: \"showmigrations accounts\""})
@reported
def manage(c, args):
    """Run any manage.py command in the live release: fab -H prod manage "showmigrations accounts"."""
    settings, project = live(c)
    require_live(c, project)  # its output streams: check first, so a missing release is one line
    words = shlex.split(args)
    if not words:
        raise DeployTasksError("name a management command, e.g. fab manage \"showmigrations\"")
    result = run(c, project.manage_command(*words), what=f"manage.py {words[0]}", stream=True)
    return result


ns = Collection()
for _task in (setup, deploy, plan_task, rollback, list_releases, unlock, check, backup, list_backups, restore, manage,
              *step_tasks("the live release")):
    ns.add_task(_task)
ns.add_collection(migrations_collection("fab"))
ns.add_collection(shared.shared_collection(server))
answer_help_in(ns, "fab")
ns.configure(COLLECTION_CONFIG)
