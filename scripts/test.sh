#!/usr/bin/env bash
# Runs the test suite: installs what it needs (openssh-server for the real-sshd tests, pytest, Django).
# Two workers (pytest-xdist), a test file per worker at a time: most tests wait on real processes (sshd,
# gunicorn, Django start-ups), so two at once fill 2 CPUs; each file's module fixtures (a "server" on its own
# loopback address) stay in one worker. DEPLOYTASKS_TEST_WORKERS=0 runs everything in this process.
export DEPLOYTASKS_NEED_SSHD=1 DEPLOYTASKS_EXTRAS="[test]"
source "$(dirname "$0")/prereqs.sh"
# bytecode for the checkout, as a pip-installed deploytasks has it: where PYTHONDONTWRITEBYTECODE is set, every inv and
# fab the tests start would compile the package again
python -m compileall -q -j 0 deploytasks >/dev/null
exec python -m pytest -q -n "${DEPLOYTASKS_TEST_WORKERS:-2}" --dist loadfile "$@"
