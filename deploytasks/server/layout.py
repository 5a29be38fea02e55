"""The names of a deploy path's parts on a server, in one place."""
import os
from dataclasses import dataclass

RELEASE_META = ".deploytasks-release.json"


@dataclass(frozen=True)
class ServerLayout:
    path: str

    def _join(self, *parts):
        return os.path.join(self.path, *parts)

    @property
    def releases(self):
        return self._join("releases")

    @property
    def shared(self):
        return self._join("shared")

    @property
    def venvs(self):
        return self._join("shared", "venvs")

    @property
    def backups(self):
        return self._join("backups")

    @property
    def uploaded(self):
        return self._join("backups", "uploaded")

    @property
    def current(self):
        return self._join("current")

    @property
    def lock(self):
        return self._join(".deploy-lock")

    @property
    def log(self):
        return self._join("releases.log")

    @property
    def mirror(self):
        return self._join("repo")

    @property
    def tools(self):
        """Where the client keeps this package's bundles (<hash>.pyz)."""
        return self._join(".deploytasks")

    def release(self, name):
        return self._join("releases", name)
