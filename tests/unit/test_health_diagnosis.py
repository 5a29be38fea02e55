"""What a failed health check says: the body of an error answer that a line can hold (server/releases.said_in),
and, for HTTP 5xx, what the new release raises when asked again inside it (server/health_diagnosis), run here
with commands that answer as the release's Django would."""
import http.server
import importlib.util
import json
import os
import shlex
import sys
import threading
import time

import pytest

from deploytasks.server.health_diagnosis import described, explain
from deploytasks.server.releases import health
from deploytasks.server.runner import MARKER


@pytest.fixture
def failing():
    """A health URL answering `answer` = (status, content type, body), set by the test."""
    answer = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            status, kind, body = answer["value"]
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.answer = answer
    server.url = "http://127.0.0.1:%d/health/" % server.server_address[1]
    yield server
    server.shutdown()
    server.server_close()


def test_a_json_error_answer_is_quoted_on_one_line(failing):
    failing.answer["value"] = (503, "application/json", b'{"status": "error",\n "database": "connection refused"}')
    assert health(failing.url, None, 1, 0) == (
        'HTTP 503 from %s: {"status": "error", "database": "connection refused"}' % failing.url)


def test_an_html_error_page_is_not_quoted(failing):
    failing.answer["value"] = (500, "text/html; charset=utf-8", b"<h1>Server Error (500)</h1>")
    assert health(failing.url, None, 1, 0) == "HTTP 500 from %s" % failing.url


def test_a_400_says_what_django_answers_it_for(failing):
    failing.answer["value"] = (400, "text/html; charset=utf-8", b"<h1>Bad Request (400)</h1>")
    assert health(failing.url, None, 1, 0) == ("HTTP 400 from %s (Django answers 400 to a Host header ALLOWED_HOSTS "
                                               "does not list: add the health check URL's host there, in production's "
                                               "settings or its .env)" % failing.url)


def test_a_long_text_answer_is_cut(failing):
    failing.answer["value"] = (502, "text/plain", b"upstream " * 100)
    problem = health(failing.url, None, 1, 0)
    assert problem.startswith("HTTP 502 from %s: upstream upstream" % failing.url)
    assert problem.endswith("…") and len(problem) < len(failing.url) + 230


def answering(tmp_path, result, delay=0):
    """A shell command that reads the request and answers `result` as the bundle's runner does."""
    script = tmp_path / "answer.py"
    script.write_text("import sys, time, json\nrequest = json.loads(sys.stdin.readline())\n"
                      f"open({str(tmp_path / 'request.json')!r}, 'w').write(json.dumps(request))\n"
                      f"time.sleep({delay})\nprint({MARKER!r} + json.dumps({result!r}))\n")
    return f"{shlex.quote(sys.executable)} {shlex.quote(str(script))}"


def test_an_http_500_is_asked_again_and_what_the_release_raises_is_said(tmp_path):
    command = answering(tmp_path, {"raised": "NameError: name 'REVISON' is not defined (accounts/views.py:53)"})
    found = explain({"predeploy_command": command}, "HTTP 500 from http://127.0.0.1:8000/health/?full=1")
    assert found == ("in the new release, GET /health/?full=1 raises NameError: name 'REVISON' is not defined "
                     "(accounts/views.py:53)")
    request = json.loads((tmp_path / "request.json").read_text())
    assert request["entry"] == "health_request"
    assert request["params"]["url"] == "http://127.0.0.1:8000/health/?full=1"


def test_a_release_that_answers_200_inside_points_at_the_app_server(tmp_path):
    command = answering(tmp_path, {"status": 200})
    found = explain({"predeploy_command": command}, 'HTTP 502 from http://h/health/: {"a": 1}')
    assert found == "the new release's Django answers GET /health/ with 200 when asked directly: look at the app server's log"


@pytest.mark.parametrize("problem, params", [
    ("http://127.0.0.1:1/health/: [Errno 111] Connection refused", {}),
    ("HTTP 404 from http://h/health/", {}),
    ("http://h/ still serves revision aaaa, not bbbb (did the reload load the new release?)", {}),
    ("HTTP 500 from http://h/health/", {"kind": "rollback"}),
])
def test_other_problems_run_nothing(tmp_path, problem, params):
    marker = tmp_path / "ran"
    assert explain(dict(params, predeploy_command=f"touch {marker}"), problem) is None
    assert not marker.exists()


def test_a_release_whose_django_does_not_start_says_so(tmp_path):
    command = "echo 'Traceback (most recent call last):' >&2; echo 'KeyError: SECRET_KEY' >&2; exit 1"
    found = explain({"predeploy_command": command}, "HTTP 500 from http://h/health/")
    assert found.startswith("the new release's Django does not start: ") and "KeyError: SECRET_KEY" in found


def test_a_release_that_hangs_is_ended_after_the_timeout(tmp_path):
    pid_file = tmp_path / "pid"
    command = f"echo $$ > {pid_file}; exec sleep 60"
    started = time.monotonic()
    found = explain({"predeploy_command": command}, "HTTP 500 from http://h/health/", timeout=1)
    assert found == "the new release's Django did not answer GET /health/ within 1 s"
    assert time.monotonic() - started < 10
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)


def test_described_names_the_projects_last_frame_not_a_librarys(tmp_path):
    root = tmp_path / "release"
    (root / "accounts").mkdir(parents=True)
    (root / "accounts" / "views.py").write_text("import json\n\n\ndef health():\n    return json.loads('{')\n")
    spec = importlib.util.spec_from_file_location("views_under_test", root / "accounts" / "views.py")
    views = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(views)
    with pytest.raises(ValueError) as raised:
        views.health()
    assert described(raised.value, str(root)).endswith(" (accounts/views.py:5)")
    assert described(raised.value, str(root)).startswith("JSONDecodeError: Expecting property name")
    assert described(raised.value, str(tmp_path / "elsewhere")).startswith("JSONDecodeError: ")
    assert "views.py" not in described(raised.value, str(tmp_path / "elsewhere"))
