"""server/releases.health against a real HTTP endpoint on the loopback that serves the old revision for its
first requests, then the new one (an app server whose new workers are still loading): counted attempts
`delay` apart, with probes in between that see the new release as soon as it serves."""
import pytest

from deploytasks.server.releases import health
from tests._util import HealthEndpoint

OLD, NEW = "o" * 40, "n" * 40


@pytest.fixture
def endpoint():
    """A health URL answering OLD to its first `old_answers` requests (set by the test), NEW after."""
    state = {"old_answers": 0}
    with HealthEndpoint(lambda n: OLD if n <= state["old_answers"] else NEW) as site:
        site.state = state
        yield site


def test_a_release_serving_at_once_is_asked_once(endpoint):
    assert health(endpoint.url, NEW, 10, 0.5) is None
    assert endpoint.requests == 1


def test_a_release_that_starts_serving_between_two_attempts_is_seen_by_a_probe(endpoint):
    """Two attempts a second apart would both see the old revision; the probes in between see the new one."""
    endpoint.state["old_answers"] = 3
    assert health(endpoint.url, NEW, 2, 1.0) is None
    assert endpoint.requests == 4


def test_failed_probes_do_not_use_up_the_attempts(endpoint):
    endpoint.state["old_answers"] = 12  # more failures than attempts: only the counted ones end the check
    assert health(endpoint.url, NEW, 2, 1.0) is None
    assert endpoint.requests == 13


def test_a_release_that_never_serves_fails_with_what_it_answered(endpoint):
    endpoint.state["old_answers"] = 10 ** 6
    problem = health(endpoint.url, NEW, 2, 0.3)
    assert problem == "%s still serves revision %s, not %s (did the reload load the new release?)" % (
        endpoint.url, OLD, NEW[:12])
    assert endpoint.requests > 2  # the probes asked too


def test_no_url_is_healthy_without_a_request(endpoint):
    assert health("", NEW, 10, 0.5) is None
    assert endpoint.requests == 0


def test_one_attempt_without_delay_makes_one_request(endpoint):
    """What a skipped deploy asks (server/live_match.py): no probes."""
    endpoint.state["old_answers"] = 1
    assert health(endpoint.url, NEW, 1, 0) is not None
    assert endpoint.requests == 1


def test_processes_on_their_way_out_are_waited_for_and_those_that_stay_are_named():
    from deploytasks.server.finalize_release import draining

    leaving = [[1, 2, 3], [1, 2], [1], []]
    assert draining(lambda: leaving.pop(0) if len(leaving) > 1 else leaving[0], settle=0.5, interval=0.01) == []
    assert draining(lambda: [7, 8], settle=0.05, interval=0.01) == [7, 8]  # a master a HUP kept: it stays


def test_an_old_gunicorn_master_without_workers_is_waited_for_as_it_shuts_down(tmp_path):
    """After a handover the old master, its workers gone, took 9 s to exit on a loaded host: the deploy warned that
    the reload kept the old interpreter and told the user to restart the app server. A master that still has a
    worker (a request it still answers) is named as before."""
    import os
    import signal
    import subprocess

    from deploytasks.server.finalize_release import still_on_the_left_venv
    from deploytasks.server.layout import ServerLayout

    layout = ServerLayout(str(tmp_path))
    for name, venv in (("r1", "old"), ("r2", "new")):
        (tmp_path / "shared" / "venvs" / venv).mkdir(parents=True)
        (tmp_path / "releases" / name).mkdir(parents=True)
        (tmp_path / "releases" / name / ".venv").symlink_to(tmp_path / "shared" / "venvs" / venv)
    old = tmp_path / "shared" / "venvs" / "old"
    leaving = subprocess.Popen(["bash", "-c", "exec -a gunicorn sleep 5"], cwd=old)  # a master, no workers left
    try:
        assert still_on_the_left_venv(layout, "r2", "r1") == []
        assert leaving.poll() is not None
    finally:
        leaving.kill()
        leaving.wait()
    serving = subprocess.Popen(["bash", "-c", "exec -a gunicorn bash -c 'sleep 60 & wait'"], cwd=old,
                               start_new_session=True)  # a master and its worker
    try:
        stays = still_on_the_left_venv(layout, "r2", "r1")
        assert serving.pid in [pid for pid, _ in stays], stays
    finally:
        os.killpg(serving.pid, signal.SIGKILL)
        serving.wait()


def test_the_same_refusal_five_times_in_a_row_ends_the_check_early():
    """A 400 (a Host header ALLOWED_HOSTS lacks) is the app's answer, not a start-up's: init's 40 attempts made each
    failed deploy wait 20 s on it, and as long again for the release switched back to."""
    with HealthEndpoint(lambda n: 400) as site:
        problem = health(site.url, NEW, 40, 0.2)
    assert problem.startswith("HTTP 400 from") and site.requests < 30, (problem, site.requests)  # 40 and probes


def test_server_errors_and_refusals_that_change_are_waited_out():
    """A 5xx may come from old workers on a schema that moved: every attempt is made. A refusal that ends is only
    the first answers of a start-up."""
    with HealthEndpoint(lambda n: 500) as site:
        assert health(site.url, NEW, 6, 0.05).startswith("HTTP 500 from")
    assert site.requests >= 6
    with HealthEndpoint(lambda n: 404 if n <= 3 else NEW) as site:
        assert health(site.url, NEW, 10, 0.05) is None


DJANGO_SITE = '''
import sys
from django.conf import settings
settings.configure(DEBUG=False, ALLOWED_HOSTS=["*"], ROOT_URLCONF=__name__, SECRET_KEY="x" * 50,
                   MIDDLEWARE=["django.middleware.security.SecurityMiddleware"], SECURE_SSL_REDIRECT=True,
                   **({"SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https")} if sys.argv[1] == "proxied" else {}))
import django
django.setup()
from django.http import HttpResponse, HttpResponseRedirect
from django.urls import path
urlpatterns = [path("health/", lambda request: HttpResponse("ok")),
               path("private/", lambda request: HttpResponseRedirect("/login/?next=/private/"))]
from wsgiref.simple_server import WSGIRequestHandler, make_server
from django.core.wsgi import get_wsgi_application
class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass
server = make_server("127.0.0.1", 0, get_wsgi_application(), handler_class=Quiet)
print(server.server_port, flush=True)
server.serve_forever()
'''


@pytest.fixture(params=["proxied", "direct"])
def secure_site(request, tmp_path):
    """A real Django with SECURE_SSL_REDIRECT, told of its proxy's X-Forwarded-Proto header (proxied) or not."""
    import subprocess
    import sys

    script = tmp_path / "site.py"
    script.write_text(DJANGO_SITE)
    process = subprocess.Popen([sys.executable, str(script), request.param], stdout=subprocess.PIPE, text=True)
    try:
        yield request.param, f"http://127.0.0.1:{int(process.stdout.readline())}"
    finally:
        process.kill()
        process.wait()


def test_the_health_check_asks_as_the_proxy_would_and_never_follows_a_redirect(secure_site):
    """Followed, SECURE_SSL_REDIRECT's redirect made every deploy fail on `[SSL: WRONG_VERSION_NUMBER]` after 40
    attempts, and a page that redirected to the login page passed on the login page's 200."""
    from deploytasks.server.releases import health_problem

    how, site = secure_site
    if how == "proxied":  # X-Forwarded-Proto: https, as the site's proxy sends it: no redirect
        assert health_problem(f"{site}/health/", None, 10) is None
        assert health_problem(f"{site}/private/", None, 10) == (
            f"HTTP 302 from {site}/private/ to /login/?next=/private/ (the health check does not follow redirects: set "
            "healthcheck to a URL that answers 200 itself)")
    else:
        problem = health_problem(f"{site}/health/", None, 10)
        assert problem.startswith(f"HTTP 301 from {site}/health/ to https://127.0.0.1:") and \
            "SECURE_PROXY_SSL_HEADER" in problem and "SECURE_REDIRECT_EXEMPT" in problem, problem
        assert health(f"{site}/health/", None, 40, 0.05) == problem  # the same answer five times: no 40 attempts
