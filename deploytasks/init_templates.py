"""The files `deploytasks init` writes, as text: tasks.py, fabfile.py, the config section (TOML or YAML), the
production env file, gunicorn.conf.py, deploy/gunicorn.sh (start or reload) and a systemd unit."""
import json
import secrets
import shlex
from dataclasses import dataclass

from .init_facts import production_settings_module, site_name

TASKS_PY = '''"""Local tasks (`inv --list`): set-up, checks, backups and migrations of this Django project."""
from deploytasks.local import ns
'''

FABFILE_PY = '''"""Server tasks (`fab --list`). Settings: {config}. First time: `fab -H HOST setup`, then `fab -H HOST deploy`."""
from deploytasks.remote import ns
'''

GUNICORN_SH = """#!/bin/sh
# Start gunicorn for this site, or reload it when it already runs (written by `deploytasks init`).
# deploytasks runs it after every switch, in the deploy directory ({path}): reload = "sh current/deploy/gunicorn.sh".
# - runs (shared/gunicorn.pid names this site's gunicorn: a gunicorn program working in {path}): HUP, so new
#   workers load the new release while the old ones finish their requests; when current/.venv is not the venv the
#   master runs from (a requirements change; a HUP would keep the old interpreter): USR2, so the master starts a new
#   one in the new venv (gunicorn.conf.py's pre_exec) on the same listening socket; once a worker of the new master
#   has loaded the app (gunicorn.conf.py's post_worker_init), TERM to the old master, which finishes its requests:
#   no connection is refused. A new master that stops before that (the app fails to load) leaves the old one
#   serving and fails the reload (the deploy is then undone); one that does not run the new venv (a
#   gunicorn.conf.py without pre_exec) is stopped and gunicorn restarted: a moment without a listener;
# - runs, and shared/.env is not the one it was started or handed over with (shared/gunicorn.envhash; a HUP or a
#   USR2 alone keeps the master's environment): the same USR2 handover, the new master given this script's
#   environment (shared/.env exported now, as on a start: changed values in, removed ones out) through
#   shared/gunicorn.pid.environ (0600), which gunicorn.conf.py's pre_exec reads and removes before it execs;
#   a new master that did not read it (an older gunicorn.conf.py) is stopped and gunicorn restarted;
# - runs, and GUNICORN_BIND is not what it was started with (shared/gunicorn.args; a new master inherits the old
#   one's listening sockets): stopped and started again, a moment without a listener, said as such; a changed
#   GUNICORN_WORKERS (a changed shared/.env) is the USR2 handover, the count in the new master's environment;
# - does not run: started daemonized with shared/.env exported, --chdir {path}/current (re-read on every HUP); what
#   the app writes to stdout and stderr (a console logging handler's tracebacks) goes to shared/gunicorn.log too.
# GUNICORN_BIND / GUNICORN_WORKERS (else WEB_CONCURRENCY) in shared/.env override the defaults below.
set -e
root=$(pwd)
envhash=none  # shared/.env's sha256 (cksum without sha256sum): what shared/gunicorn.envhash is compared with
if [ -f "$root/shared/.env" ]; then
    envhash=$({{ sha256sum 2>/dev/null || cksum; }} < "$root/shared/.env" | cut -d ' ' -f 1)
    set -a; . "$root/shared/.env"; set +a
fi
set -u
real=$(pwd -P)
pidfile="$root/shared/gunicorn.pid"
venvstamp="$root/shared/gunicorn.venv"
envstamp="$root/shared/gunicorn.envhash"  # shared/.env's sha256 when the master was started or handed over
argstamp="$root/shared/gunicorn.args"  # the bind the master was started with (an older script's: and its workers)
workers=${{GUNICORN_WORKERS:-${{WEB_CONCURRENCY:-2}}}}  # WEB_CONCURRENCY: gunicorn's own name, as Heroku sets it
# the worker count goes to gunicorn in its environment, which a handover's new master gets anew (a --workers in its
# command line, which a new master inherits, made a changed count a restart: seconds without a listener)
export WEB_CONCURRENCY="$workers"
args="${{GUNICORN_BIND:-{bind}}}"
environ="$pidfile.environ"  # the environment a USR2 hands over (secrets: 0600, removed once read or on exit)
log="$root/shared/gunicorn.log"
venv=$(readlink -f "$root/current/.venv" || true)
stamped=$(cat "$envstamp" 2>/dev/null || true)
started_args=$(cat "$argstamp" 2>/dev/null || true)
rm -f "$environ"
trap 'rm -f "$environ"' EXIT
trap 'exit 1' HUP INT TERM

running() {{  # $pid is this site's gunicorn: a gunicorn program (or its retitled process) working in this path
    [ -n "$pid" ] || return 1
    case "$(readlink "/proc/$pid/cwd" 2>/dev/null)" in "$real"/*|"$root"/*) ;; *) return 1 ;; esac
    tr '\\000' '\\n' 2>/dev/null < "/proc/$pid/cmdline" | grep -q -e '^gunicorn$' -e '/gunicorn$' -e '^gunicorn: '
}}
master_venv() {{  # the venv $pid runs from: its interpreter's, else the one recorded when it was started
    first=$(tr '\\000' '\\n' 2>/dev/null < "/proc/$pid/cmdline" | head -n 1)
    case "$first" in
        */bin/python*) readlink -f "${{first%/bin/*}}" || true ;;
        *) cat "$venvstamp" 2>/dev/null || true ;;
    esac
}}
has_workers() {{  # a process whose parent is $pid (field 4 of /proc/N/stat, after the command name)
    for stat in /proc/[0-9]*/stat; do
        line=$(cat "$stat" 2>/dev/null) || continue
        set -- ${{line##*) }}
        if [ "${{2:-}}" = "$pid" ]; then return 0; fi
    done
    return 1
}}
logged=$(wc -c 2>/dev/null < "$log" || echo 0)  # the log's size before this script's gunicorn wrote to it
last_logged() {{  # the last line this script's gunicorn logged matching $1, less what matches $2 before it
    tail -c +$((logged + 1)) "$log" 2>/dev/null | grep -E "$1" | tail -n 1 | sed "s/$2//" | grep .
}}
why_not() {{  # what this script's gunicorn logged: a worker's exception, a bind that failed, else gunicorn's reason
    last_logged '^[A-Za-z_][A-Za-z0-9_.]*(Error|Exception)(: |$)' '^' || last_logged 'Connection in use' '.*\\] ' ||
        last_logged "Can't connect to" '.*\\] ' || last_logged 'Reason: ' '.*Reason: ' || echo "see shared/gunicorn.log"
}}
tells_ready() {{  # the release's gunicorn.conf.py marks a worker that has loaded the app (init's post_worker_init)
    grep -q post_worker_init "$root/current/gunicorn.conf.py" 2>/dev/null
}}
stamp_env() {{  # shared/gunicorn.envhash: the env file the master now serving was given (0600: hashes of secrets)
    rm -f "$envstamp"
    (umask 077 && printf '%s\\n' "$envhash" > "$envstamp")
}}
stop() {{  # TERM $pid and wait up to 30 s for it to go
    kill -TERM "$pid" 2>/dev/null || true
    i=0
    while running && [ "$i" -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
}}

pid=$(cat "$pidfile" 2>/dev/null || true)
if ! running; then pid=$(cat "$pidfile.2" 2>/dev/null || true); fi
fixed=${{started_args#* }}  # the --workers of a master an older script started ("bind workers"), else the bind
if running && [ -n "$started_args" ] && {{ [ "${{started_args%% *}}" != "$args" ] ||
        {{ [ "$fixed" != "$started_args" ] && [ "$fixed" != "$workers" ]; }}; }}; then
    echo "GUNICORN_BIND changed ($started_args -> $args $workers): restarting gunicorn $pid (a new master would keep" \
         "the old listening socket)"
    stop
fi
if running; then
    if [ "$(master_venv)" != "$venv" ]; then
        why="current/.venv changed"
    elif [ -z "$stamped" ]; then  # started by an older deploy/gunicorn.sh: its environment is unknown
        why="no shared/gunicorn.envhash (the environment gunicorn $pid started with is unknown)"
    elif [ "$stamped" != "$envhash" ]; then
        why="shared/.env changed"
    else
        kill -HUP "$pid"
        echo "gunicorn $pid reloaded (HUP)"
        exit 0
    fi
    old=$pid
    i=0  # a master an earlier USR2 started leads (takes USR2) once the master before it has finished its requests
    while [ "$(cat "$pidfile.2" 2>/dev/null || true)" = "$old" ] && [ "$i" -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
    rm -f "$pidfile".ready-*
    # the environment a start would give (PWD the symlinked current, as gunicorn resolves its directory from it)
    (umask 077 && cd "$root/current" && PWD="$root/current" && export PWD && env -0 > "$environ")
    kill -USR2 "$old"
    new=
    i=0
    while [ -z "$new" ] && [ "$i" -lt 300 ]; do  # the new master writes gunicorn.pid.2 (gunicorn.pid once it leads)
        for pid in $(cat "$pidfile.2" "$pidfile" 2>/dev/null); do
            if [ "$pid" != "$old" ] && running; then new=$pid; fi
        done
        [ -n "$new" ] || sleep 0.1
        i=$((i + 1))
    done
    pid=$new
    # a new master that kept this one's environment (its gunicorn.conf.py's pre_exec left the file) will not do
    # when shared/.env changed
    if [ -n "$new" ] && [ "$(master_venv)" = "$venv" ] && {{ [ ! -e "$environ" ] || [ "$stamped" = "$envhash" ]; }}
    then
        printf '%s\\n' "$new" > "$pidfile"  # the old master leaves the file alone once it names another
        i=0
        if tells_ready; then
            while [ ! -e "$pidfile.ready-$new" ] && running && [ "$i" -lt 1200 ]; do sleep 0.1; i=$((i + 1)); done
        else  # no word from the workers: they were started, give them a moment
            while ! has_workers && running && [ "$i" -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
            sleep 2
        fi
        if ! running || ! has_workers; then
            printf '%s\\n' "$old" > "$pidfile"
            pid=$new
            stop
            echo "the new gunicorn master (in $venv) stopped before its workers loaded the app; gunicorn $old goes" \\
                 "on serving the previous release: $(why_not)" >&2
            exit 1
        fi
        pid=$old
        kill -TERM "$old" 2>/dev/null || true
        rm -f "$pidfile".ready-*
        printf '%s\\n' "$venv" > "$venvstamp"
        stamp_env
        echo "$why: gunicorn $new took over (USR2); the old master $old stops after its requests"
        exit 0
    fi
    if [ -z "$new" ]; then
        reason="no new master came after USR2: see shared/gunicorn.log"
    elif [ -e "$environ" ]; then
        reason="its new master did not read shared/.env: gunicorn.conf.py's pre_exec is older (deploytasks init)"
    else
        reason="its new master does not run the new venv: gunicorn.conf.py has no pre_exec hook (deploytasks init)"
    fi
    rm -f "$environ"
    echo "$why: restarting gunicorn $old ($reason)"
    for pid in $new $old; do stop; done  # the new master first: it holds the listening socket too
fi
if [ ! -x "$root/current/.venv/bin/gunicorn" ]; then
    echo "no gunicorn in $root/current/.venv: add gunicorn to the requirements" >&2
    exit 1
fi
rm -f "$pidfile" "$pidfile.2" "$pidfile".ready-*
(umask 027 && touch "$log") && chmod o-rwx "$log"  # the app's tracebacks: not for every local user
cd "$root/current"  # gunicorn reads gunicorn.conf.py here, and from the release then live on every reload
# gunicorn >= 25.1 opens a control socket (for gunicornc) shared by every site of the user: give this site its own
set --
if "$root/current/.venv/bin/gunicorn" --help 2>/dev/null | grep -q -- --control-socket; then
    set -- --control-socket "$root/shared/gunicorn.ctl"
fi
"$root/current/.venv/bin/gunicorn" "$@" --chdir "$root/current" --pid "$pidfile" \\
    --bind "${{GUNICORN_BIND:-{bind}}}" \\
    {pythonpath}--error-logfile "$log" --capture-output --daemon {wsgi}
printf '%s\\n' "$venv" > "$venvstamp"
printf '%s\\n' "$args" > "$argstamp"
stamp_env
i=0
while [ ! -s "$pidfile" ] && [ "$i" -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
pid=$(cat "$pidfile" 2>/dev/null || true)
i=0  # the master binds (retrying for seconds while the address is in use), then its workers load the app: a
# worker that cannot load it makes the master stop ("Worker failed to boot"), which a forked worker does not show
if tells_ready; then
    while running && [ ! -e "$pidfile.ready-$pid" ] && [ "$i" -lt 1200 ]; do sleep 0.1; i=$((i + 1)); done
    rm -f "$pidfile".ready-*
else
    while running && ! has_workers && [ "$i" -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
fi
if ! running; then
    echo "gunicorn did not start on ${{GUNICORN_BIND:-{bind}}}: $(why_not)" >&2
    exit 1
fi
echo "gunicorn started on ${{GUNICORN_BIND:-{bind}}} (pid $pid; log shared/gunicorn.log)"
"""

GUNICORN_CONF = '''\
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
            entries = handle.read().split(b"\\0")
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
'''


SYSTEMD_UNIT = """# systemd unit for {name} (written by `deploytasks init`), instead of deploy/gunicorn.sh. As root on the server:
#   cp deploy/{name}.service /etc/systemd/system/ && systemctl daemon-reload && systemctl enable --now {name}
# then set reload = "sudo -S systemctl reload {name}" in the deploytasks settings (the deploy user needs sudo for
# that one command; fab sends the sudo password on stdin). Set User/Group to the user fab logs in as.
# EnvironmentFile takes NAME=value lines (no `export`, no shell expansion).
# gunicorn >= 25.1 opens one control socket per user (~/.gunicorn/gunicorn.ctl): when several sites run as one
# user, add --control-socket {path}/shared/gunicorn.ctl to ExecStart (older versions refuse the option).
[Unit]
Description={name} (gunicorn)
After=network.target

[Service]
Type=notify
NotifyAccess=main
User=deploy
Group=deploy
WorkingDirectory={path}/current
# gunicorn reads gunicorn.conf.py from $PWD: the release live at each start and reload
Environment=PWD={path}/current
EnvironmentFile=-{path}/shared/.env
ExecStart={path}/current/.venv/bin/gunicorn --chdir {path}/current --pid {path}/shared/gunicorn.pid --bind {bind} --workers 2 {unit_pythonpath}{wsgi}
ExecReload=/bin/kill -s HUP $MAINPID
KillMode=mixed
TimeoutStopSec=30
Restart=on-failure

[Install]
WantedBy=multi-user.target
"""


@dataclass(frozen=True)
class Choices:
    host: str  # the production host's folder: deploy/<host>/.env
    path: str  # the deploy directory on the server
    bind: str  # gunicorn's address


@dataclass
class Entry:
    comment: str
    key: str
    value: object
    active: bool = True


def wsgi_target(facts) -> str:
    module, _, attribute = facts.wsgi.rpartition(".")
    return f"{module}:{attribute}" if module else "wsgi:application"


def healthcheck_url(facts, choices) -> str:
    host, _, port = choices.bind.rpartition(":")
    host = "127.0.0.1" if host in ("0.0.0.0", "", "*") else host
    if facts.health:  # the project's own health view: its code, and often its revision
        return f"http://{host}:{port}{facts.health}"
    return f"http://{host}:{port}/" + ("admin/login/" if facts.admin and not facts.pages_at_root else "")


def env_source(choices) -> str:
    return f"deploy/{choices.host}/.env"


def config_entries(facts, choices) -> list:
    requirements_note = (f"found {facts.requirements}" + (f" (also there: {', '.join(facts.other_requirements)})"
                                                          if facts.other_requirements else "")
                         if facts.requirements else "none found: write it, with Django and gunicorn")
    entries = [
        Entry("absolute deploy directory on the server: releases/, shared/, current, backups/", "path", choices.path),
        Entry("the git URL the server clones" + (" (from `git remote get-url origin`)" if facts.repo
                                                  else ": not inferred (no git remote 'origin'), set it"),
              "repo", facts.repo or "git@example.com:you/project.git", active=bool(facts.repo)),
        Entry("what `fab deploy` ships without --revision", "branch", facts.branch or "main"),
        Entry(f"requirements file: {requirements_note}", "requirements", facts.requirements or "requirements.txt"),
        *([Entry("what `inv setup`/`inv install` install on a laptop (servers install `requirements`)",
                 "local_requirements", facts.local_requirements)] if facts.local_requirements else []),
        Entry("after the switch: HUP gunicorn, or start it when it does not run (deploy/gunicorn.sh, shipped in each "
              "release).\n  With systemd (deploy/*.service installed): reload = \"sudo -S systemctl reload "
              f"{site_name(facts)}\"", "reload", "sh current/deploy/gunicorn.sh"),
        Entry("a URL the server GETs after the reload; 200 means healthy (a view answering JSON {\"revision\": …} also "
              "proves the new code is served)", "healthcheck", healthcheck_url(facts, choices)),
        Entry("gunicorn's first start boots Django before it answers: allow it some time", "healthcheck_retries", 40),
        Entry("production's settings come from this file here, uploaded by `fab setup` to {path}/shared/.env (0600); "
              "never the project's own .env", "shared_sources", {".env": env_source(choices)}),
    ]
    media = facts.relative(facts.media_root)
    entries.append(Entry(
        f"uploads: MEDIA_ROOT is {media}/ in the project, kept in {{path}}/shared/{media} and linked into every release"
        if media else "uploads: MEDIA_ROOT " + ("is outside the project: nothing to link" if facts.media_root
                                                else "is not set: set it to a directory inside the project (e.g. "
                                                     "BASE_DIR / \"media\") and add that here to keep uploads across "
                                                     "releases"),
        "shared_dirs", [media] if media else [], active=True))
    if not facts.static_root:
        entries.append(Entry("STATIC_ROOT is not set in the settings" + ("" if facts.how else " (or not readable)") +
                             ": collectstatic cannot run. Set STATIC_ROOT, then remove this line", "collectstatic",
                             False))
    else:
        shown = facts.relative(facts.static_root) or facts.static_root
        entries.append(Entry(f"collectstatic into STATIC_ROOT ({shown}) on setup and deploy", "collectstatic", True))
    if facts.venv != ".venv":
        entries.append(Entry("the local venv found in the project", "venv", facts.venv))
    return entries


def header(facts) -> str:
    """The section's opening comment: where the values came from, and what the server needs for the database."""
    engine = facts.vendor or "unknown"
    tools = {"postgresql": "; the server needs pg_dump/pg_restore/psql and zstd (apt-get install postgresql-client zstd)",
             "mysql": "; the server needs mysqldump/mysql and zstd (apt-get install default-mysql-client zstd)"
             }.get(engine, "")
    return (f"Written by `deploytasks init`: {facts.how or 'settings not readable'}.\n"
            f"Settings module {facts.settings_module or '?'}, database engine {engine}{tools}.\n"
            "Every key and its default, and stages: README, Configuration.")


def _comment(text, mark="#") -> list:
    return [f"{mark} {line.strip()}" for line in text.split("\n")]


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {json.dumps(v)}" for k, v in value.items()) + "}"
    return json.dumps(value)  # strings, numbers and lists of strings: JSON's spelling is TOML's


def render_toml(entries, header) -> str:
    lines = ["[tool.deploytasks]", *_comment(header)]
    for entry in entries:
        lines += _comment(entry.comment)
        lines.append(("" if entry.active else "# ") + f"{entry.key} = {_toml_value(entry.value)}")
    return "\n".join(lines) + "\n"


def render_yaml(entries, header) -> str:
    lines = [*_comment(header), "deploytasks:"]
    for entry in entries:
        lines += _comment(entry.comment, "  #")
        lines.append(("  # " if not entry.active else "  ") + f"{entry.key}: {json.dumps(entry.value)}")
    return "\n".join(lines) + "\n"


def env_file(facts, choices) -> str:
    """Production's env file: each value under the name the settings read it from (DJANGO_SECRET_KEY, say), the
    ones they do not read commented out, with why; then the names they cannot do without, to fill in."""
    host = choices.bind.rpartition(":")[0]
    vendor = facts.vendor or facts.driver_vendor
    database = (f"sqlite:///{choices.path}/shared/db.sqlite3" if vendor in ("", "sqlite3")
                else "postgres://USER:PASSWORD@HOST:5432/NAME" if vendor == "postgresql"
                else "mysql://USER:PASSWORD@HOST:3306/NAME")
    values = [
        ("SECRET_KEY", secrets.token_urlsafe(50)),
        ("DEBUG", "false"),
        ("ALLOWED_HOSTS", "127.0.0.1" if host in ("", "0.0.0.0", "*") else host),
        ("DATABASE_URL", database),
    ]
    lines = [
        f"# Production's settings for {choices.host} (written by `deploytasks init`; mode 0600, git-ignored).",
        f"# `fab -H {choices.host} setup` uploads this file to {choices.path}/shared/.env; later changes:",
        f"# `fab -H {choices.host} shared.diff` / `shared.push`. manage.py commands on the server and",
        "# deploy/gunicorn.sh read it. Never copy it to the project's own .env (your machine's settings).",
        f"# Edit before `fab setup`: the site's domain names in {facts.env_for.get('ALLOWED_HOSTS', 'ALLOWED_HOSTS')}, "
        "the database credentials.",
    ]
    module = production_settings_module(facts)
    if module:
        lines.append(f"DJANGO_SETTINGS_MODULE={module}")
    lines += [f"{facts.env_for[name]}={value}" for name, value in values if name in facts.env_for]
    if facts.env_required:  # commented out: an empty value would pass (an empty ADMIN_URL serves the admin at /)
        lines.append("# required by the settings (read without a default), no value known to init: fill in and "
                     "uncomment each (until then the settings refuse to start)")
        lines += [f"# {name}=" for name in facts.env_required]
    unread = [(name, value) for name, value in values if name not in facts.env_for]
    if unread:
        lines.append("# The settings do not read these from the environment yet; uncomment each once they do:")
        lines += [f"# {name}={value}" for name, value in unread]
    lines.append("# deploy/gunicorn.sh reads these (not the settings): uncomment one to change it")
    lines += [f"# GUNICORN_BIND={choices.bind}", "# GUNICORN_WORKERS=2"]
    return "\n".join(lines) + "\n"


def python_paths(facts, current) -> str:
    """gunicorn's --pythonpath for the project's import roots other than its own directory (`src` of a src/
    layout, which manage.py puts on sys.path and gunicorn would not), through `current` (a relative path would be
    made absolute in the release gunicorn started in, and every reload would import that release's code)."""
    roots = [where for where in facts.import_roots if where]
    return f"--pythonpath {','.join(f'{current}/{where}' for where in roots)} " if roots else ""


def gunicorn_script(facts, choices) -> str:
    return GUNICORN_SH.format(path=choices.path, bind=choices.bind, wsgi=shlex.quote(wsgi_target(facts)),
                              pythonpath=python_paths(facts, '"$root/current"'))


def systemd_unit(facts, choices) -> str:
    return SYSTEMD_UNIT.format(name=site_name(facts), path=choices.path, bind=choices.bind,
                               wsgi=wsgi_target(facts), unit_pythonpath=python_paths(facts, f"{choices.path}/current"))
