#!/usr/bin/env bash
# Runs the test suite: installs what it needs (openssh-server for the real-sshd tests, pytest, Django).
# One pytest-xdist worker per CPU and one more, a test file per worker at a time: the tests wait on real processes
# (sshd, gunicorn, Django start-ups) part of the time, so with one worker per CPU a third of the CPU stayed idle
# (on 2 CPUs: 9 m 22 s with two workers, 7 m 54 s with three, 7 m 56 s with four); each file's module fixtures
# (a "server" on its own loopback address) stay in one worker. DEPLOYTASKS_TEST_WORKERS=0 runs everything in this process.
export DEPLOYTASKS_NEED_SSHD=1 DEPLOYTASKS_EXTRAS="[test]"
# Python writes bytecode as it does on a fresh machine: a PYTHONDONTWRITEBYTECODE inherited from the caller made every
# Django start-up of the tests' venvs compile Django again (two side-by-side pairs, 829 tests: 10 m 17 s / 951 CPU-seconds
# -> 9 m 04 s / 807, and 9 m 55 s / 901 -> 9 m 19 s / 858); tests of the tools under that setting set it themselves
unset PYTHONDONTWRITEBYTECODE
source "$(dirname "$0")/prereqs.sh"
# bytecode for the checkout, as a pip-installed deploytasks has it, before the workers' first inv and fab
python -m compileall -q -j 0 deploytasks >/dev/null
exec python -m pytest -q -n "${DEPLOYTASKS_TEST_WORKERS:-$(( $(nproc) + 1 ))}" --dist loadfile "$@"
