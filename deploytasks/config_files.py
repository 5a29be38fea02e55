"""The one config file both `inv` and `fab` read: `[tool.deploytasks]` in pyproject.toml and/or deploytasks.yaml."""
import os
import sys

from invoke.util import yaml

from .errors import DeployTasksError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

YAML_NAMES = ("deploytasks.yaml", "deploytasks.yml")


def project_dir(config) -> str:
    """Where Invoke/Fabric found the tasks file or fabfile (the directory it reads invoke.yaml/fabric.yaml from);
    the current directory when there is none."""
    # Invoke keeps it in Config._project_prefix (set_project_location) and offers no public getter.
    prefix = getattr(config, "_project_prefix", None)
    return os.path.abspath(prefix) if prefix else os.getcwd()


def find(start) -> list:
    """The config files of the nearest directory, from `start` upward, holding pyproject.toml or deploytasks.yaml:
    lowest precedence first."""
    directory = os.path.abspath(start)
    while True:
        found = [os.path.join(directory, name) for name in ("pyproject.toml", *YAML_NAMES)
                 if os.path.isfile(os.path.join(directory, name))]
        if found:
            return found
        parent = os.path.dirname(directory)
        if parent == directory:
            return []
        directory = parent


def read(path) -> dict:
    """The deploytasks section of one file ({} when it has none)."""
    try:
        if path.endswith(".toml"):
            with open(path, "rb") as handle:
                section = tomllib.load(handle).get("tool", {}).get("deploytasks", {})
        else:
            with open(path, encoding="utf-8") as handle:
                document = yaml.safe_load(handle) or {}
            section = document.get("deploytasks", document) if isinstance(document, dict) else document
    except (OSError, ValueError, yaml.YAMLError) as exc:  # tomllib.TOMLDecodeError is a ValueError
        detail = " ".join(str(exc).split())
        raise DeployTasksError(f"cannot read {path}: {detail}") from None
    if not isinstance(section, dict):
        where = "[tool.deploytasks]" if path.endswith(".toml") else "deploytasks"
        raise DeployTasksError(f"{where} in {path} must be a table of settings")
    return section


def section(start) -> dict:
    """The deploytasks settings from the config files found from `start` upward (deploytasks.yaml over pyproject)."""
    merged = {}
    for path in find(start):
        for key, value in read(path).items():
            if key == "stages" and isinstance(value, dict) and isinstance(merged.get("stages"), dict):
                value = {**merged["stages"], **value}
            merged[key] = value
    return merged


def setting_from(start, key):
    """The config file found from `start` upward whose deploytasks section sets `key` (the one that wins), or None."""
    found = [path for path in find(start) if key in read(path)]
    return found[-1] if found else None
