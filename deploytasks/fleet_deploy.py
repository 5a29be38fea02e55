"""`fab -H a,b,c deploy`: one coordinated deploy of several hosts sharing one database. Phase 1 on all hosts at
once: lock, fetch/unpack, venv, checks, collectstatic (any failure: every staged release removed, every lock
freed, nothing switched). Phase 2 once, on the migrate host: the checklist, backup, rehearsal, migrate. Phase
3 on all hosts at once: switch, reload, health check; all healthy: each records and unlocks; else every host
switches back and the migrate host unapplies this release's migrations (once). Two SSH commands per host, as
for one host: prepare; then one that stages, waits (the migrate host's migrates), waits again, switches, waits,
and records or undoes: see conversation.py."""
import posixpath
import time

from . import __version__
from . import bundle, fleet
from .connection import connect
from .conversation import Conversation
from .deploy_hooks import around_build
from .deploy_report import pruned_summary, report_migrations, report_notes, venv_changed
from .django import run_django_script
from .errors import DeployTasksError
from .hooks import for_server
from .host_names import host_name
from .output import console
from .releases import (admin, build_venv, prepare_request, release_project, server_command, server_params, server_script,
                       skip_request, who)
from .shell import is_dry

# Phase 3 names a moment a little ahead at which every host switches, once every host's command has answered
# a `ready` request (timed): far enough ahead for one more message to reach the slowest host twice over.
SWITCH_MARGIN, SWITCH_LEAD_MAX = 0.1, 5.0
UNCHANGED = "unchanged"  # run_phases' outcome when every host already serves the revision


def migrate_host_name(names, settings) -> str:
    """The host (of the fleet) that works on the shared database: deploytasks.migrate_host, or the first."""
    wanted = settings.migrate_host or names[0]
    if wanted not in names:
        raise DeployTasksError(f"deploytasks.migrate_host {wanted!r} is not one of the hosts ({', '.join(names)})")
    return wanted


def migrate_host(hosts):
    wanted = migrate_host_name([h.name for h in hosts], hosts[0].settings)
    migrator = next(host for host in hosts if host.name == wanted)
    migrator.data["migrates"] = True
    return migrator


def deploy(c, names, revision=None, force=False, as_json=False, again=False) -> dict:
    """Deploy `revision` to every host of `names` (the -H list) as one release: all switch, or none; nothing when
    every host's live release already serves it as this deploy would build it, unless `again`."""
    hosts = fleet.hosts_for(c, names, "deploy", quiet=as_json)
    migrator = migrate_host(hosts)
    if is_dry(c):
        console.print(f"[dim]dry-run:[/] lock and stage on {', '.join(names)} at once; checklist, backup, rehearsal and "
                      f"migrate once on {migrator.name}; switch, reload and health-check all; all healthy or all back")
        return {}
    log = {"action": "deploy", "by": who(), "tool": __version__, "fleet": names, "migrate_host": migrator.name}
    try:
        outcome = run_phases(hosts, migrator, revision, force, log, again)
    except KeyboardInterrupt:
        raise DeployTasksError(interrupted(hosts, migrator, names)) from None
    if outcome == UNCHANGED:
        return report_unchanged(hosts, as_json)
    spread = switch_spread(hosts)
    fleet.report(f"Deploy of {len(hosts)} hosts", hosts, as_json,
                 {"result": outcome, "migrate_host": migrator.name, "switch_spread_seconds": spread})
    failed = [h for h in hosts if h.error]
    if outcome != "ok":
        first = failed[0] if failed else hosts[0]
        raise DeployTasksError(f"the deploy to {len(hosts)} hosts stopped: {first.name}: {first.error or outcome}; "
                               f"{outcome}")
    if not as_json:
        console.print(f"[green]✓[/] {hosts[0].release} is live on {len(hosts)} hosts"
                      + (f" (switched within {spread:.2f}s)" if spread is not None else ""))
    return {"hosts": {h.name: h.release for h in hosts}, "switch_spread_seconds": spread}


def interrupted(hosts, migrator, names) -> str:
    """What Ctrl-C during a fleet deploy leaves: each host's command sees `fab` gone and acts alone (README:
    *Several servers*), before the switch round by undoing, after it by going forward."""
    status = f"`fab -H {','.join(names)} releases` shows where each host is"
    if any(h.data.get("switched") for h in hosts):
        return (f"interrupted (Ctrl-C) during the switch round: too late to stop it; each host that switched and is "
                f"healthy records the release alone, the others go back; {status}")
    return (f"interrupted (Ctrl-C) before any host switched: each host removes its staged release and frees its lock "
            f"by itself, and {migrator.name} unapplies what it migrated, if anything; {status}")


def run_phases(hosts, migrator, revision, force, log, again=False) -> str:
    """The outcome: "ok", UNCHANGED, or what the fleet was left as."""
    if fleet.connect_all(hosts):
        for host in hosts:
            host.result = "unreachable" if host.error else "not started"
        return "nothing was changed on any host"
    name = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())  # one release name on every host
    failed = fleet.on_all(hosts, lambda host: stage(host, revision, name, log, again), "stage")
    serving = [host for host in hosts if "unchanged" in host.data]
    if not failed and len(serving) == len(hosts):
        return UNCHANGED
    if serving and not failed:  # the others deploy: these stage the same release anew (all switch, or none)
        failed = fleet.on_all(serving, lambda host: stage(host, revision, name, log, True), "stage")
    if failed:
        undo_all(hosts, None, "staging failed on " + ", ".join(h.name for h in hosts if h.error), log)
        stuck = undo_failed_on(hosts)
        return "nothing was switched; " + (f"removing the staged release failed on {', '.join(stuck)} (see the table)"
                                           if stuck else "every staged release was removed and every lock freed")
    for host in hosts:
        host.result = "staged"
    began = time.monotonic()
    try:
        predeploy = migrate(migrator, force)
    except Exception as exc:  # noqa: BLE001 - every host goes back, then the failure is reported
        fleet.timed(migrator, "migrate", began)
        migrator.error, migrator.result = str(exc), "failed"
        fleet.say(migrator, f"[red]✗ migrate: {exc}[/]")
        schema = undo_all(hosts, migrator, f"migrating on {migrator.name} failed", log)
        return "nothing was switched" + (f"; {schema}" if schema else "")
    fleet.timed(migrator, "migrate", began)
    at = switch_moment(hosts, extra_trips=1)
    if at is not None:
        for host in hosts:
            host.data["switch_params"] = switch_params(host, migrator, predeploy, log, at)
        if fleet.on_all([migrator], lambda host: commit(host, host.data["switch_params"]), "switch"):
            at = None
    if at is None or fleet.on_all(hosts, lambda host: switch(host, host.data["switch_params"]), "switch"):
        failing = [h for h in hosts if h.error]
        unhealthy = at and all((h.data.get("switch") or {}).get("problem") for h in failing)
        what = "the health check" if unhealthy else "switching" if at else "getting ready to switch"
        schema = undo_all(hosts, migrator, f"{what} failed on {', '.join(h.name for h in failing)}", log)
        stuck = undo_failed_on(hosts)
        if not any(h.data.get("switched") for h in hosts):
            said = "nothing was switched" + (f"; the undo could not reach {', '.join(stuck)}, whose server removes the "
                                             "staged release and frees its lock by itself" if stuck else "")
        else:
            said = "every host switched back" if not stuck else "the others switched back"
        return said + (f"; {schema}" if schema else "")
    fleet.on_all(hosts, complete, "finalize")
    return "ok" if not any(h.error for h in hosts) else "live, but finalizing failed on some hosts (see the table)"


def stage(host, revision, name, log, again=False):
    """Lock, fetch/unpack, venv, system checks and collectstatic in the new release; or, when the host's live
    release already serves the revision as it would be built (and not `again`), nothing: host.data["unchanged"]."""
    host.phase = "lock"
    host.data.pop("unchanged", None)
    # until the staging command holds the lock, it goes with this client's connection (server/lock_guard.py)
    params = dict(prepare_request(host.c, host.settings, revision), release_name=name, guard=True,
                  **skip_request(host.settings, again))
    prep = server_script(host.c, host.settings, "prepare_release", params,
                         what=f"preparing the release on {host.name}", changes=True)
    if prep.get("unchanged"):
        host.data["unchanged"], host.release, host.phase = prep, prep["release"], "unchanged"
        return
    host.data["prep"], host.release = prep, prep["release"]
    fleet.say(host, f"[green]✓[/] release {prep['release']} from {prep['revision'][:12]}"
              + (f" (live: {prep['current']})" if prep["current"] else " (first deploy)"))
    host.data["project"] = project = release_project(host.settings, prep["release_dir"])
    host.data["hooks"] = for_server(project, host.settings.hooks)
    host.phase = "venv"
    with around_build(host.c, host.settings, project):
        if prep["venv_ready"]:
            fleet.say(host, f"[green]✓[/] venv {posixpath.basename(prep['venv'])} reused")
        else:
            build_venv(host.c, host.settings, project, prep, dict(log, revision=prep["revision"]),
                       say=lambda message: fleet.say(host, message))
    host.phase = "checks"
    # the command stays, waiting: to migrate (the migrate host), then to switch, then to record or undo
    talk = host.data["talk"] = Conversation(
        host.c, bundle.locator(project.tools or None) + project.django_script_command(), "system checks and collectstatic",
        silence_limit=host.settings.client_timeout)
    done = talk.ask("fleet_stage", {
        "database": host.settings.database, "collectstatic": host.settings.collectstatic, "release": prep["release"],
        "path": host.settings.path, "shared_dirs": host.settings.shared_dirs, "hooks": host.data["hooks"],
        "undo": undo_params(host, log),  # what the host undoes alone if this client goes away (server/fleet_host.py)
    }, then=True)
    fleet.say(host, "[green]✓[/] check passed" + (f"; {done['collectstatic']}" if done.get("collectstatic") else ""))
    host.phase = "staged"


def report_unchanged(hosts, as_json) -> dict:
    """What a fleet deploy that had nothing to do says and returns: every host's live release serves the revision."""
    for host in hosts:
        host.result = "unchanged"
    revision = hosts[0].data["unchanged"]["revision"]
    fleet.report(f"Deploy of {len(hosts)} hosts", hosts, as_json, {"result": "unchanged"})
    if not as_json:
        console.print(f"[green]✓[/] every host already serves {revision[:12]}, built with these settings and shared "
                      "files, and answers its health check: nothing to deploy (`fab deploy --again` deploys it anew)",
                      highlight=False)
    return {"hosts": {h.name: h.release for h in hosts}, "unchanged": True}


def undo_params(host, log) -> dict:
    """What the host's `undo` step is given, but for `switched`, `migrated` and `reason`."""
    prep = host.data["prep"]
    return server_params(host.c, host.settings, {
        "previous": prep["current"], "unapply_command": host.data["project"].django_script_command(),
        "database": host.settings.database, "venv_changed": venv_changed(prep),
        "log": dict(log, revision=prep["revision"])})


def migrate(host, force) -> dict:
    """Phase 2 on the migrate host: the checklist, then (when migrations are pending) backup, rehearsal, migrate."""
    host.phase = "migrate"
    settings, release = host.settings, host.release
    params = {"database": settings.database, "collectstatic": False, "release": release,
              "backup_dest": posixpath.join(settings.path, "backups"), "keep": settings.keep_backups,
              "version": __version__, "host": host_name(host.c), "force": force, "path": settings.path,
              "journaled": True, "strict_migrations": settings.strict_migrations,
              "safe_migrations": settings.safe_migrations, "shared_dirs": settings.shared_dirs,
              "hooks": host.data["hooks"]}
    what = "the checklist, backup, rehearsal and migrations"
    talk = host.data.get("talk")
    if talk is not None and talk.open:  # the staging command, waiting for this (else: a command of its own)
        pre = talk.ask("fleet_predeploy", params, then=True, what=what)
    else:
        pre = run_django_script(host.c, host.data["project"], "predeploy", params, what=what, changes=True)
    host.data["migrated"] = bool(pre["pending"])
    if host.quiet:
        return pre
    report_notes(pre)
    if pre["pending"]:
        fleet.say(host, f"migrations of the shared database, once, here ({len(pre['pending'])}):")
        report_migrations(pre)
    else:
        fleet.say(host, "[green]✓[/] no migrations to apply")
    return pre


def talk_of(host):
    """The host's command waiting for its next request (the staging one), else a new one (server package)."""
    talk = host.data.get("talk")
    if talk is None or not talk.can_ask:
        talk = host.data["talk"] = Conversation(host.c, server_command(host.settings), f"the deploy on {host.name}")
    return talk


def switch_moment(hosts, extra_trips=0):
    """When every host is to switch (time.time()), once each host's command answered `ready`; None when one
    did not (its lock or release gone). extra_trips: round trips the caller makes before asking to switch."""
    trips = {}

    def ready(host):
        talk = talk_of(host)
        if not talk.started:  # a new command: started first, so the timed round trip is one message each way
            fleet_step(host, "ready", {}, "getting ready to switch", talk=talk, then=True)
        began = time.monotonic()
        fleet_step(host, "ready", {}, "getting ready to switch", talk=talk, then=True)
        trips[host.name] = time.monotonic() - began
    if fleet.on_all(hosts, ready, "switch"):
        return None
    return time.time() + min(SWITCH_LEAD_MAX, SWITCH_MARGIN + (2 + extra_trips) * max(trips.values()))


def switch_params(host, migrator, pre, log, at) -> dict:
    """The switch request of a host: what switching and checking needs, and how to record the release (which
    the host does alone if this client goes away after the switch)."""
    return {"healthcheck": host.settings.healthcheck, "healthcheck_retries": host.settings.healthcheck_retries,
            "healthcheck_delay": host.settings.healthcheck_delay, "revision": host.data["prep"]["revision"],
            "hooks": host.data["hooks"], "at": at, "undo_on_hook_failure": host.settings.undo_on_hook_failure,
            "venv_changed": venv_changed(host.data["prep"]), "complete": completion(host, migrator, pre, log)}


def commit(host, params):
    """The migrate host told the switching moment before any host is asked to switch (server/fleet_host.py)."""
    fleet_step(host, "commit", params, "getting ready to switch", talk=talk_of(host), then=True)


def switch(host, params):
    host.phase = "switch"
    host.data["switched"] = True
    talk = talk_of(host)
    done = fleet_step(host, "switch", params, "switching and health-checking", talk=talk, then=True)
    host.data["switch"] = done
    if done["problem"]:
        raise DeployTasksError(f"{host.release} failed its health check ({done['problem']})")
    fleet.say(host, f"[green]✓[/] switched to {host.release}, reloaded, healthy")


def completion(host, migrator, pre, log) -> dict:
    """The `complete` request of a host (record, prune, log, unlock)."""
    prep = host.data["prep"]
    meta = {"revision": prep["revision"], "deployed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "by": log["by"], "venv": prep["venv"], "migrations": pre["state_after"],
            "migrations_before": pre["state_before"], "migrations_changed": bool(pre["pending"]),
            "backup": pre.get("backup") if host is migrator else None, "deploy_digest": prep.get("deploy_digest"),
            "fleet": log.get("fleet")}  # the hosts it went live on together, over one database (releases.rollback)
    return {"previous": prep["current"], "meta": meta, "keep_releases": host.settings.releases_kept,
            "prune_uv_cache": host.settings.prune_uv_cache,
            "log": dict(log, revision=prep["revision"], seconds=host.seconds)}


def complete(host):
    done = dict(host.data["switch_params"]["complete"])
    done["log"] = dict(done["log"], seconds=host.seconds)
    fin = fleet_step(host, "complete", done, "recording the release and unlocking", talk=talk_of(host))
    host.phase, host.result = "live", "ok"
    pruned = pruned_summary(fin)
    if pruned:
        fleet.say(host, pruned)


def fleet_step(host, action, params, what, talk=None, then=False):
    """One fleet_step action on the host: asked of `talk` (the host's switching command) while it waits, else
    in a command of its own."""
    params = dict(params, action=action, release=host.release)
    if talk is not None and talk.can_ask:
        return talk.ask("fleet_step", server_params(host.c, host.settings, params), then=then,
                        what=f"{what} on {host.name}")
    return server_script(host.c, host.settings, "fleet_step", params, what=f"{what} on {host.name}", changes=True)


def undo_all(hosts, migrator, reason, log) -> str:
    """Every staged host back to before: the others first, the migrate host last (it unapplies, once, when no
    host serves the new release any more: a host whose undo failed may still serve it, and then the schema stays).
    Returns what became of the schema, for the outcome line ("" when nothing was migrated)."""
    staged = [h for h in hosts if h.data.get("prep")]
    others = [h for h in staged if h is not migrator]

    def back(host, keep_schema=None):
        try:
            take_back(host, migrator, reason, log, keep_schema)
        except Exception:
            host.data["undo_failed"] = True
            raise
    fleet.on_all(others, back, "undo")
    stuck = [h.name for h in others if h.data.get("undo_failed") and h.data.get("switched")]  # asked to switch:
    # it may serve the new release; one never asked cannot (its server side removes the release once we are gone)
    keep = None
    if stuck and migrator in staged:
        keep = (f"the schema stays migrated: the undo failed on {', '.join(stuck)}, which may still serve the "
                f"new release (see the table); fix it there, then deploy again")
    if migrator in staged:
        fleet.on_all([migrator], lambda host: back(host, keep), "undo")
    if keep:
        return keep
    unapplied = (migrator.data.get("unapplied") or []) if migrator is not None else []
    return f"{len(unapplied)} migration(s) unapplied once on {migrator.name}" if unapplied else ""


def undo_failed_on(hosts) -> list:
    """The names of the hosts whose undo failed (undo_all marks them)."""
    return [h.name for h in hosts if h.data.get("undo_failed")]


def take_back(host, migrator, reason, log, keep_schema=None):
    prep = host.data["prep"]
    connect(host.c, host.settings)  # a connection lost meanwhile: opened again, or one line saying why it cannot be
    if not host.data.get("project"):
        admin(host.c, host.settings, "abort", release=prep["release"], log=dict(log, error=reason), result="failed")
        host.result = host.result if host.error else "removed"
        return
    done = fleet_step(host, "undo", {"previous": prep["current"], "switched": bool(host.data.get("switched")),
                                     "migrated": host is migrator and not keep_schema,
                                     "reason": f"{reason}; {keep_schema}" if keep_schema else reason,
                                     "unapply_command": host.data["project"].django_script_command(),
                                     "database": host.settings.database, "venv_changed": venv_changed(prep),
                                     "log": dict(log, revision=prep["revision"])}, "undoing the deploy",
                      talk=talk_of(host))
    host.data["unapplied"] = done.get("unapplied") or []
    if not host.error:
        host.result = "switched back" if host.data.get("switched") else "removed"
    fleet.say(host, "[yellow]↩[/] " + done["summary"].split("; ", 1)[-1])


def switch_spread(hosts):
    """Seconds between the first and the last host switching (server clocks), None unless all switched."""
    moments = [h.data["switch"]["switched_at"] for h in hosts if h.data.get("switch")]
    if len(moments) != len(hosts):
        return None
    return round(max(moments) - min(moments), 3)
