"""Entry: deploy, part 1, on the server: lock, fetch the revision, build the release dir, link shared files,
find a matching venv. Leaves nothing behind (and unlocks) when it fails."""
import getpass
import os
import shlex
import shutil
import subprocess
import time

from . import bad_revisions, bytecode, standby, venv_build, warm_start
from .live_match import deploy_digest, serving_unchanged
from .errors import ServerError
from .lock_guard import client_gone, session_process, start_guard
from .files import link_directory
from .layout import ServerLayout
from .lock import acquire_for, release_lock
from .recovery import recover
from .releases import current_release, release_meta, remove_release
from .results import PreparedRelease
from .static_files import unlink_dangling
from .requirements import STAMP, read_stamp, requirements_digest


def git(*args, **kwargs):
    done = subprocess.run(("git",) + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, **kwargs)
    if done.returncode != 0:
        lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        # git's first fatal:/error: line names the problem; the hints after it ("Please make sure ...") do not
        errors = [line.split(": ", 1)[1] for line in lines if line.startswith(("fatal: ", "error: "))]
        message = (errors or lines[-1:] or ["git %s failed" % args[0]])[0]
        # except the one a repository owned by another user gets: the command that trusts it
        trust = [line for line in lines if line.startswith("git config --global --add safe.directory")]
        if trust and "dubious ownership" in message:
            message += " (to trust it, as %s on the server: `%s`)" % (getpass.getuser(), trust[0])
        raise RuntimeError(message)
    return done.stdout.strip()


def discard_upload(params):
    """The archive uploaded for strategy upload goes, whether a release was built from it or not."""
    if params.get("archive") and os.path.lexists(params["archive"]):
        os.unlink(params["archive"])


def check_and_lock(layout, params):
    refuse_missing_shared(layout, params)  # before anything is made: a refused deploy leaves the server as it was
    for directory in (layout.path, layout.releases, layout.shared, layout.venvs, layout.backups):
        try:
            os.makedirs(directory, exist_ok=True)
        except OSError as exc:
            raise ServerError("cannot create %s (%s): make the deploy path writable by %s" % (
                directory, exc.strerror, getpass.getuser())) from None
    if not os.access(layout.path, os.W_OK):
        raise ServerError("deploy path %s is not writable by %s" % (layout.path, getpass.getuser()))
    params["_recovered"] = recover(layout, params)
    params["_recovered"] = acquire_for(layout, params, "deploy") or params["_recovered"]


def refuse_missing_shared(layout, params):
    """Without its shared files a release runs on defaults (DEBUG, a database inside the release dir that the next
    deploy leaves behind): refused, naming `fab setup` when it never ran here. A deploy path that cannot be made (a
    file on its way) is left to the making's own error."""
    missing = [name for name in params["shared_files"] if not os.path.exists(os.path.join(layout.shared, name))]
    existing = layout.path
    while not os.path.lexists(existing) and os.path.dirname(existing) != existing:
        existing = os.path.dirname(existing)
    if not missing or not os.path.isdir(existing):
        return
    host = params.get("host") or "<host>"
    if not os.path.isdir(layout.shared):
        raise ServerError("%s has no shared/ directory: `fab setup` has not run for it; run `fab -H %s setup` first "
                          "(it makes the layout and uploads deploy/%s/%s)" % (layout.path, host, host, missing[0]))
    raise ServerError("%s missing on the server: put production's copy in deploy/%s/ beside your fabfile and run "
                      "`fab -H %s shared.push`, or create it there (or drop it from deploytasks.shared_files)"
                      % (", ".join(os.path.join(layout.shared, name) for name in missing), host, host))


def source_of(layout, params):
    """(revision, argv writing its tar to stdout)."""
    if params["strategy"] != "mirror":
        return params["revision"], ["cat", params["archive"]]
    mirror = layout.mirror
    try:
        if os.path.isdir(mirror):
            if git("-C", mirror, "config", "--get", "remote.origin.url") != params["repo"]:
                git("-C", mirror, "remote", "set-url", "origin", params["repo"])
            git("-C", mirror, "fetch", "--prune", "--quiet", "origin")
        else:
            git("clone", "--mirror", "--quiet", params["repo"], mirror + ".partial")
            os.rename(mirror + ".partial", mirror)
    except RuntimeError as exc:
        shutil.rmtree(mirror + ".partial", ignore_errors=True)
        raise ServerError("cannot fetch %s: %s" % (params["repo"], exc)) from None
    wanted = params.get("revision") or "refs/heads/%s" % params["branch"]
    try:
        revision = git("-C", mirror, "rev-parse", "--verify", "--quiet", wanted + "^{commit}")
    except RuntimeError:
        what = ("revision %r" % params["revision"]) if params.get("revision") else ("branch %r" % params["branch"])
        raise ServerError("%s does not exist in %s" % (what, params["repo"])) from None
    return revision, ["git", "-C", mirror, "archive", "--format=tar", revision]


def new_release_name(layout):
    release = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    while os.path.exists(layout.release(release)):
        time.sleep(1)
        release = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return release


def unpack(source, target):
    archive = subprocess.Popen(source, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    extract = subprocess.run(["tar", "-x", "-C", target], stdin=archive.stdout, stderr=subprocess.PIPE)
    archive.stdout.close()
    archive_err = archive.stderr.read().decode(errors="replace")
    if archive.wait() != 0 or extract.returncode != 0:
        raise RuntimeError("unpacking the revision failed: %s" % (archive_err or extract.stderr.decode(errors="replace")).strip())


def link_shared(layout, params, target):
    for name in params["shared_dirs"]:
        unlink_dangling(layout, os.path.join(layout.shared, name))  # a first deploy's static link, left by a crash
        link_directory(os.path.join(layout.shared, name), os.path.join(target, name))
    linked = []
    for name in params["shared_files"]:
        shared = os.path.join(layout.shared, name)
        inside = os.path.join(target, name)
        if os.path.lexists(inside):
            os.unlink(inside)
        os.symlink(shared, inside)
        linked.append(name)
    return linked


def build(layout, params) -> PreparedRelease:
    """The release (name, result), its directory left behind for the caller to clean up on failure."""
    revision, source = source_of(layout, params)
    built_as = deploy_digest(layout, params) if params.get("settings_digest") else None
    serving = serving_unchanged(layout, params, revision, built_as)
    if serving:
        return {"unchanged": True, "release": serving, "revision": revision, "current": serving,
                "current_meta": release_meta(layout, serving), "recovered": params.get("_recovered")}
    release = params.get("release_name") or new_release_name(layout)  # a fleet deploy names it (one name on all hosts)
    if os.path.exists(layout.release(release)):
        raise ServerError("release %s already exists on the server" % release)
    target = layout.release(release)
    os.mkdir(target)
    params["_release"] = release
    unpack(source, target)
    discard_upload(params)
    with open(os.path.join(target, "REVISION"), "w") as handle:
        handle.write(revision + "\n")
    current = current_release(layout)
    modules_taken = bytecode.link_from_live_release(layout, current, target)
    linked = link_shared(layout, params, target)
    digest = requirements_digest(os.path.join(target, params["requirements"]), params.get("python_version"))
    venv = os.path.join(layout.venvs, digest[:16])
    os.symlink(venv, os.path.join(target, ".venv"))
    return {
        "release": release,
        "revision": revision,
        "release_dir": target,
        "venv": venv,
        "venv_ready": read_stamp(os.path.join(venv, STAMP)) == digest,
        "requirements_hash": digest,
        "linked": linked,
        "bytecode_taken": modules_taken,
        "current": current,
        "current_meta": release_meta(layout, current) if current else None,
        "marked_bad": bad_revisions.marks(layout, revision),
        "recovered": params.get("_recovered"),
        "deploy_digest": built_as,
    }


def build_venv(layout, build, prepared):
    """The release's venv built in the same command (a deploy without hooks around the build): the client's
    command has placeholders for the venv's path and the requirements hash, which only the release tells."""
    command = build["command"].replace(venv_build.VENV, shlex.quote(prepared["venv"])).replace(
        venv_build.DIGEST, prepared["requirements_hash"])
    log = dict(build["log"], revision=prepared["revision"]) if build.get("log") else None
    return venv_build.build(layout, {"command": command, "venv": prepared["venv"], "release": prepared["release"],
                                     "log": log, "cwd": prepared["release_dir"]})


def main(params) -> PreparedRelease:
    layout = ServerLayout(params["path"])
    params = dict(params)
    session = session_process()  # the client's connection, while it surely is there
    try:
        check_and_lock(layout, params)
    except ServerError:
        discard_upload(params)
        raise
    try:
        if params.get("standby"):  # the supervisor, and Django in a Python of the live venv, load during the fetch
            live = current_release(layout)
            standby.start(layout, warm_start.live_spec(layout, params["standby"].get("warm"), live))
        prepared = build(layout, params)
        if prepared.get("unchanged"):
            standby.dismiss()
            discard_upload(params)
            release_lock(layout)
            return prepared
        if params.get("build") and not prepared["venv_ready"]:
            prepared["venv_build"] = build_venv(layout, params["build"], prepared)
            if prepared["venv_build"].get("gone"):  # the release is removed and the lock freed: nobody reads this
                standby.dismiss()
                return prepared
        if client_gone():
            raise ServerError("the client went away while the release was prepared")
        if params.get("guard"):  # until the supervisor takes the lock, it goes with the client (lock_guard.py)
            prepared["guard"] = start_guard(layout, release=prepared["release"])
            if prepared["guard"] is None and session is not None:  # its sshd went since client_gone() asked
                raise ServerError("the client went away while the release was prepared")
        if params.get("standby"):  # the new release's Django starts while the client reads this
            standby.commission(prepared, params["standby"])
        return prepared
    except BaseException as exc:
        standby.dismiss()
        remove_release(layout, params.get("_release"))
        discard_upload(params)
        release_lock(layout)
        if isinstance(exc, ServerError):
            raise
        raise ServerError("preparing the release failed: %s" % exc) from None
