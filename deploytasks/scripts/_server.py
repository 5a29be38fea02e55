# Server layout helpers: releases, lock, log, switch. Used by the release scripts.
import getpass
import shutil
import subprocess
import time

ROOT = PARAMS["path"]
RELEASES = os.path.join(ROOT, "releases")
SHARED = os.path.join(ROOT, "shared")
CURRENT = os.path.join(ROOT, "current")
LOCK = os.path.join(ROOT, ".deploy-lock")  # releases.lock_dir
LOG = os.path.join(ROOT, "releases.log")
META = ".deploytasks-release.json"


def utcnow():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def current_release():
    try:
        return os.path.basename(os.readlink(CURRENT).rstrip("/"))
    except OSError:
        return None


def release_meta(name):
    try:
        with open(os.path.join(RELEASES, name, META)) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return {"release": name}


def save_meta(name, meta):
    write_private(os.path.join(RELEASES, name, META), json.dumps(meta, indent=2, sort_keys=True) + "\n")
    os.chmod(os.path.join(RELEASES, name, META), 0o644)


def release_names():
    try:
        return sorted(n for n in os.listdir(RELEASES) if not n.startswith("."))
    except OSError:
        return []


def lock_info():
    try:
        with open(os.path.join(LOCK, "info.json")) as handle:
            info = json.load(handle)
    except (OSError, ValueError):
        info = {}
    try:
        info["age"] = int(time.time() - os.stat(LOCK).st_mtime)
    except OSError:
        return None
    return info


def acquire_lock(action):
    try:
        os.mkdir(LOCK, 0o755)
    except FileExistsError:
        info = lock_info() or {}
        stale = info.get("age", 0) > PARAMS.get("lock_stale_after", 3600)
        fail("%s is locked: %s by %s since %s (%ds ago)%s; run `fab unlock --force` only if no deploy is running" % (
            ROOT, info.get("action", "a deploy"), info.get("who", "someone"), info.get("since", "?"), info.get("age", 0),
            ", which looks stale" if stale else ""), code=75)
    write_private(os.path.join(LOCK, "info.json"), json.dumps({
        "action": action, "who": PARAMS.get("who") or getpass.getuser(), "since": utcnow(), "pid": os.getpid(),
    }))


def release_lock():
    shutil.rmtree(LOCK, ignore_errors=True)


def append_log(entry):
    entry = dict(entry, time=utcnow())
    fd = os.open(LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    with os.fdopen(fd, "a") as handle:
        handle.write(json.dumps(entry, sort_keys=True) + "\n")


def switch_to(name):
    """Point `current` at releases/<name> atomically (temp symlink, then rename over it)."""
    temporary = "%s.tmp-%d" % (CURRENT, os.getpid())
    if os.path.lexists(temporary):
        os.unlink(temporary)
    os.symlink(os.path.join("releases", name), temporary)
    os.replace(temporary, CURRENT)


def run_reload(command):
    """Run the configured reload command in {path}. Its stdin carries Fabric's sudo password (for
    `sudo -S …`) when one is configured, else nothing: it can never wait for input."""
    if not command:
        return None
    password = PARAMS.get("sudo_password")
    done = subprocess.run(command, shell=True, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          input=(password + "\n") * 3 if password else "", universal_newlines=True, timeout=120)
    if done.returncode != 0:
        lines = [line for line in done.stdout.splitlines() if line.strip()]
        return "reload command failed (exit %d): %s" % (done.returncode, lines[-1] if lines else "no output")
    return None


def health(url, revision, retries, delay):
    """None when `url` answers 200 (and reports `revision`, if it reports one), else the last problem."""
    import urllib.error
    import urllib.request

    if not url:
        return None
    problem = "no answer"
    for attempt in range(max(1, int(retries))):
        if attempt:
            time.sleep(delay)
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                body = response.read(65536).decode("utf-8", "replace")
                status = response.status
        except urllib.error.HTTPError as exc:
            problem = "HTTP %d from %s" % (exc.code, url)
            continue
        except (OSError, ValueError) as exc:
            problem = "%s: %s" % (url, getattr(exc, "reason", exc))
            continue
        if status != 200:
            problem = "HTTP %d from %s" % (status, url)
            continue
        try:
            served = json.loads(body).get("revision")
        except (ValueError, AttributeError):
            served = None
        if served and revision and not (revision.startswith(served) or served.startswith(revision)):
            problem = "%s still serves revision %s, not %s (did the reload load the new release?)" % (url, served, revision[:12])
            continue
        return None
    return problem


def remove_release(name):
    if name and name != current_release():
        shutil.rmtree(os.path.join(RELEASES, name), ignore_errors=True)


def prune(keep, protect):
    names = release_names()
    removed = []
    for name in names[: max(0, len(names) - keep)]:
        if name in protect:
            continue
        remove_release(name)
        removed.append(name)
    return removed


def prune_venvs():
    """Remove venvs in shared/venvs that no release links to any more."""
    directory = os.path.join(SHARED, "venvs")
    used = {os.path.realpath(os.path.join(RELEASES, name, ".venv")) for name in release_names()}
    removed = []
    for name in sorted(os.listdir(directory)) if os.path.isdir(directory) else []:
        path = os.path.join(directory, name)
        if os.path.realpath(path) not in used:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(name)
    return removed
