#!/usr/bin/env bash
# Sets deploytasks up and runs its main job on the bundled example project:
# `inv setup` (venv, install, migrate, superuser, collectstatic) then the pre-deployment checklist.
source "$(dirname "$0")/prereqs.sh"
export DJANGO_SUPERUSER_USERNAME="${DJANGO_SUPERUSER_USERNAME:-admin}"
export DJANGO_SUPERUSER_EMAIL="${DJANGO_SUPERUSER_EMAIL:-admin@example.com}"
export DJANGO_SUPERUSER_PASSWORD="${DJANGO_SUPERUSER_PASSWORD:-change-me-now}"
inv setup
inv check
echo
echo "The example is ready: cd example && .venv/bin/python manage.py runserver  (admin: $DJANGO_SUPERUSER_USERNAME)"
