"""server/releases.health against a real HTTP endpoint on the loopback that serves the old revision for its
first requests, then the new one (an app server whose new workers are still loading): counted attempts
`delay` apart, with probes in between that see the new release as soon as it serves."""
import http.server
import json
import threading

import pytest

from deploytasks.server.releases import health

OLD, NEW = "o" * 40, "n" * 40


class Switching(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        server = self.server
        with server.count_lock:
            server.requests += 1
            revision = NEW if server.requests > server.old_answers else OLD
        body = json.dumps({"revision": revision}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def endpoint():
    """A server answering OLD to its first `old_answers` requests (set by the test), NEW after."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Switching)
    server.requests, server.old_answers, server.count_lock = 0, 0, threading.Lock()
    server.url = "http://127.0.0.1:%d/health/" % server.server_port
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_a_release_serving_at_once_is_asked_once(endpoint):
    assert health(endpoint.url, NEW, 10, 0.5) is None
    assert endpoint.requests == 1


def test_a_release_that_starts_serving_between_two_attempts_is_seen_by_a_probe(endpoint):
    """Two attempts a second apart would both see the old revision; the probes in between see the new one."""
    endpoint.old_answers = 3
    assert health(endpoint.url, NEW, 2, 1.0) is None
    assert endpoint.requests == 4


def test_failed_probes_do_not_use_up_the_attempts(endpoint):
    endpoint.old_answers = 12  # more failures than attempts: only the counted ones end the check
    assert health(endpoint.url, NEW, 2, 1.0) is None
    assert endpoint.requests == 13


def test_a_release_that_never_serves_fails_with_what_it_answered(endpoint):
    endpoint.old_answers = 10 ** 6
    problem = health(endpoint.url, NEW, 2, 0.3)
    assert problem == "%s still serves revision %s, not %s (did the reload load the new release?)" % (
        endpoint.url, OLD, NEW[:12])
    assert endpoint.requests > 2  # the probes asked too


def test_no_url_is_healthy_without_a_request(endpoint):
    assert health("", NEW, 10, 0.5) is None
    assert endpoint.requests == 0


def test_one_attempt_without_delay_makes_one_request(endpoint):
    """What a skipped deploy asks (server/live_match.py): no probes."""
    endpoint.old_answers = 1
    assert health(endpoint.url, NEW, 1, 0) is not None
    assert endpoint.requests == 1
