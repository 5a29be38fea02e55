# Deploy, part 1, on the server: lock, fetch the revision, build the release dir, link shared files,
# find a matching venv. Leaves nothing behind (and unlocks) when it fails.
P = PARAMS


def discard_upload():
    """The archive uploaded for strategy upload goes, whether a release was built from it or not."""
    if P.get("archive") and os.path.lexists(P["archive"]):
        os.unlink(P["archive"])


try:
    for directory in (ROOT, RELEASES, SHARED, os.path.join(SHARED, "venvs"), os.path.join(ROOT, "backups")):
        try:
            os.makedirs(directory, exist_ok=True)
        except OSError as exc:
            fail("cannot create %s (%s): make the deploy path writable by %s" % (directory, exc.strerror, getpass.getuser()))
    if not os.access(ROOT, os.W_OK):
        fail("deploy path %s is not writable by %s" % (ROOT, getpass.getuser()))
    # without them a release runs on defaults (DEBUG, a database inside the release dir that the next deploy leaves behind)
    missing = [name for name in P["shared_files"] if not os.path.exists(os.path.join(SHARED, name))]
    if missing:
        fail("%s missing on the server: `fab setup` uploads it from beside your fabfile, or create it there "
             "(or drop it from deploytasks.shared_files)" % ", ".join(os.path.join(SHARED, name) for name in missing))
    acquire_lock("deploy")
except SystemExit:
    discard_upload()
    raise
release = None
try:
    def git(*args, **kwargs):
        done = subprocess.run(("git",) + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, **kwargs)
        if done.returncode != 0:
            lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
            # git's first fatal:/error: line names the problem; the hints after it ("Please make sure ...") do not
            errors = [line.split(": ", 1)[1] for line in lines if line.startswith(("fatal: ", "error: "))]
            raise RuntimeError((errors or lines[-1:] or ["git %s failed" % args[0]])[0])
        return done.stdout.strip()

    if P["strategy"] == "mirror":
        mirror = os.path.join(ROOT, "repo")
        try:
            if os.path.isdir(mirror):
                if git("-C", mirror, "config", "--get", "remote.origin.url") != P["repo"]:
                    git("-C", mirror, "remote", "set-url", "origin", P["repo"])
                git("-C", mirror, "fetch", "--prune", "--quiet", "origin")
            else:
                git("clone", "--mirror", "--quiet", P["repo"], mirror + ".partial")
                os.rename(mirror + ".partial", mirror)
        except RuntimeError as exc:
            shutil.rmtree(mirror + ".partial", ignore_errors=True)
            fail("cannot fetch %s: %s" % (P["repo"], exc))
        wanted = P.get("revision") or "refs/heads/%s" % P["branch"]
        try:
            revision = git("-C", mirror, "rev-parse", "--verify", "--quiet", wanted + "^{commit}")
        except RuntimeError:
            what = ("revision %r" % P["revision"]) if P.get("revision") else ("branch %r" % P["branch"])
            fail("%s does not exist in %s" % (what, P["repo"]))
        source = ["git", "-C", mirror, "archive", "--format=tar", revision]
    else:
        revision = P["revision"]
        source = ["cat", P["archive"]]

    release = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    while os.path.exists(os.path.join(RELEASES, release)):
        time.sleep(1)
        release = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = os.path.join(RELEASES, release)
    os.mkdir(target)
    archive = subprocess.Popen(source, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    extract = subprocess.run(["tar", "-x", "-C", target], stdin=archive.stdout, stderr=subprocess.PIPE)
    archive.stdout.close()
    archive_err = archive.stderr.read().decode(errors="replace")
    if archive.wait() != 0 or extract.returncode != 0:
        raise RuntimeError("unpacking the revision failed: %s" % (archive_err or extract.stderr.decode(errors="replace")).strip())
    discard_upload()
    with open(os.path.join(target, "REVISION"), "w") as handle:
        handle.write(revision + "\n")

    for name in P["shared_dirs"]:
        shared = os.path.join(SHARED, name)
        os.makedirs(shared, exist_ok=True)
        inside = os.path.join(target, name)
        if os.path.isdir(inside) and not os.path.islink(inside):
            shutil.rmtree(inside)
        elif os.path.lexists(inside):
            os.unlink(inside)
        os.makedirs(os.path.dirname(inside), exist_ok=True)
        os.symlink(shared, inside)
    linked = []
    for name in P["shared_files"]:
        shared = os.path.join(SHARED, name)
        inside = os.path.join(target, name)
        if os.path.lexists(inside):
            os.unlink(inside)
        os.symlink(shared, inside)
        linked.append(name)

    digest = requirements_digest(os.path.join(target, P["requirements"]), P.get("python_version"))
    venv = os.path.join(SHARED, "venvs", digest[:16])
    os.symlink(venv, os.path.join(target, ".venv"))
    current = current_release()
    emit({
        "release": release,
        "revision": revision,
        "release_dir": target,
        "venv": venv,
        "venv_ready": read_stamp(os.path.join(venv, ".deploytasks-requirements")) == digest,
        "requirements_hash": digest,
        "linked": linked,
        "current": current,
        "current_meta": release_meta(current) if current else None,
    })
except SystemExit:
    remove_release(release)
    discard_upload()
    release_lock()
    raise
except BaseException as exc:
    remove_release(release)
    discard_upload()
    release_lock()
    fail("preparing the release failed: %s" % exc)
