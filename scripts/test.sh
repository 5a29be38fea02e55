#!/usr/bin/env bash
# Runs the test suite: installs what it needs (openssh-server for the real-sshd tests, pytest, Django).
# Two workers (pytest-xdist), a test file per worker at a time: most tests wait on real processes (sshd,
# gunicorn, Django start-ups), so two at once fill 2 CPUs; each file's module fixtures (a "server" on its own
# loopback address) stay in one worker. DEPLOYTASKS_TEST_WORKERS=0 runs everything in this process.
export DEPLOYTASKS_NEED_SSHD=1 DEPLOYTASKS_EXTRAS="[test]"
source "$(dirname "$0")/prereqs.sh"
exec python -m pytest -q -n "${DEPLOYTASKS_TEST_WORKERS:-2}" --dist loadfile "$@"
