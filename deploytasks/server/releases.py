"""Releases on a server: their metadata, the `current` switch, the log, reload, health check, pruning."""
import functools
import json
import os
import shutil
import time

from .app_server import reload_command
from .commands import run_command
from .files import write_private
from .layout import RELEASE_META
from .lock import utcnow
from .procscan import in_use


def current_release(layout):
    try:
        return os.path.basename(os.readlink(layout.current).rstrip("/"))
    except OSError:
        return None


def release_meta(layout, name):
    try:
        with open(os.path.join(layout.release(name), RELEASE_META)) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return {"release": name}


def save_meta(layout, name, meta):
    path = os.path.join(layout.release(name), RELEASE_META)
    write_private(path, json.dumps(meta, indent=2, sort_keys=True) + "\n")
    os.chmod(path, 0o644)


def release_names(layout):
    try:
        return sorted(n for n in os.listdir(layout.releases) if not n.startswith("."))
    except OSError:
        return []


def release_rows(layout, current):
    return [dict(release_meta(layout, name), release=name, current=name == current) for name in release_names(layout)]


def append_log(layout, entry):
    entry = dict(entry, time=utcnow())
    fd = os.open(layout.log, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o640)  # errors, paths: not for every local user
    with os.fdopen(fd, "r+") as handle:
        size = handle.seek(0, os.SEEK_END)
        torn = size and os.pread(fd, 1, size - 1) != b"\n"  # a line a kill or a full disk cut: ours starts anew
        handle.write(("\n" if torn else "") + json.dumps(entry, sort_keys=True) + "\n")


def switch_to(layout, name):
    """Point `current` at releases/<name> atomically (temp symlink, then rename over it)."""
    temporary = "%s.tmp-%d" % (layout.current, os.getpid())
    if os.path.lexists(temporary):
        os.unlink(temporary)
    os.symlink(os.path.join("releases", name), temporary)
    os.replace(temporary, layout.current)


def run_reload(layout, command, password=None, timeout=60):
    """Run the configured reload command in {path} (see commands.run_command); None or the problem."""
    if not command:
        return None
    return run_command(layout, command, "reload", password, timeout)


def reload_or_start(layout, params):
    """Reload the app server; when that fails (nothing runs yet: a first deploy) or no reload is configured,
    run the `start` command instead, if there is one. None or the problem."""
    password, timeout = params.get("sudo_password"), params.get("reload_timeout", 60)
    reload, start = reload_command(params), params.get("start")
    problem = run_reload(layout, reload, password, timeout)
    if start and (problem or not reload):
        started = run_command(layout, start, "start", password, timeout)
        return started and ("%s; then %s" % (problem, started) if problem else started)
    return problem


PROBE_EVERY = 0.05  # seconds between the extra probes inside a health check's wait


def health(url, revision, retries, delay):
    """None when `url` answers 200 (and reports `revision`, if it reports one), else the last problem: `retries`
    attempts `delay` seconds apart, each waiting up to 5 s for its answer. Between two attempts the URL is
    probed every PROBE_EVERY seconds as well, so a release that starts serving mid-wait is seen at once; a probe
    waits only for what is left of that wait, and a probe's failure does not count as an attempt."""
    if not url:
        return None
    problem, same = "no answer", 0
    for attempt in range(max(1, int(retries))):
        if attempt and probed_healthy(url, revision, delay):
            return None
        problem, previous = health_problem(url, revision, 5), problem
        if problem is None:
            return None
        same = same + 1 if problem == previous and problem.startswith(("HTTP 4", "HTTP 3")) else 0
        if same >= SAME_REFUSALS - 1:  # the app answers, and says no (ALLOWED_HOSTS, a missing route): waiting on
            return problem  # will not change it (5xx, a refused connection, an old revision are waited out)
    return problem


SAME_REFUSALS = 5  # the same 4xx (or redirect) answer this many times in a row ends a health check early


def probed_healthy(url, revision, wait):
    """Whether `url` serves `revision` at one of the probes made during `wait` seconds (which this takes)."""
    end = time.monotonic() + wait
    while True:
        left = end - time.monotonic()
        if left <= PROBE_EVERY:
            time.sleep(max(0.0, left))
            return False
        time.sleep(PROBE_EVERY)
        if health_problem(url, revision, max(PROBE_EVERY, end - time.monotonic())) is None:
            return True


BAD_REQUEST_HINT = (" (Django answers 400 to a Host header ALLOWED_HOSTS does not list: add the health check URL's "
                    "host there, in production's settings or its .env)")


def health_problem(url, revision, timeout):
    """One request: None when `url` answers 200 (with `revision`, if it reports one), else what was wrong. It is
    asked as the site's proxy would (X-Forwarded-Proto: https) and a redirect is an answer, not followed: followed,
    SECURE_SSL_REDIRECT's made every deploy fail on an SSL error, and a login page's 200 passed for the page."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers={"X-Forwarded-Proto": "https"})
    try:
        with opener_without_redirects().open(request, timeout=timeout) as response:
            body = response.read(65536).decode("utf-8", "replace")
            status = response.status
    except urllib.error.HTTPError as exc:
        if 300 <= exc.code < 400:
            return "HTTP %d from %s to %s%s" % (exc.code, url, exc.headers.get("Location", "?"),
                                               redirect_hint(url, exc.headers.get("Location") or ""))
        return "HTTP %d from %s%s%s" % (exc.code, url, said_in(exc), BAD_REQUEST_HINT if exc.code == 400 else "")
    except Exception as exc:  # noqa: BLE001 - BadStatusLine, InvalidURL, ...: the release is not healthy
        reason = getattr(exc, "reason", None)
        detail = str(reason) if reason else "%s: %s" % (type(exc).__name__, exc)
        return "%s: %s" % (url, (detail.strip().splitlines() or [""])[0])
    if status != 200:
        return "HTTP %d from %s" % (status, url)
    try:
        served = json.loads(body).get("revision")
    except (ValueError, AttributeError):
        served = None
    if served and revision and not (revision.startswith(served) or served.startswith(revision)):
        return "%s still serves revision %s, not %s (did the reload load the new release?)" % (url, served, revision[:12])
    return None


@functools.lru_cache(maxsize=None)
def opener_without_redirects():
    """An opener whose redirects answer as they are (an HTTPError of their 3xx), never followed (urllib imported
    here: a server script that checks no health does not pay for it)."""
    import urllib.request

    class NoRedirects(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, req, fp, code, msg, headers, newurl):
            return None

    return urllib.request.build_opener(NoRedirects)


def redirect_hint(url, location) -> str:
    """What to do about a health check URL that redirects."""
    if location.startswith("https:") and url.startswith("http:"):
        return (" (the app sends plain HTTP to HTTPS even when told the request came over HTTPS, as "
                "X-Forwarded-Proto: https: set SECURE_PROXY_SSL_HEADER = (\"HTTP_X_FORWARDED_PROTO\", \"https\") as "
                "behind your proxy, or exempt the health URL with SECURE_REDIRECT_EXEMPT)")
    return " (the health check does not follow redirects: set healthcheck to a URL that answers 200 itself)"


def said_in(response, limit=200):
    """": <body on one line>" for an error answer whose body is JSON or plain text (`{"database": "…"}` of a health
    view that checks its database), else "" (an HTML page says nothing a line could hold)."""
    kind = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if kind not in ("application/json", "text/plain"):
        return ""
    try:
        body = response.read(4096).decode("utf-8", "replace")
    except Exception:  # noqa: BLE001 - the body is a bonus
        return ""
    line = " ".join(body.split())
    return ": " + (line if len(line) <= limit else line[:limit - 1] + "…") if line else ""


def release_revision(layout, name):
    """The commit a release was built from (its REVISION file), or None."""
    try:
        with open(os.path.join(layout.release(name), "REVISION")) as handle:
            return handle.read().strip() or None
    except OSError:
        return None


def remove_release(layout, name, wait=None):
    """Remove releases/<name> unless it is live. With `wait` (seconds) a release a running process works in stays
    until that process leaves or the time is up: an app server master that served the release re-reads its
    working directory on its next HUP and exits when it is gone. A release that never went live needs no
    wait (a hook a lost client left running in it dies with it). False when the release stays."""
    if not name or name == current_release(layout):
        return False
    path = layout.release(name)
    if wait is not None:
        deadline = time.monotonic() + wait
        while os.path.isdir(path) and in_use([path]):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.2)
    shutil.rmtree(path, ignore_errors=True)
    return True


def remove_unfinished(layout, name, wait=70):
    """Remove a release that never went live once the processes working in it have left (at most `wait` seconds,
    then anyway; the standby ends its pre-deploy Django within 60): a Django still starting in it writes bytecode
    after the removal, and Python makes a missing __pycache__'s parent directories again."""
    return remove_release(layout, name, wait=wait) or remove_release(layout, name)


def finished(layout, name):
    return os.path.exists(os.path.join(layout.release(name), RELEASE_META))


def remove_orphans(layout, protect):
    """Remove release directories without metadata (left half-built by a killed deploy); call under the lock."""
    orphans = [name for name in release_names(layout) if name not in protect and not finished(layout, name)]
    return [name for name in orphans if remove_release(layout, name)]


def prune(layout, keep, protect):
    """Remove the oldest finished releases past `keep` (orphans never count: remove_orphans first)."""
    names = [name for name in release_names(layout) if finished(layout, name)]
    removed = []
    for name in names[: max(0, len(names) - keep)]:
        if name not in protect and remove_release(layout, name, wait=0):
            removed.append(name)
    return removed


def prune_venvs(layout):
    """Remove venvs in shared/venvs that no release links to any more and no running process uses (an app
    server reloaded with HUP keeps the interpreter it started with)."""
    directory = layout.venvs
    used = {os.path.realpath(os.path.join(layout.release(name), ".venv")) for name in release_names(layout)}
    names = sorted(os.listdir(directory)) if os.path.isdir(directory) else []
    unlinked = [os.path.join(directory, name) for name in names
                if os.path.realpath(os.path.join(directory, name)) not in used]
    busy = in_use(unlinked)
    removed = []
    for path in unlinked:
        name = os.path.basename(path)
        if path not in busy:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(name)
    return removed


def read_log(layout, last=200):
    """The last entries of releases.log (oldest first), read from its end (the file only grows: reading it whole
    took seconds and hundreds of MB at 200,000 entries)."""
    try:
        lines = tail_lines(layout.log, 2 * last)  # room for damaged lines, which do not count
    except OSError:
        return []
    return log_entries(lines)[-last:]


def log_entries(lines):
    """The entries among releases.log's `lines`: a damaged line is skipped, even one that parses (a number, a list)."""
    entries = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            entries.append(entry)
    return entries


def tail_lines(path, count, block=65536):
    """The last `count` lines of the file at `path`, read backwards in blocks."""
    with open(path, "rb") as handle:
        position = handle.seek(0, os.SEEK_END)
        data = b""
        while position > 0 and data.count(b"\n") <= count:
            step = min(block, position)
            position -= step
            handle.seek(position)
            data = handle.read(step) + data
    lines = data.split(b"\n")[1 if position > 0 else 0:]  # the first one is cut unless the file starts there
    return [line.decode("utf-8", "replace") for line in lines if line.strip()][-count:]
