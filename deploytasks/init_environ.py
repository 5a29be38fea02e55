"""init's look at the environment variables the settings read, statically (no import): the names passed to
os.environ[...], os.environ.get(), os.getenv(), django-environ's env() / env.bool() / env.list() / env.db() …,
python-decouple's config(), dj_database_url.config() and the project's own env_*() / get_env*() helpers. Not every quoted upper-case string:
a LOGGING `"level": "DEBUG"` names no environment variable. For each: whether it is read without a default (the
settings raise when it is unset) and the setting whose assignment reads it (SECRET_KEY = env("DJANGO_SECRET_KEY"))."""
import ast
import re
from dataclasses import dataclass

VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
HELPER = re.compile(r"(get_?)?env(iron)?_\w+|get_?env(iron)?", re.I)  # env_bool(), get_env_variable(), getenv()
NOT_READERS = {"read_env", "smart_cast", "parse_value", "db_url_config", "cache_url_config", "email_url_config",
               "search_url_config", "parse"}  # django-environ's methods that take no variable's name
DATABASE_READERS = {"db", "db_url"}  # django-environ's env.db() with no name reads DATABASE_URL


@dataclass(frozen=True)
class Read:
    name: str  # the environment variable
    required: bool  # read without a default: the settings raise when it is unset
    setting: str = ""  # the setting whose assignment reads it (SECRET_KEY, DATABASES), else ""


def reads_in(source) -> list:
    """The environment variables a settings file's source reads ([] when it does not parse)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    instances, schemed = _environ_instances(tree)
    owners = _settings_by_node(tree)
    found = []
    for node in ast.walk(tree):
        read = _read(node, instances)
        if read:
            found.append(Read(read[0], read[1] and read[0] not in schemed, owners.get(id(node), "")))
    return found


def name_for(setting, reads) -> str:
    """The environment variable `setting` (SECRET_KEY, DEBUG, ALLOWED_HOSTS, DATABASE_URL) is read from: one named
    like it (SECRET_KEY, DJANGO_SECRET_KEY) read in its own assignment first (DATABASES' for DATABASE_URL), else one
    with its very name, else one named like it read outside any assignment (SENTRY_DEBUG = env("SENTRY_DEBUG") is
    not DEBUG's); "" when the settings read none. `reads` in order of preference (production's files first)."""
    owners = {setting, "DATABASES"} if setting == "DATABASE_URL" else {setting}
    alike = [read for read in reads if read.name == setting or read.name.endswith("_" + setting)
             or setting == "DATABASE_URL" and read.setting == "DATABASES" and read.name.endswith("URL")]
    for group in ([read for read in alike if read.setting in owners], [read for read in alike if read.name == setting],
                  [read for read in alike if not read.setting]):
        if group:
            return group[0].name
    return ""


def _environ_instances(tree) -> tuple:
    """The names django-environ's reader goes by (`env`, and any name assigned `environ.Env(...)`), and the
    variables that Env(...) gives a default (`environ.Env(DEBUG=(bool, False))`)."""
    names, schemed = {"env"}, set()
    for node in ast.walk(tree):
        if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
                and _call_name(node.value.func) == "Env"):
            names.update(target.id for target in node.targets if isinstance(target, ast.Name))
            schemed.update(word.arg for word in node.value.keywords
                           if word.arg and isinstance(word.value, ast.Tuple) and len(word.value.elts) == 2)
    return names, schemed


def _settings_by_node(tree) -> dict:
    """{id(node): SETTING} for every node inside the value assigned to SETTING (or to SETTING[...])."""
    owners = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)) and node.value is not None:
            target = node.targets[0] if isinstance(node, ast.Assign) else node.target
            while isinstance(target, (ast.Subscript, ast.Attribute)):
                target = target.value
            if isinstance(target, ast.Name):
                for inner in ast.walk(node.value):
                    owners.setdefault(id(inner), target.id)
    return owners


def _read(node, instances):
    """(NAME, required) when `node` reads an environment variable, else None."""
    if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and _is_environ(node.value):
        name = _variable(node.slice)
        return (name, True) if name else None
    if not isinstance(node, ast.Call):
        return None
    if _is_dj_database_url_config(node.func):  # DATABASE_URL, or the variable its env= names; {} when unset
        named = next((word.value for word in node.keywords if word.arg == "env"), None)
        name = "DATABASE_URL" if named is None else _variable(named)
        return (name, False) if name else None
    position = _default_position(node.func, instances)
    if position is None:
        return None
    name = _variable(node.args[0]) if node.args else (
        "DATABASE_URL" if _call_name(node.func) in DATABASE_READERS and position == 1 else "")
    if not name:
        return None
    defaulted = position < 0 or len(node.args) > position or any(word.arg == "default" for word in node.keywords)
    return name, not defaulted


def _default_position(func, instances):
    """Where a reader's default goes among its positional arguments: 2 for django-environ's env() and
    env.get_value(), 1 for its typed readers (env.bool() …) and decouple's config(); -1 for readers that never
    raise (os.environ.get(), os.getenv()) or do as the project wrote them (env_bool()); None: not a reader."""
    if isinstance(func, ast.Name):
        if func.id in instances:
            return 2
        if func.id == "config":
            return 1
        return -1 if HELPER.fullmatch(func.id) else None
    if not isinstance(func, ast.Attribute):
        return None
    if isinstance(func.value, ast.Name) and func.value.id in instances:
        return None if func.attr in NOT_READERS else 2 if func.attr == "get_value" else 1
    if func.attr == "get" and _is_environ(func.value):
        return -1
    if func.attr == "config" and isinstance(func.value, ast.Name) and func.value.id == "decouple":
        return 1
    return -1 if HELPER.fullmatch(func.attr) else None


def _is_dj_database_url_config(func) -> bool:
    return (isinstance(func, ast.Attribute) and func.attr == "config" and isinstance(func.value, ast.Name)
            and func.value.id == "dj_database_url")


def _is_environ(node) -> bool:
    """os.environ, or environ imported from os."""
    return (isinstance(node, ast.Name) and node.id == "environ"
            or isinstance(node, ast.Attribute) and node.attr == "environ" and isinstance(node.value, ast.Name)
            and node.value.id == "os")


def _variable(node) -> str:
    """A string constant that can name an environment variable, else ""."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and VARIABLE.fullmatch(node.value):
        return node.value
    return ""


def _call_name(func) -> str:
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
