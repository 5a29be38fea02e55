# Sourced by quickstart.sh and test.sh: installs what a fresh Debian machine (as root) lacks,
# then a virtualenv for the tool itself in .tooling/ with deploytasks installed from this checkout.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

missing=()
command -v git >/dev/null 2>&1 || missing+=(git)
if ! command -v python3 >/dev/null 2>&1; then
    missing+=(python3 python3-venv)  # Debian's python3 comes without venv's ensurepip
elif ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    missing+=(python3-venv)
fi
command -v zstd >/dev/null 2>&1 || missing+=(zstd)  # PostgreSQL backups are zstd-compressed; so are transfers that shrink
if [ "${DEPLOYTASKS_NEED_SSHD:-0}" = 1 ]; then
    [ -x /usr/sbin/sshd ] || missing+=(openssh-server)
    command -v ssh >/dev/null 2>&1 || missing+=(openssh-client)
    command -v rclone >/dev/null 2>&1 || missing+=(rclone)  # off-site copies (tests: SFTP and local remotes)
    # the PostgreSQL and MariaDB tests use the servers on 127.0.0.1 through their client tools (skipped without a server)
    command -v pg_dump >/dev/null 2>&1 || missing+=(postgresql-client)
    { command -v mysqldump || command -v mariadb-dump; } >/dev/null 2>&1 || missing+=(mariadb-client)
fi
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "missing: ${missing[*]} (install them, or run this as root)" >&2
        exit 1
    fi
    echo "installing ${missing[*]} with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

TOOLING="$REPO/.tooling"
if [ ! -x "$TOOLING/bin/python" ]; then
    python3 -m venv "$TOOLING"
fi
stamp="$TOOLING/.installed-$(cat pyproject.toml | sha256sum | cut -c1-16)${DEPLOYTASKS_EXTRAS:+-test}"
if [ ! -e "$stamp" ]; then
    "$TOOLING/bin/python" -m pip install --disable-pip-version-check -q -e ".${DEPLOYTASKS_EXTRAS:-}"
    touch "$stamp"
fi
export PATH="$TOOLING/bin:$PATH"
