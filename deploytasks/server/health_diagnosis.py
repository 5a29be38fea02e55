"""Why a new release answered its health check with HTTP 5xx. A production Django turns an exception into a bare
"Server Error (500)" (its traceback goes to ADMINS' mail, not to the app server's log), so once the deploy has
switched back, the same GET is made through Django's test client inside the new release (its code, settings and
shared files, the schema it was migrated to), where the exception is raised instead: what it was, and the
project's own file and line. `explain` runs in the supervisor; `main` is the entry inside the release's Django."""
import json
import os
import re
import signal
import subprocess
import traceback

from .commands import kill_group
from .errors import ServerError
from .results import HealthRequest
from .subprocess_entry import answer

SERVER_ERROR = re.compile(r"^HTTP (5\d\d) from (\S+?):?(?:\s|$)")
TIMEOUT = 30  # seconds the release's Django may take to start and answer


def explain(params, problem, timeout=TIMEOUT):
    """One phrase saying what the release does with its health URL, for a health check that failed with HTTP 5xx
    (None otherwise, or when nothing more is known). Never raises: the undo it is part of goes on regardless."""
    match = SERVER_ERROR.match(problem or "")
    command = params.get("predeploy_command")
    if not match or not command or params.get("kind", "deploy") != "deploy":
        return None
    url = match.group(2)
    try:
        return _asked(command, url, timeout)
    except Exception:  # noqa: BLE001 - a diagnosis that fails says nothing
        return None


def _asked(command, url, timeout):
    path = _path(url)
    request = json.dumps({"entry": "health_request", "params": {"url": url, "timeout": timeout}})
    process = subprocess.Popen(command, shell=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, universal_newlines=True, start_new_session=True)
    try:
        stdout, stderr = process.communicate(request, timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(process.pid)
        process.communicate()
        return "the new release's Django did not answer GET %s within %d s" % (path, timeout)
    except BaseException:
        kill_group(process.pid)
        process.wait()
        raise
    try:
        found = answer(stdout, stderr, process.returncode, "the new release's Django")
    except ServerError as exc:
        return "the new release's Django does not start: %s" % exc.message
    if found.get("raised"):
        return "in the new release, GET %s raises %s" % (path, found["raised"])
    if found.get("status") == 200:
        return ("the new release's Django answers GET %s with 200 when asked directly: look at the app server's log"
                % path)
    return None


def _path(url):
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return (parts.path or "/") + ("?" + parts.query if parts.query else "")


def main(params) -> HealthRequest:
    """Entry health_request (Django set up, in the release): GET the health URL's path through Django's test
    client with the Host and scheme the app server saw; {"raised": what it raised} or {"status": its status}."""
    from urllib.parse import urlsplit

    from django.conf import settings
    from django.test import Client

    signal.alarm(int(params.get("timeout", TIMEOUT)))  # ends this process by itself if its supervisor is gone
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"  # ADMINS had the real one's mail
    parts = urlsplit(params["url"])
    client = Client(raise_request_exception=True, HTTP_HOST=parts.netloc)
    try:
        response = client.get(_path(params["url"]), secure=parts.scheme == "https")
    except Exception as exc:  # noqa: BLE001 - what the app server turned into a 500
        return {"raised": described(exc, os.getcwd())}
    return {"status": response.status_code}


def described(exc, root):
    """`Type: first line of the message`, and the last frame of the project's own code (under `root`, not in a
    venv) as (relative/path.py:line)."""
    message = str(exc).strip().splitlines()
    text = "%s: %s" % (type(exc).__name__, message[0]) if message else type(exc).__name__
    root = os.path.realpath(root) + os.sep
    own = [frame for frame in traceback.extract_tb(exc.__traceback__)
           if os.path.realpath(frame.filename).startswith(root) and "-packages" + os.sep not in frame.filename]
    if own:
        text += " (%s:%d)" % (os.path.relpath(os.path.realpath(own[-1].filename), root), own[-1].lineno)
    return text
