"""The release's project (releases.release_project): the refusal for a missing shared file names its local source."""
from deploytasks.releases import release_project
from deploytasks.settings import Settings


def test_a_missing_shared_file_names_the_configured_source_or_the_default_folder():
    configured = release_project(Settings(path="/srv/app", shared_files=[".env", "credentials.json"],
                                          shared_sources={".env": "deploy/prod/.env"}), "/srv/app/current")
    command = configured.guarded("true")
    assert "copy in deploy/prod/.env beside your fabfile" in command
    assert "copy in deploy/<host>/credentials.json beside your fabfile" in command
