"""Deploy and rollback on a server: releases, lock, atomic switch, code-and-schema rollback."""
import dataclasses
import getpass
import hashlib
import json
import os
import posixpath
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Optional

from . import __version__
from .host_names import host_name
from .django import run_django_script
from .errors import ConnectionLost, DeployTasksError
from .flows import show_held_deploy
from .output import console
from .bundle import WARM_BOOT
from .project import DJANGO_SCRIPT_ARGS, Project
from .server.layout import ServerLayout
from .server.results import PreparedRelease, ReleaseListing
from .server.standby import RELEASE_SLOT
from .server.venv_build import DIGEST, VENV
from .prompt import confirm
from .shell import is_dry, q, run, run_script, summary
from .installer import failure_summary, server_build_command, uv_cache_note
from .deploy_report import (checklist_outcome, pruned_summary, report_marked_bad, report_migrations, report_notes,
                            report_unpushed, report_venv_change, venv_changed)
from .lint_output import report_lint
from . import bundle, deploy_hooks, openssh, supervised
from .conversation import BundleMissing, Conversation
from .transfer import sftp_fallback

def who() -> str:
    return f"{getpass.getuser()}@{socket.gethostname()}"


def release_project(settings, release_dir) -> Project:
    return Project(
        root=release_dir,
        base_python=settings.python,
        venv=posixpath.join(release_dir, ".venv"),
        manage=settings.manage,
        requirements=settings.requirements,
        env_file=settings.env_file,
        tools=ServerLayout(settings.path).tools,
        shared=tuple((name, posixpath.join(settings.path, "shared", name),
                      settings.shared_sources.get(name) or posixpath.join("deploy", "<host>", name))
                     for name in settings.shared_files),
    )


def lock_dir(settings) -> str:
    """The deploy lock (server/lock.py takes it as a directory: mkdir is atomic)."""
    return posixpath.join(settings.path, ".deploy-lock")


def live_project(settings) -> Project:
    project = release_project(settings, posixpath.join(settings.path, "current"))
    project.backups = posixpath.join(settings.path, "backups")
    project.missing = f"no live release with a venv at {project.root}: run `fab deploy` first"
    return project


def code_of(settings, live, release_dir):
    """The live project, or (nothing live) the newest release on disk the server named, said so."""
    if not release_dir:
        return live
    console.print(f"[yellow]![/] no live release: using the code of {posixpath.basename(release_dir)}, the newest "
                  "release on the server with a venv", highlight=False)
    project = release_project(settings, release_dir)
    project.backups, project.missing = live.backups, live.missing
    return project


def server_script(c, settings, name, params, *, what, changes=False, description=None):
    """Run an entry point of the server package with the server's Python (its parameters, sudo password
    included, travel on stdin, never argv)."""
    return run_script(c, bundle.run_with(settings.python), name, server_params(c, settings, params),
                      what=what, changes=changes, description=description, tools=ServerLayout(settings.path).tools)


def server_params(c, settings, params) -> dict:
    """`params` with what every server-package entry run by server_script is given."""
    return dict(params, path=settings.path, lock_stale_after=settings.lock_stale_after, who=who(),
                sudo_password=c.config.get("sudo", {}).get("password"), reload=settings.reload, restart=settings.restart,
                start=settings.start, reload_timeout=settings.reload_timeout,
                shared_files=settings.shared_files)  # an undo puts back the ones the live release went live with


def server_command(settings) -> str:
    """The shell command that runs the server package with the server's Python (the bundle located first)."""
    return bundle.locator(ServerLayout(settings.path).tools) + bundle.run_with(settings.python)


def admin(c, settings, action, **params):
    return server_script(c, settings, "server_admin", dict(params, action=action), what=f"{action} on the server")


def reload(c, settings) -> None:
    """Run the reload command on the server the way deploys do (sudo password on its stdin, if configured)."""
    if settings.reload:
        admin(c, settings, "reload", reload=settings.reload)
        console.print("[green]✓[/] reloaded")


def upload_archive(c, settings, revision) -> tuple:
    """`git archive` of a local revision, uploaded for servers that cannot reach the repo."""
    try:
        sha = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}"],
                             capture_output=True, text=True, check=True).stdout.strip()
    except (subprocess.CalledProcessError, FileNotFoundError):
        raise DeployTasksError(f"revision {revision!r} does not exist in the local git repository") from None
    fd, local = tempfile.mkstemp(prefix=f"deploytasks-{sha[:12]}-", suffix=".tar")  # not a guessable /tmp name
    os.close(fd)
    try:
        subprocess.run(["git", "archive", "--format=tar", "-o", local, sha], check=True)
    except BaseException:
        os.unlink(local)
        raise
    remote = posixpath.join(settings.path, f".upload-{sha[:12]}.tar")
    try:
        run(c, f"mkdir -p {q(settings.path)}", what="creating the deploy path")
        try:  # through OpenSSH's client when there is one (no SFTP: see bundle.put)
            sent = openssh.send(c, settings, local, remote, lambda done: None,
                                compress=None if settings.compress_transfers else False)
        except OSError as exc:
            raise DeployTasksError(f"uploading the release archive failed: {exc}") from None
        if not sent:
            sftp_fallback(c, "the upload of the release archive").put(local, remote)
    finally:
        os.unlink(local)
    return sha, remote


def prepare_request(c, settings, revision) -> dict:
    """The parameters of prepare_release (for strategy upload, the archive is uploaded first)."""
    params = {
        "repo": settings.repo, "branch": settings.branch, "revision": revision, "strategy": settings.strategy,
        "shared_files": settings.shared_files, "shared_dirs": settings.shared_dirs,
        "requirements": settings.requirements, "host": host_name(c),
    }
    if settings.strategy == "upload" and not is_dry(c):
        params["revision"], params["archive"] = upload_archive(c, settings, revision or settings.branch)
    return params


def settings_digest(settings) -> str:
    """sha256 of the deploy settings and the tool's version: with the commit and the shared files, what a release
    is built from (server/live_match.py)."""
    document = json.dumps([__version__, dataclasses.asdict(settings)], sort_keys=True, default=str)
    return hashlib.sha256(document.encode()).hexdigest()


def skip_request(settings, again) -> dict:
    """What prepare_release compares with the live release to skip a deploy that would rebuild it
    (server/live_match.py): the settings digest and the health check; `again` deploys all the same."""
    return {"settings_digest": settings_digest(settings), "healthcheck": settings.healthcheck, "again": again}


def standby_request(settings) -> dict:
    """prepare's `standby`: the pre-deploy Django's command of a release yet unnamed, RELEASE_SLOT where its name
    goes (the server's standby fills it in; the supervisor uses what it started only if it equals the command
    asked for), and the same command in parts for a Python of the live venv that becomes it
    (server/warm_start.py): its shell's cd and .env ending in `exec`, its directory, manage.py and its arguments."""
    project = release_project(settings, posixpath.join(settings.path, "releases", RELEASE_SLOT))
    return {"predeploy_command": project.django_script_command(),
            "warm": {"exec_prefix": project.shell("exec"), "root": project.root, "manage": project.manage,
                     "args": list(DJANGO_SCRIPT_ARGS), "boot": WARM_BOOT}}


def prepare(c, settings, revision, what, guard=False, build=None, command=None,
            again=None, standby=False) -> Optional[PreparedRelease]:
    """Lock, fetch and unpack a new release beside the live one (one server round trip); guard: the lock and the
    release go with this client's connection until the supervisor takes over (server/lock_guard.py); build
    (build_request's): build its venv in the same round trip when it is not ready; command: a DeployCommand
    whose SSH command then stays open for the supervised deploy; again (a deploy's): False lets the server skip
    a deploy that would rebuild the healthy live release, True prepares a new one all the same; standby (a
    deploy's): the server starts the supervisor and the new release's pre-deploy Django while this client reads
    the answer (server/standby.py)."""
    params = dict(prepare_request(c, settings, revision), guard=guard, **({"build": build} if build else {}))
    if standby and command is not None and not is_dry(c):  # only a command that stays open keeps the standby
        params["standby"] = standby_request(settings)
    if again is not None:
        params.update(skip_request(settings, again))
    with console.status("preparing the release …"):
        if command is not None and not is_dry(c):
            return command.prepare(params, what)
        return server_script(c, settings, "prepare_release", params, what=what,
                             changes=True, description=f"lock, fetch {revision or settings.branch}, unpack a new release")


class DeployCommand:
    """A deploy's server side in one SSH command: prepare_release, then, once this client has reported the release
    (and built its venv apart, if a hook runs around the build), deploy_supervised; the command waits in between
    (conversation.py), so the second step costs no session, no shell and no interpreter start."""

    def __init__(self, c, settings):
        self.c, self.settings = c, settings
        self.talk = self._conversation()

    def _conversation(self):
        return Conversation(self.c, server_command(self.settings), "the deploy",
                            silence_limit=self.settings.client_timeout)

    def prepare(self, params, what):
        request = server_params(self.c, self.settings, params)
        try:
            return self.talk.ask("prepare_release", request, then=True, what=what)
        except BundleMissing:
            bundle.ship(self.c, ServerLayout(self.settings.path).tools)
            self.talk = self._conversation()
            return self.talk.ask("prepare_release", request, then=True, what=what)

    def script(self, c, settings, name, params, *, what, changes=False, description=None):
        """server_script, with deploy_supervised asked in this command while it waits for it."""
        if name == "deploy_supervised" and self.talk.open:
            return self.talk.ask(name, server_params(c, settings, params), what=what)
        return server_script(c, settings, name, params, what=what, changes=changes, description=description)

    def admin(self, action, **params):
        """server_admin asked in this command while it waits (the release's standby Django, which this command
        holds, then ends before the release goes), else in a command of its own."""
        if not self.talk.open:
            return admin(self.c, self.settings, action, **params)
        return self.talk.ask("server_admin", server_params(self.c, self.settings, dict(params, action=action)),
                             what=f"{action} on the server")

    def close(self):
        self.talk.close()

    def abandon(self):
        """End the command's input without waiting for it (Ctrl-C, a failure): the server side ends, or cleans up
        after this client, by itself."""
        self.talk.abandon()


@contextmanager
def candidate(c, settings, revision=None):
    """A release of `revision` with its venv, never switched to, removed afterwards (for checks)."""
    # guard: should this client vanish, the server side removes the release and frees the lock
    prep = prepare(c, settings, revision, "preparing the revision to check", guard=True)
    if prep is None:
        raise DeployTasksError("--dry cannot check the next revision without unpacking it: add --live-only")
    show_held_deploy(None, prep.get("recovered"))  # the lock, taken as a deploy does, recovered a dead deploy
    try:
        project = release_project(settings, prep["release_dir"])
        if not prep["venv_ready"]:
            build_venv(c, settings, project, prep)
        yield prep, project
    finally:
        admin(c, settings, "abort", release=prep["release"], log=None)


def deploy(c, settings, revision=None, force=False, again=False) -> dict:
    """Build a release beside the live one, migrate safely, switch, reload, health-check (force: past the
    checklist's FAILs); nothing when the live release already serves the revision as it would be built, unless
    `again`."""
    started = time.monotonic()
    log = {"action": "deploy", "by": who(), "tool": __version__}
    build = None if deploy_hooks.around_build_listed(settings) else build_request(settings, log)
    command = DeployCommand(c, settings)
    try:
        done = deploy_in(c, settings, command, revision, force, started, log, build, again)
    except BaseException:
        command.abandon()
        raise
    command.close()
    return done


def deploy_in(c, settings, command, revision, force, started, log, build, again=False) -> dict:
    """deploy's steps, its server side asked through `command` (a DeployCommand)."""
    try:
        prep = prepare(c, settings, revision, "deploy", guard=True, build=build, command=command, again=again,
                       standby=build is not None)  # no hook runs between prepare and the supervisor
    except ConnectionLost:
        raise ConnectionLost(f"the connection to {host_name(c)} was lost while the release was prepared"
                             + (" and its venv built" if build else "") + ": the server side removes the release "
                             "and frees the lock itself") from None
    except KeyboardInterrupt:
        raise DeployTasksError("interrupted (Ctrl-C) while the release was prepared: nothing went live; the server "
                               "side removes the release and frees the lock itself") from None
    if prep is None:
        console.print("[dim]dry-run:[/] build or reuse the venv, check, collectstatic, migrate (backed up and rehearsed),"
                      " switch current, reload, health-check, prune, unlock" + deploy_hooks.dry(settings))
        return {}
    show_held_deploy(None, prep.get("recovered"))
    if revision is None and settings.strategy == "mirror":
        report_unpushed(settings, prep["revision"])
    if prep.get("unchanged"):
        return report_unchanged(prep, started)
    release = prep["release"]
    console.print(f"[green]✓[/] release {release} from {prep['revision'][:12]}"
                  + (f" (live: {prep['current']})" if prep["current"] else " (first deploy)"))
    report_marked_bad(prep)
    project = release_project(settings, prep["release_dir"])
    log["revision"] = prep["revision"]
    try:
        with deploy_hooks.around_build(c, settings, project):
            if prep["venv_ready"]:
                console.print(f"[green]✓[/] venv {posixpath.basename(prep['venv'])} reused "
                              + ("(built earlier for these requirements, by `fab plan` or a deploy; the live release "
                                 "runs another)" if venv_changed(prep) else "(requirements unchanged)"))
            elif "venv_build" in prep:
                report_build(settings, prep, prep["venv_build"])
            else:
                build_venv(c, settings, project, prep, log)
    except BaseException as exc:
        if isinstance(exc, ConnectionLost):  # the server side cleans up after a lost connection itself
            raise
        ctrl_c = isinstance(exc, KeyboardInterrupt)
        removed = abort(command, release, dict(log, error="interrupted (Ctrl-C)" if ctrl_c else str(exc)))
        if ctrl_c and removed:
            live = f"{prep['current']} stays live" if prep["current"] else "nothing is live"
            raise DeployTasksError(f"interrupted (Ctrl-C) before the switch: {release} removed, {live}") from None
        raise
    done = supervised.on_server(c, settings, prep, project, log, started, command.script, force=force)
    pre, fin = done["predeploy"], done["finalize"]
    report_predeploy(pre)
    report_venv_change(settings, prep, fin)
    seconds, pruned = time.monotonic() - started, pruned_summary(fin)
    console.print(f"[green]✓[/] {release} is live ({prep['revision'][:12]}) in {seconds:.1f}s"
                  + (f"; {pruned}" if pruned else ""))
    return {"release": release, "revision": prep["revision"], "previous": fin["previous"], "predeploy": pre,
            "pruned": fin["pruned"], "seconds": round(seconds, 2)}


def report_unchanged(prep, started) -> dict:
    """What a skipped deploy says and returns: the live release, which already serves this revision."""
    live = prep["release"]
    since = (prep.get("current_meta") or {}).get("live_since", "")
    console.print(f"[green]✓[/] {live} already serves {prep['revision'][:12]}" + (f" (live since {since})" if since else "")
                  + ", built with these settings and shared files, and answers its health check: nothing to deploy "
                  "(`fab deploy --again` deploys it anew)", highlight=False)
    return {"release": live, "revision": prep["revision"], "previous": None, "unchanged": True,
            "seconds": round(time.monotonic() - started, 2)}


def build_venv(c, settings, project, prep, log=None, say=None):
    """Build the release's venv at shared/venvs/<hash> with uv (kept cache) or pip; complete or absent. The server
    side (server/venv_build.py) stops the build, removes the release and frees the lock if the client goes."""
    venv = prep["venv"]
    command = server_build_command(settings, settings.path, venv, project.path(settings.requirements),
                                   prep["requirements_hash"])
    with console.status(f"building venv {posixpath.basename(venv)} (install -r {settings.requirements}) …"):
        if is_dry(c):
            run(c, command, what="building the venv", check=False)
            return
        try:
            result = server_script(c, settings, "venv_build", {"command": command, "venv": venv,
                                                                "release": prep["release"], "log": log},
                                   what="building the venv")
        except ConnectionLost:
            raise ConnectionLost(f"the connection to {host_name(c)} was lost while the venv was built: the server "
                                   f"side removes the release {prep['release']} and frees the lock itself") from None
    report_build(settings, prep, result, say)


def build_request(settings, log) -> dict:
    """prepare's `build`: the venv build command with placeholders for what only the new release tells (its
    requirements hash, and the venv's path named after it), run in the release's directory."""
    return {"command": server_build_command(settings, settings.path, VENV, settings.requirements, DIGEST),
            "log": log}


def report_build(settings, prep, result, say=None):
    """Say which tool built the venv; a failed build becomes DeployTasksError with uv's or pip's reason."""
    venv = prep["venv"]
    builder = next((line.split(":", 1)[1].strip() for line in result["stdout"].splitlines()
                    if line.startswith("builder:")), "pip")
    if result["returncode"]:
        detail = failure_summary(result["stderr"]) or summary(SimpleNamespace(
            stdout=result["stdout"], stderr=result["stderr"], exited=result["returncode"]))
        raise DeployTasksError(f"building the venv ({builder}) failed: {detail}")
    how = builder if builder.startswith("uv") else "pip (no uv on the server: `fab setup` installs it)" \
        if settings.installer == "auto" else "pip"
    reused = result.get("bytecode_linked")
    reused = f" (bytecode of {reused} unchanged modules taken from the live venv)" if reused else ""
    repaired = ("; the server's uv cache named packages that were gone from it: those were fetched again"
                if result.get("cache_repaired") else "")
    if note := uv_cache_note(result["stdout"]):
        repaired += "; " + note
    (say or console.print)(f"[green]✓[/] venv {posixpath.basename(venv)} built with {how}{reused}{repaired}")


def report_predeploy(pre):
    report_notes(pre)
    report_lint(pre.get("lint"))
    if pre.get("collectstatic"):
        console.print(f"[green]✓[/] {checklist_outcome(pre)}; {pre['collectstatic']}")
    if pre["pending"]:
        report_migrations(pre)
    else:
        console.print("[green]✓[/] no migrations to apply")


def abort(command, release, log, result="failed") -> bool:
    """Remove a half-built release, log the failure and unlock (best effort: the original error matters more);
    whether that was done."""
    try:
        command.admin("abort", release=release, log=log, result=result)
        return True
    except Exception as exc:  # noqa: BLE001 - report, then let the original error through
        console.print(f"[red]cleanup after the failed deploy also failed: {exc}; run `fab unlock --force`[/]")
        return False


def rollback(c, settings, to=None, yes=False) -> dict:
    """Take code and schema back to an earlier release (the previous good one by default)."""
    if is_dry(c):
        info = admin(c, settings, "releases")
    else:
        # guard: the lock is freed should this client vanish before the supervisor holds it
        info = admin(c, settings, "lock", what="rollback", guard=True)
        if info.get("recovered"):
            console.print(f"[yellow]![/] {info['recovered']}", highlight=False)
    owned = {}
    try:
        return _rollback(c, settings, info, to, yes, owned)
    except BaseException:
        if not is_dry(c) and not owned:
            admin(c, settings, "abort", release=None)
        raise


def _rollback(c, settings, info: ReleaseListing, to, yes, owned):
    current = info["current"]
    if not current:
        raise DeployTasksError("nothing is live yet: there is no release to roll back from")
    names = [r["release"] for r in info["releases"]]
    meta = {r["release"]: r for r in info["releases"]}
    if to:
        if to not in names:
            raise DeployTasksError(f"no release {to!r} on the server (see `fab releases`)")
        target = to
    else:
        earlier = [n for n in names if n < current and meta[n].get("status") != "bad" and meta[n].get("revision")]
        if not earlier:
            raise DeployTasksError("there is no previous release to roll back to")
        target = earlier[-1]
    if target == current:
        raise DeployTasksError(f"{target} is already live")
    fab = f"fab -H {host_name(c)}"
    refuse_forward(fab, current, meta[target])
    state = meta[target].get("migrations")
    if state is None:
        raise DeployTasksError(f"{target} has no recorded migration state, so its schema cannot be restored safely")
    project = live_project(settings)
    params = {"database": settings.database, "state": state, "check_only": True,
              "backups_dir": posixpath.join(settings.path, "backups"), "fab": fab}
    check = run_django_script(c, project, "migrate_to_state", params, what="planning the schema rollback")
    refuse_forward(fab, current, meta[target], check.get("missing"))
    together = meta[current].get("fleet") or []
    if len(together) > 1 and check["unapply"]:
        raise DeployTasksError(
            f"{current} went live on {', '.join(together)} together, over one database: unapplying "
            f"{', '.join(check['unapply'])} here alone would take the schema back under the others' code; roll them "
            f"back together (`fab -H {','.join(together)} rollback`); nothing was changed")
    console.print(f"Roll back {current} → {target} ({meta[target]['revision'][:12]}): "
                  + (f"unapply {', '.join(check['unapply'])}" if check["unapply"] else "no migrations to unapply")
                  + (f" (after the switch: they only add what {target}'s code ignores)" if check.get("switch_first")
                     else ""))
    confirm(f"Roll back to {target}?", yes, is_dry(c))
    params.update(check_only=False, backup_dest=posixpath.join(settings.path, "backups"),
                  keep=0, version=__version__, host=host_name(c), switch_first=bool(check.get("switch_first")))
    owned["server"] = True  # from here the server's supervisor owns the lock: it frees it, whatever happens
    done = supervised.rollback_on_server(c, settings, target, current, names, meta, params, who(), server_script)
    if done is None:
        return {}
    done = done["migrate"]
    console.print(f"[green]✓[/] {target} is live again; {current} is marked bad"
                  + (f"; unapplied {len(done['unapplied'])} migration(s), backup {done.get('backup')}" if done.get("unapplied") else ""))
    return {"release": target, "from": current, "unapplied": done.get("unapplied", []), "backup": done.get("backup")}


def refuse_forward(fab, current, target, missing=()):
    """A rollback only goes back: DeployTasksError when `target` (its release metadata) was deployed after the live
    release `current` (release names are their UTC deploy times), or when its recorded migration state has
    migrations the database has not applied (`missing`, from migrate_to_state's check): switching to it would put
    code live without its migrations. Deploying its revision backs up, rehearses and applies them."""
    name, revision = target["release"], target.get("revision")
    if name > current:
        why = f"{name} was deployed after the live release {current}"
    elif missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        why = f"{name} needs migrations the database does not have ({shown})"
    else:
        return
    deploy = f"`{fab} deploy --revision {revision}`" if revision else f"`{fab} deploy --revision REVISION`"
    raise DeployTasksError(f"{why}: a rollback only goes back, and never applies migrations; nothing was changed. "
                           f"Deploy it instead: {deploy} (backs up, rehearses and applies its migrations)")


def unlock(c, settings, *, force):
    """`fab unlock`: who holds the deploy lock (and the deploy it holds); with `force`, the lock removed."""
    info = admin(c, settings, "unlock", force=force and not is_dry(c))
    lock = info["lock"]
    if not lock:
        console.print("Not locked.")
        return
    stale = lock.get("age", 0) > settings.lock_stale_after
    if lock.get("action") is None:  # its taker never wrote who it is (it died, or the disk was full)
        console.print(f"Locked, with no holder recorded (its info.json was never written), {lock.get('age')}s ago: "
                      "the next deploy takes it over 2 minutes after it was taken")
    else:
        console.print(f"Locked: {lock.get('action')} by {lock.get('who')} since {lock.get('since')} "
                      f"({lock.get('age')}s ago)" + (" — stale" if stale else ""))
    show_held_deploy(lock.get("deploy"), info.get("recovered"))
    if info["removed"]:
        console.print("[green]✓[/] lock removed")
    elif not force:
        console.print("Pass --force to remove it if no deploy is running"
                      + (" (it recovers the dead deploy first)." if (lock.get("deploy") or {}).get("running") is False else "."))
