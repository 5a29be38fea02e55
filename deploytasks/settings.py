"""The `deploytasks` config section: defaults, loading and validation."""
import difflib
import os
from dataclasses import dataclass, field, fields

from .errors import DeployTasksError

DEFAULTS = {
    # where the project lives and how it runs (local tasks; on servers, inside each release)
    "project": ".",
    "manage": "manage.py",
    "python": "python3",
    "venv": ".venv",
    "use_venv": True,
    "requirements": "requirements.txt",
    "env_file": ".env",
    "database": "default",
    "collectstatic": True,
    # backups
    "backups": "backups",
    "keep_backups": 10,
    # servers (Fabric tasks)
    "path": "",
    "repo": "",
    "branch": "main",
    "strategy": "mirror",
    "keep_releases": 5,
    "shared_files": [".env"],
    "shared_sources": {},  # {"name in shared/": "local file"}; default: deploy/<host>/<name>, never the project's own
    "shared_dirs": ["media"],
    "reload": "",
    "healthcheck": "",
    "healthcheck_retries": 10,
    "healthcheck_delay": 0.5,
    "lock_stale_after": 3600,
    "accept_new_hosts": False,
    "known_hosts": ["~/.ssh/known_hosts"],
}


@dataclass
class Settings:
    project: str = DEFAULTS["project"]
    manage: str = DEFAULTS["manage"]
    python: str = DEFAULTS["python"]
    venv: str = DEFAULTS["venv"]
    use_venv: bool = DEFAULTS["use_venv"]
    requirements: str = DEFAULTS["requirements"]
    env_file: str = DEFAULTS["env_file"]
    database: str = DEFAULTS["database"]
    collectstatic: bool = DEFAULTS["collectstatic"]
    backups: str = DEFAULTS["backups"]
    keep_backups: int = DEFAULTS["keep_backups"]
    path: str = DEFAULTS["path"]
    repo: str = DEFAULTS["repo"]
    branch: str = DEFAULTS["branch"]
    strategy: str = DEFAULTS["strategy"]
    keep_releases: int = DEFAULTS["keep_releases"]
    shared_files: list = field(default_factory=lambda: list(DEFAULTS["shared_files"]))
    shared_sources: dict = field(default_factory=dict)
    shared_dirs: list = field(default_factory=lambda: list(DEFAULTS["shared_dirs"]))
    reload: str = DEFAULTS["reload"]
    healthcheck: str = DEFAULTS["healthcheck"]
    healthcheck_retries: int = DEFAULTS["healthcheck_retries"]
    healthcheck_delay: float = DEFAULTS["healthcheck_delay"]
    lock_stale_after: int = DEFAULTS["lock_stale_after"]
    accept_new_hosts: bool = DEFAULTS["accept_new_hosts"]
    known_hosts: list = field(default_factory=lambda: list(DEFAULTS["known_hosts"]))


def _coerce(key, value, default):
    """Config values from env vars arrive as strings; bring them to the default's type."""
    if isinstance(default, bool):
        if isinstance(value, str):
            lowered = value.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off", ""):
                return False
        if isinstance(value, bool):
            return value
        raise DeployTasksError(f"deploytasks.{key} must be true or false, not {value!r}")
    if isinstance(default, (int, float)):
        try:
            number = type(default)(value)
        except (TypeError, ValueError):
            raise DeployTasksError(f"deploytasks.{key} must be a number, not {value!r}") from None
        if number < 0:
            raise DeployTasksError(f"deploytasks.{key} must not be negative, not {value!r}")
        return number
    if isinstance(default, list):
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        if isinstance(value, (list, tuple)):
            return [str(item) for item in value]
        raise DeployTasksError(f"deploytasks.{key} must be a list, not {value!r}")
    if isinstance(default, dict):
        if hasattr(value, "items"):
            return {str(name): str(path) for name, path in value.items()}
        raise DeployTasksError(f"deploytasks.{key} must be a mapping, not {value!r}")
    if value is None:
        return ""
    return str(value)


def load(c) -> Settings:
    """Read and validate the `deploytasks` section of the Invoke/Fabric config."""
    section = c.config.get("deploytasks", None) or {}
    values = dict(section.items()) if hasattr(section, "items") else {}
    known = {f.name for f in fields(Settings)}
    for key in values:
        if key not in known:
            hint = difflib.get_close_matches(key, known, n=1)
            suggestion = f" (did you mean deploytasks.{hint[0]}?)" if hint else ""
            raise DeployTasksError(f"unknown config key deploytasks.{key}{suggestion}")
    settings = Settings(**{key: _coerce(key, value, DEFAULTS[key]) for key, value in values.items()})
    if settings.strategy not in ("mirror", "upload"):
        raise DeployTasksError(f"deploytasks.strategy must be 'mirror' or 'upload', not {settings.strategy!r}")
    return settings


def local_root(settings: Settings) -> str:
    """The absolute directory of the local project (the one holding manage.py)."""
    return os.path.abspath(os.path.expanduser(settings.project))
