"""The fast tier: pure logic on temp files and in-process Invoke/Fabric configs; no sshd, no venv, no network."""
import os

import fabric
import invoke
import pytest

from deploytasks.local import ns as local_ns
from deploytasks.remote import ns as remote_ns


class Project:
    """A directory holding a tasks file, and the config Invoke/Fabric would build for a task run from it."""

    def __init__(self, root, monkeypatch):
        self.root = root
        self.monkeypatch = monkeypatch
        for name in [name for name in os.environ if name.startswith(("INVOKE_", "FABRIC_"))]:
            monkeypatch.delenv(name)

    def write(self, name, text):
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def config(self, tool="inv", runtime=None, env=None):
        """What `inv`/`fab` load before a task runs: project file, collection config, env vars, -f file."""
        for name, value in (env or {}).items():
            self.monkeypatch.setenv(name, value)
        config_class, ns = (invoke.Config, local_ns) if tool == "inv" else (fabric.Config, remote_ns)
        config = config_class(lazy=True, runtime_path=str(runtime) if runtime else None)
        config.set_project_location(str(self.root))
        config.load_project()
        if runtime:
            config.load_runtime()
        config.load_collection(ns.configuration())
        config.load_shell_env()
        return config

    def context(self, tool="inv", host=None, **options):
        config = self.config(tool, **options)
        if tool == "inv":
            return invoke.Context(config)
        return fabric.Connection(host or "prod", config=config)


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return Project(tmp_path, monkeypatch)
