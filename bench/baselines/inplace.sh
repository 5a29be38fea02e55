#!/usr/bin/env bash
# Seed-style in-place deploy: the hand-written checklist, run from the laptop,
# one `ssh` per step, straight into a single checkout on the server.
#
#   SSH_CONFIG=path/to/ssh_config DEPLOY_PATH=/srv/mysite REPO_URL=/path/to/repo.git \
#   BIND=127.0.0.2:8000 bench/baselines/inplace.sh
#
# Variables (also accepted as NAME=value arguments):
#   SSH_CONFIG   ssh_config file to use (ssh -F)                      required
#   SSH_HOST     host alias inside it                                 default testhost
#   DEPLOY_PATH  directory on the server; the checkout is DEPLOY_PATH/app   required
#   REPO_URL     what the server clones from (a path works: same machine)   required
#   BRANCH       branch to deploy                                     default main
#   BIND         gunicorn bind address                                default 127.0.0.2:8000
#   PYTHON       python on the server that creates the venv           default python3
#
# First run: clones the repo to DEPLOY_PATH/app, creates DEPLOY_PATH/app/.venv and
# an app/.env holding the settings. Every run: back up db.sqlite3, git pull,
# pip install, migrate, collectstatic, restart gunicorn (HUP via its pidfile, or
# start it daemonized). 7 ssh commands in all.
set -euo pipefail

for arg in "$@"; do
    case "$arg" in
        *=*) export "${arg?}" ;;
        *) echo "usage: $0 [NAME=value ...] (see the comment at the top)" >&2; exit 2 ;;
    esac
done

: "${SSH_CONFIG:?set SSH_CONFIG}" "${DEPLOY_PATH:?set DEPLOY_PATH}" "${REPO_URL:?set REPO_URL}"
SSH_HOST=${SSH_HOST:-testhost}
BRANCH=${BRANCH:-main}
BIND=${BIND:-127.0.0.2:8000}
PYTHON=${PYTHON:-python3}

APP=$(printf %q "$DEPLOY_PATH/app")
PIDFILE=$(printf %q "$DEPLOY_PATH/gunicorn.pid")
LOGFILE=$(printf %q "$DEPLOY_PATH/gunicorn.log")
REPO=$(printf %q "$REPO_URL")
BIND_Q=$(printf %q "$BIND")
BIND_HOST=${BIND%:*}
# Every step runs in the checkout with the settings from app/.env.
IN_APP="cd $APP && set -a && . ./.env && set +a &&"

on_server() {
    echo "==> $1"
    ssh -F "$SSH_CONFIG" "$SSH_HOST" "$2"
}

on_server "setup (first run only): clone, venv, .env" "
    if [ ! -d $APP/.git ]; then
        mkdir -p $(printf %q "$DEPLOY_PATH") &&
        git clone --branch $(printf %q "$BRANCH") $REPO $APP &&
        $PYTHON -m venv $APP/.venv &&
        cat > $APP/.env <<ENV
SECRET_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
DEBUG=false
ALLOWED_HOSTS=$BIND_HOST,localhost,127.0.0.1
ENV
    fi"

on_server "back up the database" \
    "$IN_APP if [ -f db.sqlite3 ]; then cp db.sqlite3 db.sqlite3.bak-\$(date +%Y%m%d-%H%M%S); fi"

on_server "git pull" "$IN_APP git pull --ff-only origin $(printf %q "$BRANCH")"

on_server "pip install -r requirements.txt" "$IN_APP .venv/bin/pip install -r requirements.txt"

on_server "migrate" "$IN_APP .venv/bin/python manage.py migrate --noinput"

on_server "collectstatic" "$IN_APP .venv/bin/python manage.py collectstatic --noinput"

on_server "restart gunicorn" "$IN_APP
    if [ -f $PIDFILE ] && kill -0 \"\$(cat $PIDFILE)\" 2>/dev/null; then
        kill -HUP \"\$(cat $PIDFILE)\"
    else
        .venv/bin/gunicorn mysite.wsgi --bind $BIND_Q --workers 2 --pid $PIDFILE \
            --daemon --error-logfile $LOGFILE --capture-output
    fi"

echo "==> deployed"
