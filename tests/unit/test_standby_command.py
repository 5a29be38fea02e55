"""The pre-deploy command the client sends with prepare, its release's name left as a slot: filled in by the
server's standby (server/standby.py), it must be the very command the client asks the supervisor to run, or the
Django started early goes unused."""
import posixpath

import pytest

from deploytasks.releases import release_project, standby_request
from deploytasks.server.standby import RELEASE_SLOT, release_name_ok
from deploytasks.settings import Settings


@pytest.mark.parametrize("path", ["/srv/site", "/srv/my site", "/home/deploy/apps/shop's", "/srv/site/"])
def test_the_filled_in_template_is_the_command_the_supervisor_is_asked_for(path):
    settings = Settings(path=path, repo="git@example.org:site.git", env_file="config/.env", manage="src/manage.py")
    name = "20261204T231748Z"
    filled = standby_request(settings)["predeploy_command"].replace(RELEASE_SLOT, name)
    asked = release_project(settings, posixpath.join(path, "releases", name)).django_script_command()
    assert filled == asked and RELEASE_SLOT not in filled


def test_only_plain_release_names_fill_the_slot():
    assert release_name_ok("20261204T231748Z") and release_name_ok("fleet-1.2_a")
    for name in ("", "a b", "x;rm -rf /", "$(id)", "a/b", "'q'"):
        assert not release_name_ok(name), name
