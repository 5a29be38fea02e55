#!/usr/bin/env bash
# Runs the test suite: installs what it needs (openssh-server for the real-sshd tests, pytest, Django).
export DEPLOYTASKS_NEED_SSHD=1 DEPLOYTASKS_EXTRAS="[test]"
source "$(dirname "$0")/prereqs.sh"
exec python -m pytest -q "$@"
