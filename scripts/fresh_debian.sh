#!/usr/bin/env bash
# Runs the README's two commands, as written, on a clean clone of this checkout's HEAD inside a freshly
# bootstrapped Debian 12 (root only): what a new user's machine has, without pyenv, PostgreSQL's or MariaDB's
# client tools, or anything this machine installed since. The chroot shares this machine's network (its
# PostgreSQL and MariaDB servers on 127.0.0.1) and gets its own mount namespace, /run and /tmp.
#   bash scripts/fresh_debian.sh [DIR] [-- pytest arguments]   (DIR: where the Debian tree lives, kept for the
#   next run; default /var/tmp/deploytasks-fresh-debian)
# This machine's package-index settings (/etc/pip.conf, its CA certificates, PIP_* and *_CA_BUNDLE variables, the
# local wheel directories they name) are copied in, so a proxy that PyPI and Debian are reached through still works.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROOT="${1:-/var/tmp/deploytasks-fresh-debian}"
shift || true
[ "${1:-}" = "--" ] && shift
[ "$(id -u)" = 0 ] || { echo "run this as root (debootstrap, chroot, mounts)" >&2; exit 1; }
if [ ! -x "$ROOT/usr/bin/apt-get" ]; then
    command -v debootstrap >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
    debootstrap --variant=minbase bookworm "$ROOT" http://deb.debian.org/debian >/dev/null
fi
rm -rf "$ROOT/root/deploytasks"
git clone -q "$REPO" "$ROOT/root/deploytasks"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
[ -f /etc/pip.conf ] && cp /etc/pip.conf "$ROOT/etc/pip.conf"
if [ -d /usr/local/share/ca-certificates ]; then
    mkdir -p "$ROOT/usr/local/share/ca-certificates" "$ROOT/etc/ssl/certs"
    cp -r /usr/local/share/ca-certificates/. "$ROOT/usr/local/share/ca-certificates/"
    [ -f /etc/ssl/certs/ca-certificates.crt ] && cp /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/"
fi
binds=()
for dir in ${PIP_FIND_LINKS:-} $(grep -o 'file://[^ ]*' /etc/pip.conf 2>/dev/null | sed 's|^file://||; s|/simple/*$||') \
           $(sed -n 's|^ *find-links *= *\(/[^ ]*\).*|\1|p' /etc/pip.conf 2>/dev/null); do
    [ -d "$dir" ] && mkdir -p "$ROOT$dir" && binds+=("$dir")
done
variables=(HOME=/root TERM=dumb LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)
for name in $(compgen -e | grep -E '^(PIP_[A-Z_]+|SSL_CERT_FILE|SSL_CERT_DIR|REQUESTS_CA_BUNDLE|CURL_CA_BUNDLE|GIT_SSL_CAINFO)$'); do
    variables+=("$name=${!name}")
done
exec unshare --mount --propagation private bash -s -- "$ROOT" "${binds[*]}" "$*" "${variables[@]}" <<'INSIDE'
set -e
ROOT=$1 BINDS=$2 ARGS=$3
shift 3
mount --bind "$ROOT" "$ROOT"  # a mount point, so that tests can unshare their own mount namespaces inside
mount -t proc proc "$ROOT/proc"
mount --rbind /sys "$ROOT/sys"
mount --rbind /dev "$ROOT/dev"
mount -t tmpfs tmpfs "$ROOT/run"
mount -t tmpfs tmpfs "$ROOT/tmp"
for dir in $BINDS; do mount --bind -o ro "$dir" "$ROOT$dir"; done
exec chroot "$ROOT" /usr/bin/env -i "$@" bash -c \
    "cd /root/deploytasks && bash scripts/quickstart.sh && bash scripts/test.sh $ARGS"
INSIDE
