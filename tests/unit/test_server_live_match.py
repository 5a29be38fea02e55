"""server/live_match.py on a real release tree and a real HTTP health endpoint: a deploy is skipped only when
the live release was built from the same commit, settings and shared files, and answers with that commit; and
the client's digest of the settings."""
import dataclasses
import os

import pytest

from deploytasks import releases
from deploytasks.server.layout import ServerLayout
from deploytasks.server.live_match import deploy_digest, serving_unchanged
from deploytasks.server.releases import save_meta
from deploytasks.settings import Settings
from tests._util import HealthEndpoint

REVISION = "a" * 40


@pytest.fixture
def site():
    """The live site's health URL; it answers with site.revision (REVISION unless a test changes it)."""
    with HealthEndpoint(lambda n: endpoint.revision) as endpoint:
        endpoint.revision = REVISION
        yield endpoint


@pytest.fixture
def live(tmp_path):
    """A server tree whose live release R1 was deployed from REVISION with settings digest "s1"."""
    layout = ServerLayout(str(tmp_path))
    os.makedirs(layout.release("R1"))
    os.makedirs(layout.shared)
    with open(os.path.join(layout.shared, ".env"), "w") as handle:
        handle.write("DEBUG=0\n")
    with open(os.path.join(layout.release("R1"), "REVISION"), "w") as handle:
        handle.write(REVISION + "\n")
    os.symlink("releases/R1", layout.current)
    params = {"settings_digest": "s1", "shared_files": [".env"]}
    save_meta(layout, "R1", {"release": "R1", "status": "live", "deploy_digest": deploy_digest(layout, params)})
    return layout, params


def request(site, params, **more):
    return dict(params, healthcheck=site.url, **more)


def test_the_same_commit_settings_and_shared_files_on_a_healthy_site_are_skipped(live, site):
    layout, params = live
    params = request(site, params)
    assert serving_unchanged(layout, params, REVISION, deploy_digest(layout, params)) == "R1"


def test_again_a_new_commit_or_new_settings_deploy(live, site):
    layout, params = live
    params = request(site, params)
    digest = deploy_digest(layout, params)
    assert serving_unchanged(layout, dict(params, again=True), REVISION, digest) is None
    assert serving_unchanged(layout, params, "b" * 40, digest) is None
    changed = dict(params, settings_digest="s2")
    assert serving_unchanged(layout, changed, REVISION, deploy_digest(layout, changed)) is None


def test_a_changed_shared_file_deploys(live, site):
    layout, params = live
    params = request(site, params)
    with open(os.path.join(layout.shared, ".env"), "a") as handle:
        handle.write("NEW=1\n")
    assert serving_unchanged(layout, params, REVISION, deploy_digest(layout, params)) is None


def test_a_site_that_is_down_or_serves_another_commit_deploys(live, site, tmp_path):
    layout, params = live
    params = request(site, params)
    digest = deploy_digest(layout, params)
    site.revision = "c" * 40
    assert serving_unchanged(layout, params, REVISION, digest) is None
    site.revision = REVISION
    assert serving_unchanged(layout, dict(params, healthcheck=""), REVISION, digest) is None  # nothing proves it
    site.stop()
    assert serving_unchanged(layout, params, REVISION, digest) is None


def test_a_release_deployed_before_digests_were_kept_deploys(live, site):
    layout, params = live
    params = request(site, params)
    save_meta(layout, "R1", {"release": "R1", "status": "live"})
    assert serving_unchanged(layout, params, REVISION, deploy_digest(layout, params)) is None


def test_the_settings_digest_is_the_same_for_equal_settings_and_changes_with_any_key_or_the_version(monkeypatch):
    base = Settings(path="/srv/site", repo="git@example.org:site.git", hooks={"after": {"install": ["echo hi"]}})
    assert releases.settings_digest(base) == releases.settings_digest(dataclasses.replace(base))
    changed = {field.name: releases.settings_digest(dataclasses.replace(base, **{field.name: value}))
               for field, value in ((f, other_value(getattr(base, f.name))) for f in dataclasses.fields(Settings))}
    assert releases.settings_digest(base) not in changed.values(), [k for k, v in changed.items()
                                                                     if v == releases.settings_digest(base)]
    before = releases.settings_digest(base)
    monkeypatch.setattr(releases, "__version__", "0.0.0-other")
    assert releases.settings_digest(base) != before


def other_value(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, list):
        return value + ["other"]
    if isinstance(value, dict):
        return dict(value, other={"x": ["y"]})
    return value + "-other"
