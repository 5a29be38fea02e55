"""The `deploytasks` config section: its one definition (keys, defaults, help), layering, loading, validation."""
import difflib
import os
from dataclasses import MISSING, dataclass, field, fields

from . import config_files
from .hooks import coerce as read_hooks
from .errors import DeployTasksError

KINDS = ("local", "server", "deploy")  # what the loading task needs: a project; + a server path; + something to ship
KEEP_ALL = 1_000_000  # sent to the server for keep_releases = 0 (see releases_kept)


def setting(default, help, coerce=None):
    """One config key: its default, its line in the config reference, and (when the default's type is not
    enough) the function that reads and validates what a user set."""
    metadata = {"help": help, **({"coerce": coerce} if coerce else {})}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class Settings:
    # where the project lives and how it runs (local tasks; on servers, inside each release)
    project: str = setting(".", "directory holding manage.py (local tasks)")
    manage: str = setting("manage.py", "manage script, relative to the project/release")
    python: str = setting("python3", "interpreter that builds venvs and runs the tool's server scripts")
    venv: str = setting(".venv", "local venv, relative to the project (absolute paths allowed)")
    use_venv: bool = setting(True, "false: run with python as is (e.g. in CI or a managed env)")
    requirements: str = setting("requirements.txt", "requirements file (its -r/-c includes count for the hash)")
    local_requirements: str = setting("", "requirements file `inv` installs on this machine (a dev file that includes "
                                          "the production one); empty: `requirements`")
    installer: str = setting("auto", "what builds venvs: auto (uv when found, else pip), uv, pip")
    env_file: str = setting(".env", "sourced (exported) before every manage.py command if it exists")
    database: str = setting("default", "the DATABASES alias to back up / check")
    collectstatic: bool = setting(True, "run collectstatic in setup and deploy")
    hooks: dict = setting({}, "commands before/after steps: {after: {install: [\"manage.py compilemessages\"]}} "
                              "(see Hooks)", coerce=read_hooks)
    undo_on_hook_failure: bool = setting(False, "a hook failing after the switch undoes the deploy (default: "
                                                "reported, the healthy release stays live)")
    # knowing before you ship
    strict_migrations: bool = setting(False, "migration lint findings FAIL check and stop deploys; a rehearsal "
                                             "that cannot run refuses the deploy")
    safe_migrations: list = setting([], "migrations reviewed as safe, exempt from the lint (app.name or app.0004)")
    # backups
    backups: str = setting("backups", "local backup directory (relative to the project)")
    keep_backups: int = setting(10, "backups kept of each kind (yours; each kind of safety backup), locally and on "
                                    "servers; 0 keeps all")
    backup_media: bool = setting(False, "inv backup/restore include MEDIA_ROOT (as --media does)")
    compress_transfers: bool = setting(True, "fab backup/restore send a file that shrinks compressed (zstd); false: "
                                             "as it is (a fast LAN, or no server CPU to spare)")
    offsite: str = setting("", "rclone remote and path for off-site copies, e.g. \"myremote:bucket/mysite\" "
                               "(the remote defined in your rclone.conf)")
    offsite_from: str = setting("local", "where rclone runs for fab: local (this machine, from the downloaded copy) "
                                         "or server (the server, from its own copy)")
    offsite_config: str = setting("", "rclone.conf to use (rclone --config; default: rclone's own) on the side "
                                      "rclone runs")
    backup_offsite: bool = setting(False, "every backup is also copied off-site (as --offsite does)")
    keep_offsite: int = setting(10, "off-site backups kept; 0 keeps all")
    # servers (Fabric tasks)
    path: str = setting("", "absolute deploy directory on the server (required for fab)")
    repo: str = setting("", "git URL the server fetches from (required for fab deploy with strategy mirror)")
    branch: str = setting("main", "what deploy ships without --revision")
    strategy: str = setting("mirror", "mirror: server-side git mirror cache; upload: local git archive uploaded")
    keep_releases: int = setting(5, "releases kept (never the live or previous one); 0 keeps all")
    prune_uv_cache: bool = setting(True, "after old venvs are pruned, remove the server uv cache's packages that no "
                                         "venv uses any more (false: the cache only grows)")
    shared_files: list = setting([".env"], "linked from shared/ into each release when present there")
    shared_sources: dict = setting({}, "local source of each shared file for fab setup/shared.push "
                                       "(default: deploy/<host>/<name>; never the project's own env_file)")
    shared_dirs: list = setting([], "created in shared/ and linked into each release (MEDIA_ROOT's is, always)")
    reload: str = setting("", "command run on the server after the switch (in {path})")
    start: str = setting("", "command that starts the app server when none runs (first deploy, or when reload "
                             "fails), in {path}")
    restart: str = setting("", "command run instead of reload when the release's venv changed (requirements): "
                               "a reload keeps the running interpreter and packages")
    reload_timeout: float = setting(60.0, "seconds reload/start may take before their process group is killed "
                                          "(then the deploy switches back)")
    healthcheck: str = setting("", "URL GET from the server after the reload")
    healthcheck_retries: int = setting(10, "attempts before the release is declared unhealthy")
    healthcheck_delay: float = setting(0.5, "seconds between attempts (the URL is probed every 0.05 s in between; a failed probe is not an attempt)")
    lock_stale_after: int = setting(3600, "seconds after which a held lock is reported as stale")
    accept_new_hosts: bool = setting(False, "trust unknown SSH host keys on first use")
    known_hosts: list = setting(["~/.ssh/known_hosts"], "extra known_hosts files")
    hosts: list = setting([], "the hosts deploy, rollback, releases and backup work on as one fleet when -H names "
                              "none (or names a stage that lists them); see Several servers")
    migrate_host: str = setting("", "with several hosts (fab -H a,b deploy): the one that backs up and migrates the "
                                    "shared database (default: the first)")
    client_timeout: float = setting(60.0, "with several hosts: seconds a host waits hearing nothing from fab (it pings "
                                          "every 2 s) before it finishes or undoes its part alone")
    # stages
    stage: str = setting("", "the stage whose settings apply (default: the one named like the host after -H)")

    @property
    def releases_kept(self) -> int:
        """keep_releases as the server's prune takes it (0 keeps all, as for keep_backups)."""
        return self.keep_releases or KEEP_ALL


def _default(f):
    return f.default_factory() if f.default is MISSING else f.default


DEFAULTS = {f.name: _default(f) for f in fields(Settings)}
HELP = {f.name: f.metadata["help"] for f in fields(Settings)}
COERCE = {f.name: f.metadata["coerce"] for f in fields(Settings) if "coerce" in f.metadata}
# What the task collections configure: every key declared (Invoke maps INVOKE_/FABRIC_DEPLOYTASKS_* env vars only to
# keys it knows), as None so an env var's text reaches _coerce as typed (Invoke would read "false" as True, and
# refuse lists); the defaults above apply where nothing set a key.
# Mappings are declared as {} (Invoke cannot merge a mapping from a config file over None).
COLLECTION_CONFIG = {"deploytasks": {key: {} if isinstance(value, dict) else None for key, value in DEFAULTS.items()}}


def _coerce(key, value, default):
    """Config values from env vars arrive as strings; bring them to the default's type."""
    if key in COERCE:
        return COERCE[key](value)
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


def _plain(value):
    """Invoke's config proxies as plain dicts."""
    if hasattr(value, "items"):
        return {key: _plain(item) for key, item in value.items()}
    return value


def _check_keys(values, prefix="deploytasks.", where=None):
    """Refuse a key no setting has, with the closest one; where(key): the file that set it, or None."""
    known = set(DEFAULTS)
    for key in values:
        if key not in known:
            hint = difflib.get_close_matches(key, known, n=1)
            suggestion = f" (did you mean {prefix}{hint[0]}?)" if hint else ""
            source = where(key) if where else None
            origin = f", set in {source}" if source else ""
            raise DeployTasksError(f"unknown config key {prefix}{key}{suggestion}{origin}")


def _check_env_keys(config):
    """Refuse an INVOKE_/FABRIC_DEPLOYTASKS_ variable no setting has: Invoke maps only the keys it knows, so a typo
    there was dropped without a word."""
    prefix = ((getattr(config, "env_prefix", None) or getattr(config, "prefix", None) or "invoke").upper()
              + "_DEPLOYTASKS_")
    for name in os.environ:
        if name.startswith(prefix) and name[len(prefix):].lower() not in DEFAULTS:
            _check_keys([name[len(prefix):].lower()], where=lambda key: f"the environment variable {name}")


def _source_of(config):
    """where(key) for _check_keys: the pyproject.toml/deploytasks.yaml that sets it, else Invoke's/Fabric's config."""
    def where(key):
        return (config_files.setting_from(config_files.project_dir(config), key)
                or "the Invoke/Fabric config (invoke.yaml, fabric.yaml, -f FILE or an INVOKE_/FABRIC_DEPLOYTASKS_ "
                   "variable)")
    return where


def _layers(config):
    """(collection values, config file values, Invoke/Fabric values, stages): the stages taken out of the others,
    a stage given as a list of hosts read as {hosts: [...]}."""
    merged = _plain(config.get("deploytasks", None) or {})  # the collection's defaults under Invoke's own layers
    above = config.clone()
    above.load_collection({})  # the same layers without the collection's: what the user set through Invoke/Fabric
    explicit = _plain(above.get("deploytasks", None) or {})
    from_file = config_files.section(config_files.project_dir(config))
    for values in (merged, explicit, from_file):
        if not isinstance(values, dict):
            raise DeployTasksError("the deploytasks config section must be a mapping of settings")
    layers = [_plain(from_file.pop("stages", None) or {}), _plain(explicit.pop("stages", None) or {})]
    merged.pop("stages", None)
    for layer in layers:
        if not isinstance(layer, dict):
            raise DeployTasksError("deploytasks.stages must map stage names to tables of settings")
        for name, section in layer.items():
            if isinstance(section, (list, tuple)):  # stages: {prod: [web1, web2]}
                layer[name] = {"hosts": list(section)}
            elif not isinstance(section, dict):
                raise DeployTasksError(f"deploytasks.stages.{name} must be a table of settings or a list of hosts")
    stages = {name: {**layers[0].get(name, {}), **layers[1].get(name, {})} for name in {*layers[0], *layers[1]}}
    return merged, from_file, explicit, stages


def stage_hosts(config, name) -> list:
    """The hosts the stage `name` lists (empty when there is no such stage, or it lists none)."""
    stage = _layers(config)[3].get(name) or {}
    return _coerce("hosts", stage["hosts"], []) if "hosts" in stage else []


def layered(config, host=None, stage=None) -> dict:
    """The deploytasks values, lowest precedence first: the defaults, the config file (pyproject.toml's
    [tool.deploytasks], deploytasks.yaml), its stage, then everything Invoke/Fabric read themselves
    (invoke.yaml/fabric.yaml, ~/.invoke.yaml, -f FILE, INVOKE_/FABRIC_DEPLOYTASKS_* env vars). The stage is
    `stage` (a fleet's), else the `stage` key, else the one named like the host; a host that the selected stage
    lists in its `hosts` also gets the stage named like it, on top."""
    merged, from_file, explicit, stages = _layers(config)
    name = stage or {**merged, **from_file, **explicit}.get("stage") or ""
    if name and name not in stages:
        known = ", ".join(sorted(stages)) or "none defined"
        raise DeployTasksError(f"deploytasks.stage {name!r} is not a stage in deploytasks.stages ({known})")
    if not name and host in stages:
        name = host
    selected = stages.get(name, {})
    _check_keys(selected, prefix=f"deploytasks.stages.{name}.")
    own = {}
    if host and host != name and host in stages and host in _coerce("hosts", selected.get("hosts", []), []):
        own = stages[host]
        _check_keys(own, prefix=f"deploytasks.stages.{host}.")
        own = {key: value for key, value in own.items() if key != "hosts"}
    merged = {key: value for key, value in merged.items() if value is not None}  # None: declared, not set
    return {**merged, **from_file, **selected, **own, **explicit, **({"stage": name} if name else {})}


def load(c, kind="local", stage=None) -> Settings:
    """Read and validate the `deploytasks` settings for a task of `kind` (see KINDS); `stage`: the fleet's."""
    values = layered(c.config, host=getattr(c, "original_host", None), stage=stage)
    _check_keys(values, where=_source_of(c.config))
    _check_env_keys(c.config)
    coerced = {key: _coerce(key, value, DEFAULTS[key]) for key, value in values.items()}
    if coerced.get("path", "").startswith("/"):
        coerced["path"] = coerced["path"].rstrip("/")  # "/srv/site/" and "/srv/site" are one place; "/" is none
    project = os.path.expanduser(coerced.get("project", DEFAULTS["project"]))
    # relative to where Invoke/Fabric found tasks.py or the fabfile (as it searches upward), not to the directory
    # the task was typed in
    coerced["project"] = os.path.normpath(os.path.join(config_files.project_dir(c.config), project))
    settings = Settings(**coerced)
    validate(settings, kind)
    return settings


MIN_CLIENT_TIMEOUT = 3.0


def validate(settings: Settings, kind="local") -> None:
    """The checks a task of `kind` needs before it starts (raises DeployTasksError)."""
    if settings.strategy not in ("mirror", "upload"):
        raise DeployTasksError(f"deploytasks.strategy must be 'mirror' or 'upload', not {settings.strategy!r}")
    if settings.installer not in ("auto", "uv", "pip"):
        raise DeployTasksError(f"deploytasks.installer must be 'auto', 'uv' or 'pip', not {settings.installer!r}")
    if settings.client_timeout < MIN_CLIENT_TIMEOUT:
        raise DeployTasksError(f"deploytasks.client_timeout must be at least {MIN_CLIENT_TIMEOUT:g} seconds (fab pings a "
                               f"waiting host every 2 s), not {settings.client_timeout:g}")
    if settings.offsite_from not in ("local", "server"):
        raise DeployTasksError(f"deploytasks.offsite_from must be 'local' or 'server', not {settings.offsite_from!r}")
    if settings.offsite:
        from .offsite import check_remote

        check_remote(settings.offsite)
    if kind in ("server", "deploy") and not settings.path.startswith("/"):
        raise DeployTasksError("set deploytasks.path to the absolute deploy directory on the server (e.g. /srv/mysite)")
    if kind == "deploy" and settings.strategy == "mirror" and not settings.repo:
        raise DeployTasksError("set deploytasks.repo to the git URL the server clones from (or strategy: upload)")


def local_root(settings: Settings) -> str:
    """The absolute directory of the local project (the one holding manage.py)."""
    return os.path.abspath(os.path.expanduser(settings.project))
