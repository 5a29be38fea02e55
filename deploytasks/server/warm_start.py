"""A deploy's pre-deploy Django, started before its release exists: once prepare holds the lock, the standby
(standby.py) starts a Python of the live release's venv that imports Django's framework (no settings, no app,
nothing of the project) while the revision is fetched and unpacked. When the new release turns out to use the
same venv and the same environment, that Python becomes the release's `manage.py shell` in place: the import
time is off the deploy's path. Anything else (another venv, a changed .env, an import that failed) makes it exec
the pre-deploy command as it would have been started, so the outcome never depends on the shortcut.

Two sides: spawn/commission/discard run in the standby; main runs in the venv's Python (the zygote)."""
import json
import os
import shlex
import subprocess
import sys

# Django modules that load without settings or apps and that every `manage.py shell` imports; a module a
# Django version lacks is skipped, any other failure gives up the shortcut.
FRAMEWORK = (
    "django.core.management",
    "django.core.management.commands.shell",
    "django.urls",
    "django.db.models",
    "django.db.migrations.executor",
    "django.http",
    "django.forms",
    "django.template",
    "django.core.checks",
    "django.core.handlers.wsgi",
    "django.contrib.staticfiles.finders",
    "django.views.generic",
)
# what the shell's `cd` and start-up set, which differs between two releases' directories
SHELL_VARIABLES = {"PWD", "OLDPWD", "SHLVL", "_"}
started_early = False  # in a zygote that became the pre-deploy Django (predeploy reports it)


# --- the standby's side ---------------------------------------------------------------------------------------

def live_spec(layout, warm, live):
    """How to start the zygote for a deploy whose live release is `live` (None: no live release, no zygote)."""
    from .standby import RELEASE_SLOT, release_name_ok

    if not warm or not live or not release_name_ok(live):
        return None
    venv = os.path.realpath(os.path.join(layout.release(live), ".venv"))
    python = os.path.join(venv, "bin", "python")
    if not os.access(python, os.X_OK):
        return None
    prefix = warm["exec_prefix"].replace(RELEASE_SLOT, live)
    return {"command": "%s %s -c %s" % (prefix, shlex.quote(python), shlex.quote(warm["boot"])), "venv": venv}


def spawn(spec):
    """The zygote started (a text-mode Popen with pipes), or None."""
    if not spec:
        return None
    try:
        # os.environ as the order's base_env will be (the C environment can hold more: readline's LINES, say)
        zygote = subprocess.Popen(spec["command"], shell=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, universal_newlines=True, env=dict(os.environ))
    except OSError:
        return None
    zygote.venv = spec["venv"]
    return zygote


def commission(zygote, order):
    """The pre-deploy Django for `order` (prepare's: the release's command, its venv, how to start it in parts):
    the zygote told to become it, when it runs the same venv; else the command started anew. None when the
    order has no command (the venv is not built yet)."""
    command = order.get("command")
    if not command:
        discard(zygote)
        return None
    if (zygote is not None and "exec_prefix" in order and zygote.poll() is None
            and os.path.realpath(order["venv"]) == zygote.venv):
        go = dict(order, base_env=dict(os.environ))
        try:
            zygote.stdin.write(json.dumps(go) + "\n")
            zygote.stdin.flush()
        except OSError:
            pass
        else:
            zygote.args = command  # what the supervisor compares with the command it is asked to run
            return zygote
    discard(zygote)
    return subprocess.Popen(command, shell=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, universal_newlines=True)


def discard(zygote):
    if zygote is not None and zygote.poll() is None:
        zygote.kill()
        zygote.wait()


# --- the zygote's side (the venv's Python, its site loaded) --------------------------------------------------

def main():
    """Import the framework, wait for the order on stdin (its end: exit), then become the pre-deploy Django."""
    started_env = dict(os.environ)
    ours = sys.path[:2]  # the bundle (put first by the boot line) and '' (the current directory, for -c)
    imported = framework_imported(ours)
    order = read_line(0)
    if not order:
        os._exit(0)
    order = json.loads(order)
    env = imported and environment(order)
    if not env or differs(started_env, env):
        cold(order)
    become(order, env, ours)


def framework_imported(ours):
    """Whether the framework imported cleanly, without settings and apps (the project is not on sys.path)."""
    import importlib

    saved = sys.path[:]
    sys.path[:] = [entry for entry in sys.path if entry not in ours]
    try:
        for name in FRAMEWORK:
            try:
                importlib.import_module(name)
            except ModuleNotFoundError as exc:
                if exc.name != name:
                    return False
        importlib.import_module(".predeploy", __package__)  # the entry this Django will be asked to run
        from django.apps import apps
        from django.conf import settings

        return not settings.configured and not apps.ready and not apps.loading
    except Exception:  # noqa: BLE001 - whatever it was, the order is run as a plain command
        return False
    finally:
        sys.path[:] = saved


def read_line(fd):
    """One line read from `fd` a byte at a time: what follows it (the request) stays for sys.stdin."""
    data = bytearray()
    while not data.endswith(b"\n"):
        chunk = os.read(fd, 1)
        if not chunk:
            return b""
        data += chunk
    return bytes(data)


def environment(order):
    """The environment the pre-deploy command's shell would give Django (its cd, its .env), or None."""
    try:
        done = subprocess.run(order["exec_prefix"] + " env -0", shell=True, env=order["base_env"],
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    except OSError:
        return None
    if done.returncode != 0:
        return None
    pairs = [item.split(b"=", 1) for item in done.stdout.split(b"\0") if b"=" in item]
    return {os.fsdecode(name): os.fsdecode(value) for name, value in pairs}


def differs(started_env, env):
    """Whether the release's environment is not the one this Python started with (a changed .env: variables
    such as PYTHONPATH, TZ or LANG act when an interpreter starts)."""
    strip = lambda variables: {k: v for k, v in variables.items() if k not in SHELL_VARIABLES}  # noqa: E731
    return strip(started_env) != strip(env)


def cold(order):
    """Exec the pre-deploy command itself, as the standby would have started it."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve("/bin/sh", ["/bin/sh", "-c", order["command"]], order["base_env"])


def become(order, env, ours):
    """Run `manage.py ARGS` in the release as `python manage.py ARGS` would: its directory first on sys.path,
    its environment, argv, and __main__."""
    import runpy

    global started_early
    started_early = True
    os.environ.clear()
    os.environ.update(env)
    os.chdir(order["root"])
    manage = order["manage"]
    sys.path[:] = [os.path.dirname(os.path.realpath(manage))] + [entry for entry in sys.path if entry not in ours]
    sys.argv = [manage] + list(order["args"])
    runpy.run_path(manage, run_name="__main__")
