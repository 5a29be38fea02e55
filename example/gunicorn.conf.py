"""gunicorn's settings for this project (written by `deploytasks init`). gunicorn reads gunicorn.conf.py from
the directory it starts in: start it in the release (`cd {path}/current`, as deploy/gunicorn.sh does), and it
reads this file again from the new release on every reload (HUP); a release without it reloads with none.

The master imports Django's framework (no settings, no project code, nothing that connects): the workers a reload
starts are forked with it loaded and answer about twice as soon (0.10 s against 0.23 s for a small project), so
after a deploy's switch the old release serves for a shorter moment. A reload keeps the master's venv (a
requirements change restarts gunicorn), so these are the very files the workers would import. Packages upgraded
in place in that venv need a restart, not a reload: the log says so when Django's files changed."""
import importlib
import os

FRAMEWORK = (
    "django.core.handlers.wsgi",
    "django.core.checks",
    "django.urls",
    "django.db.models",
    "django.db.backends.base.base",
    "django.http",
    "django.forms",
    "django.template",
    "django.views.generic",
    "django.middleware.security",
    "django.middleware.csrf",
    "django.contrib.admin",
    "django.contrib.sessions.middleware",
    "django.contrib.messages.middleware",
    "django.contrib.staticfiles.finders",
)


def django_files():
    import django

    found = os.stat(django.__file__)
    return found.st_ino, found.st_mtime_ns


def import_framework(server):
    loaded = 0
    for name in FRAMEWORK:
        try:
            importlib.import_module(name)
            loaded += 1
        except Exception:  # a Django without it: the workers import what they need, as they would anyway
            pass
    server.log.info("gunicorn.conf.py: Django's framework imported in the master (%d modules)", loaded)
    if loaded:
        server.django_files = getattr(server, "django_files", None) or django_files()  # the master's, from its start
        if server.django_files != django_files():
            server.log.warning("gunicorn.conf.py: Django's files changed since gunicorn started (upgraded in "
                               "place?): restart gunicorn, a reload keeps the framework its master imported")


GUNICORNS_OWN = ("GUNICORN_PID", "GUNICORN_FD", "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES")


def run_in_the_live_venv(server):
    """USR2 (deploy/gunicorn.sh after a requirements change or a changed shared/.env): the new master runs the
    Python of the venv the live release links (`current/.venv`), not the one this master started with, and inherits
    the listening socket. Its environment is the one deploy/gunicorn.sh left beside the pid file (shared/.env as it
    is now, exported as on a start), not this master's: read, then removed (which tells the script it was); without
    that file (a USR2 sent by hand), this master's. gunicorn adds its own variables (GUNICORN_FD...) after this."""
    python = os.path.join(os.path.realpath(os.path.join(server.START_CTX["cwd"], ".venv")), "bin", "python")
    if os.path.exists(python):
        server.START_CTX[0] = server.START_CTX["args"][0] = python
    if not server.cfg.pidfile:
        return
    handed = "%s.environ" % server.cfg.pidfile
    try:
        with open(handed, "rb") as handle:
            entries = handle.read().split(b"\0")
        os.unlink(handed)
    except OSError:
        return
    environ = {}
    for entry in entries:
        name, equals, value = os.fsdecode(entry).partition("=")
        if equals and name and name not in GUNICORNS_OWN:
            environ[name] = value
    if environ:
        server.cfg.env_orig.clear()  # what gunicorn execs the new master with
        server.cfg.env_orig.update(environ)


def mark_ready(worker):
    """A worker has loaded the app: deploy/gunicorn.sh, which started its master with USR2 (a requirements change
    or a changed shared/.env), stops the old master once this file beside the pid file names the new one."""
    if worker.cfg.pidfile:
        open("%s.ready-%d" % (worker.cfg.pidfile, worker.ppid), "a").close()


on_starting = import_framework
on_reload = import_framework
pre_exec = run_in_the_live_venv
post_worker_init = mark_ready
