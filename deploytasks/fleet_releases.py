"""`fab -H a,b releases` (the fleet side by side, drift flagged) and `fab -H a,b rollback` (every host to the
same earlier release, the schema taken back once on the migrate host; refused with a table when the hosts
disagree)."""

from . import __version__
from . import fleet, tables
from .django import run_django_script
from .errors import ConnectionLost, DeployTasksError
from .fleet_deploy import fleet_step, migrate_host, switch_moment, talk_of
from .host_names import host_name
from .output import console
from .prompt import confirm
from .releases import admin, live_project, refuse_forward, release_project, who
from .server.results import ReleaseListing, SchemaRollback, SwitchResult
from .shell import is_dry, run


def connected(c, names, quiet=False):
    hosts = fleet.hosts_for(c, names, "server", quiet=quiet)
    if fleet.connect_all(hosts):
        failed = [h for h in hosts if h.error]
        raise DeployTasksError(f"{failed[0].name}: {failed[0].error}")
    return hosts


def listing(c, names, as_json=False) -> dict:
    """Every host's releases side by side; drift: hosts not on the same live release."""
    hosts = connected(c, names, quiet=True)
    fleet.on_all(hosts, lambda host: host.data.update(info=admin(host.c, host.settings, "releases")), "releases")
    failed = [h for h in hosts if h.error]
    if failed:
        raise DeployTasksError(f"{failed[0].name}: {failed[0].error}")
    return tables.show_fleet_releases({h.name: h.data["info"] for h in hosts}, as_json)


def target_of(info: ReleaseListing, to):
    """(current, target, why not) from one host's release listing, as the single-host rollback picks it."""
    current = info["current"]
    meta = {r["release"]: r for r in info["releases"]}
    if not current:
        return current, None, "nothing is live"
    if to:
        return current, (to if to in meta else None), (None if to in meta else f"no release {to}")
    earlier = [n for n in sorted(meta) if n < current and meta[n].get("status") != "bad" and meta[n].get("revision")]
    return current, (earlier[-1] if earlier else None), (None if earlier else "no previous release")


def rollback(c, names, to=None, yes=False, as_json=False) -> dict:
    """Every host back to the same earlier release: locks on all, the hosts must agree on where they are and
    where they go; the schema goes back once (backed up) on the migrate host, then all switch; any unhealthy
    host: all switch back and the migrations are applied again."""
    hosts = connected(c, names, quiet=as_json)
    migrator = migrate_host(hosts)
    if is_dry(c):
        console.print(f"[dim]dry-run:[/] lock {', '.join(names)}, unapply once on {migrator.name}, switch all back")
        return {}
    log = {"action": "rollback", "by": who(), "tool": __version__, "fleet": names}
    # each lock goes with this client's connection (server/lock_guard.py) until the host's command holds it
    fleet.on_all(hosts, lambda host: host.data.update(info=admin(host.c, host.settings, "lock", what="rollback",
                                                                 guard=True)), "lock")
    try:
        plan = agreed(hosts, to, as_json)
        current, target, meta = plan
        refuse_forward("fab -H " + ",".join(host_name(h.c) for h in hosts), current, meta)
        project = live_project(migrator.settings)
        state = meta.get("migrations")
        if state is None:
            raise DeployTasksError(f"{target} has no recorded migration state, so its schema cannot be restored safely")
        params = {"database": migrator.settings.database, "state": state, "check_only": True,
                  "backups_dir": f"{migrator.settings.path}/backups", "fab": f"fab -H {host_name(migrator.c)}",
                  "fleet_fab": "fab -H " + ",".join(host_name(h.c) for h in hosts)}
        check: SchemaRollback = run_django_script(migrator.c, project, "migrate_to_state", params,
                                                  what="planning the schema rollback")
        refuse_forward(params["fleet_fab"], current, meta, check.get("missing"))
        if not as_json:
            console.print(f"Roll back {len(hosts)} hosts {current} → {target} ({meta['revision'][:12]}): "
                          + (f"unapply {', '.join(check['unapply'])} once on {migrator.name}" if check["unapply"]
                             else "no migrations to unapply"))
        confirm(f"Roll back {', '.join(names)} to {target}?", yes, False)
        if fleet.on_all(hosts, lambda host: collect_static(host, target), "static files"):
            failed = next(h for h in hosts if h.error)
            raise DeployTasksError(f"{failed.name}: {failed.error}; nothing was unapplied or switched")
        for host in hosts:
            host.release = target
        if fleet.on_all(hosts, lambda host: hold(host, current, target, meta, check, log), "lock"):
            failed = next(h for h in hosts if h.error)
            raise DeployTasksError(f"{failed.name}: {failed.error}; nothing was unapplied or switched")
        params.update(check_only=False, backup_dest=f"{migrator.settings.path}/backups", keep=0, version=__version__,
                      host=host_name(migrator.c))
        schema = {"unapply_command": project.django_script_command(), "database": migrator.settings.database,
                  "reapply_command": project.manage_command("migrate", "--noinput")}
        try:
            done: SchemaRollback = fleet_step(migrator, "unapply", dict(schema, request=params),
                                              "unapplying migrations", talk=talk_of(migrator), then=True)
        except ConnectionLost:
            raise
        except DeployTasksError as exc:
            said = str(exc)
            if "re-appl" not in said:  # its command died (killed): the unapply it started goes on; then re-apply
                said += "; " + fleet_step(migrator, "reapply", schema, "re-applying migrations")["summary"]
            raise DeployTasksError(f"{migrator.name}: {said}; nothing was switched: every host stays on {current}") \
                from None
    except BaseException:
        fleet.on_all([h for h in hosts if h.data.get("info")],
                     lambda host: admin(host.c, host.settings, "abort", release=None), "unlock")
        raise
    at = switch_moment(hosts)
    if at is None or fleet.on_all(hosts, lambda host: switched(host, meta, at), "switch"):
        reason = "the health check failed on " + ", ".join(h.name for h in hosts if h.error) if at else \
            "getting ready to switch failed on " + ", ".join(h.name for h in hosts if h.error)
        fleet.on_all(hosts, lambda host: fleet_step(host, "back", {"previous": current, "switched": True,
                                                                   "reason": reason, "log": log}, "switching back",
                                                    talk=talk_of(host)),
                     "switch back")
        run(migrator.c, project.manage_command("migrate", "--noinput"), what="re-applying migrations")
        fleet.report(f"Rollback of {len(hosts)} hosts", hosts, as_json,
                     {"result": "switched back", "release": current, "from": current, "to": target})
        raise DeployTasksError(f"{reason}; every host stays on {current} with its migrations re-applied")
    fleet.on_all(hosts, lambda host: finished(host, current, log, meta), "finalize")
    fleet.report(f"Rollback of {len(hosts)} hosts", hosts, as_json,
                 {"result": "ok", "release": target, "from": current, "to": target,
                  "unapplied": done.get("unapplied", []), "backup": done.get("backup")})
    if not as_json:
        console.print(f"[green]✓[/] {target} is live again on {len(hosts)} hosts; {current} is marked bad"
                      + (f"; unapplied {len(done['unapplied'])} migration(s) once, backup {done.get('backup')}"
                         if done.get("unapplied") else ""))
    return {"release": target, "from": current, "unapplied": done.get("unapplied", [])}


def collect_static(host, target):
    """The target release's static files collected into it when it has none of its own (static_files.ensure)."""
    if not host.settings.collectstatic:
        return
    project = release_project(host.settings, f"{host.settings.path}/releases/{target}")
    run_django_script(host.c, project, "collect_static", {"path": host.settings.path, "release": target},
                      what=f"collecting the static files of {target}", changes=True)


def agreed(hosts, to, as_json=False):
    """(current, target, target's metadata) when every host is on the same release and goes to the same one;
    else a table of what each host has, and an error."""
    plans = {h.name: target_of(h.data["info"], to) for h in hosts}
    if any(h.error for h in hosts):
        failed = next(h for h in hosts if h.error)
        raise DeployTasksError(f"{failed.name}: {failed.error}")
    if len({(current, target) for current, target, _ in plans.values()}) == 1:
        current, target, problem = next(iter(plans.values()))
        if problem:
            raise DeployTasksError(f"{problem} on any of the hosts: there is nothing to roll back to")
        if target == current:
            raise DeployTasksError(f"{target} is already live")
        meta = next(r for r in hosts[0].data["info"]["releases"] if r["release"] == target)
        return current, target, meta
    tables.show_rollback_disagreement(plans, as_json)
    raise DeployTasksError("the hosts are not on the same release or would not go back to the same one (see the "
                           "table): deploy the revision you want on all of them (`fab -H "
                           f"{','.join(h.name for h in hosts)} deploy --revision SHA`); a host rolled back on its own "
                           "may not unapply migrations the others' code uses")


def hold(host, current, target, meta, check, log):
    """The host's command started, holding its lock, told what to do alone if this client goes away
    (server/fleet_host.py): the switch to `target` and how to record it."""
    forward = dict(switch_request(host, meta, 0), complete=completion(host, current, log, meta))
    fleet_step(host, "hold", {"forward": forward, "plan": check["unapply"], "state": meta.get("migrations"),
                              "check_command": live_project(host.settings).django_script_command(),
                              "database": host.settings.database, "log": dict(log, revision=meta["revision"])},
               "taking over the lock", talk=talk_of(host), then=True)


def switch_request(host, meta, at) -> dict:
    return {"healthcheck": host.settings.healthcheck, "healthcheck_retries": host.settings.healthcheck_retries,
            "healthcheck_delay": host.settings.healthcheck_delay, "revision": meta["revision"], "at": at}


def completion(host, current, log, meta) -> dict:
    return {"previous": current, "mark_bad": [current], "keep_releases":
            max(host.settings.releases_kept, len(host.data["info"]["releases"])),
            "prune_uv_cache": host.settings.prune_uv_cache,
            "log": dict(log, revision=meta["revision"], **{"from": current})}


def switched(host, meta, at):
    done: SwitchResult = fleet_step(host, "switch", switch_request(host, meta, at), "switching and health-checking",
                                    talk=talk_of(host), then=True)
    host.data["switched"] = True
    if done["problem"]:
        raise DeployTasksError(f"{host.release} failed its health check ({done['problem']})")
    fleet.say(host, f"[green]✓[/] back on {host.release}, reloaded, healthy")


def finished(host, current, log, meta):
    fleet_step(host, "complete", completion(host, current, log, meta), "recording the rollback and unlocking",
               talk=talk_of(host))
    host.phase, host.result = "live", "ok"
