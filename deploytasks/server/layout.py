"""The names of a deploy path's parts on a server, in one place."""
import os

RELEASE_META = ".deploytasks-release.json"


class ServerLayout:
    """A plain class, not a dataclass: every server command imports this, and dataclasses (inspect, ast, dis and
    tokenize with it) was the largest part of the deploy command's imports."""

    __slots__ = ("path",)

    def __init__(self, path: str):
        self.path = path

    def __eq__(self, other):
        return isinstance(other, ServerLayout) and other.path == self.path

    def __hash__(self):
        return hash(self.path)

    def __repr__(self):
        return "ServerLayout(path=%r)" % self.path

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
