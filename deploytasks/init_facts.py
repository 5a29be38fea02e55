"""What `deploytasks init` can learn about a Django project: from its settings run with the project's own Python
(manage.py's set-up, no app loading), else read statically; plus its requirements file and git remote."""
import ast
import glob
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field

from .errors import DeployTasksError
from .init_environ import name_for, reads_in
from .init_urls import health_path, module_file
from .server.uv_lock import LOCK_NAME, packages

MARK = "@@DEPLOYTASKS-INIT@@"
PAGE_APPS = {"wagtail", "wagtail.core", "cms"}  # apps whose pages are served from the site's root
# manage.py run for its set-up (DJANGO_SETTINGS_MODULE, sys.path, any .env loader) with execute_from_command_line
# replaced by a report of the settings init needs. The SECRET_KEY itself never leaves: only whether it is Django's
# insecure placeholder.
INTROSPECT = f"""
import json, os, runpy, sys
import django
import django.core.management as management
found = {{}}
def report(argv=None):
    from django.conf import settings
    database = settings.DATABASES.get("default", {{}})
    found.update(
        settings_module=os.environ.get("DJANGO_SETTINGS_MODULE", ""),
        engine=str(database.get("ENGINE", "")), db_name=str(database.get("NAME", "") or ""),
        media_root=str(settings.MEDIA_ROOT or ""), static_root=str(settings.STATIC_ROOT or ""),
        wsgi=str(getattr(settings, "WSGI_APPLICATION", "") or ""), apps=[str(app) for app in settings.INSTALLED_APPS],
        debug=bool(settings.DEBUG), insecure_secret=str(settings.SECRET_KEY).startswith("django-insecure-"),
        django=django.get_version(), urlconf=str(getattr(settings, "ROOT_URLCONF", "") or ""),
        sys_path=[os.path.abspath(path) for path in sys.path],
    )
management.execute_from_command_line = report
sys.argv = ["manage.py"]
runpy.run_path("manage.py", run_name="__main__")
print({MARK!r} + json.dumps(found))
"""
DRIVERS = {"postgresql": ("psycopg", "psycopg2", "psycopg2-binary", "psycopg-binary"),
           "mysql": ("mysqlclient", "pymysql")}
SKIP_REQUIREMENTS = re.compile(r"dev|test|local|lint|doc|ci\b|typing", re.I)
VENVS = (".venv", "venv", "env")  # where a project's own venv is
NO_DJANGO = "No module named 'django'"  # a Python's last stderr line when it lacks Django
ENV_SETTINGS = ("SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "DATABASE_URL")  # what production's env file has values for


@dataclass
class Facts:
    root: str
    name: str = ""  # the settings package's top-level name (mysite)
    settings_module: str = ""
    settings_file: str = ""
    how: str = ""  # how the settings were read
    engine: str = ""  # django.db.backends.sqlite3 …
    db_name: str = ""
    media_root: str = ""
    static_root: str = ""
    wsgi: str = ""  # mysite.wsgi:application
    import_roots: list = field(default_factory=lambda: [""])  # the project's directories on sys.path ("src")
    admin: bool = False
    pages_at_root: bool = False  # a CMS (Wagtail, django CMS) serves its pages from `/`: the health check asks it
    driver_vendor: str = ""  # the engine the requirements' database driver is for, when the settings did not say
    urlconf: str = ""  # ROOT_URLCONF
    health: str = ""  # a health-check route the URLconf has (init_urls): the health check asks it
    debug: object = None  # True/False, None: unknown
    insecure_secret: object = None
    env_names: set = field(default_factory=set)  # environment variables the settings package reads
    env_for: dict = field(default_factory=dict)  # {SECRET_KEY: DJANGO_SECRET_KEY, …}: ENV_SETTINGS' variables
    env_required: list = field(default_factory=list)  # read without a default by production's settings, no value here
    requirements: str = ""
    other_requirements: list = field(default_factory=list)
    local_requirements: str = ""  # a dev file beside a production one: what `inv setup` installs
    gunicorn: bool = False  # gunicorn is in the requirements
    whitenoise: bool = False  # whitenoise is: gunicorn then serves the static files
    repo: str = ""
    branch: str = ""
    venv: str = ".venv"
    unknown: list = field(default_factory=list)  # what could not be inferred, one phrase each
    warnings: list = field(default_factory=list)  # what to fix before going live

    @property
    def vendor(self) -> str:
        return self.engine.rsplit(".", 1)[-1] if self.engine else ""

    def relative(self, path) -> str:
        """`path` relative to the project when inside it, else ""."""
        if not path:
            return ""
        absolute = os.path.normpath(os.path.join(self.root, path))
        return os.path.relpath(absolute, self.root) if absolute.startswith(self.root + os.sep) else ""


def gather(root) -> Facts:
    """Everything init infers about the Django project in `root` (raises DeployTasksError when it is not one)."""
    root = os.path.abspath(root)
    if not os.path.isdir(root):
        raise DeployTasksError(f"{root} is not a directory")
    manage = os.path.join(root, "manage.py")
    try:
        with open(manage, encoding="utf-8") as handle:
            manage_text = handle.read()
    except OSError:
        raise DeployTasksError(f"{root} is not a Django project (no manage.py): run init in the directory holding "
                               "manage.py") from None
    if "django" not in manage_text.lower():
        raise DeployTasksError(f"{manage} does not look like Django's manage.py (it never mentions django)")
    facts = Facts(root=root)
    facts.settings_module = settings_module_in(manage_text)
    facts.import_roots = import_roots_in(root, manage_text)
    if not _introspect(facts):
        _read_statically(facts)
    facts.health = health_path(root, facts.urlconf, facts.import_roots)
    _settings_source(facts)
    _requirements(facts)
    _git(facts)
    for venv in VENVS:
        if os.path.isfile(os.path.join(root, venv, "bin", "python")):
            facts.venv = venv
            break
    _judge(facts)
    return facts


def settings_module_in(manage_text) -> str:
    """The DJANGO_SETTINGS_MODULE manage.py sets by default (`os.environ.setdefault(...)`), worked out as manage.py
    would: strings, `+` and f-strings of them, and `os.environ.get(NAME, DEFAULT)` / `os.getenv` (this environment's
    value, else the default); "" when it is not written that way or is no dotted module name."""
    try:
        tree = ast.parse(manage_text)
    except SyntaxError:
        return ""
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "setdefault"
                and len(node.args) == 2 and _text(node.args[0]) == "DJANGO_SETTINGS_MODULE"):
            value = _text(node.args[1])
            return value if isinstance(value, str) and re.match(r"^\w+(\.\w+)*$", value) else ""
    return ""


def _text(node):
    """A string expression's value when it can be known without running it, else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _text(node.left), _text(node.right)
        return left + right if left is not None and right is not None else None
    if isinstance(node, ast.JoinedStr):
        parts = [_text(value.value if isinstance(value, ast.FormattedValue) else value) for value in node.values]
        return "".join(parts) if all(part is not None for part in parts) else None
    if isinstance(node, ast.Call) and node.args and len(node.args) <= 2 and _is_environment_get(node.func):
        name, default = _text(node.args[0]), _text(node.args[1]) if len(node.args) == 2 else None
        return os.environ.get(name, default) if name is not None else None
    return None


def _is_environment_get(func) -> bool:
    """os.environ.get, environ.get, os.getenv, getenv."""
    if isinstance(func, ast.Name):
        return func.id == "getenv"
    if not isinstance(func, ast.Attribute):
        return False
    if func.attr == "getenv":
        return True
    owner = func.value
    return func.attr == "get" and (isinstance(owner, ast.Name) and owner.id == "environ"
                                   or isinstance(owner, ast.Attribute) and owner.attr == "environ")


def _pythons(root):
    """The project's own interpreters first (its venv, the active one), then the one running init."""
    seen = []
    for candidate in (os.path.join(root, ".venv", "bin", "python"), os.path.join(root, "venv", "bin", "python"),
                      os.path.join(os.environ.get("VIRTUAL_ENV", "/nonexistent"), "bin", "python"), sys.executable):
        if candidate and os.path.isfile(candidate) and candidate not in seen:
            seen.append(candidate)
    return seen


def _introspect(facts) -> bool:
    """Facts from the settings run with the project's Python (True), else why not in facts.unknown (False)."""
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    problems = []  # (reason, whether that Python has Django)
    for python in _pythons(facts.root):
        try:
            done = subprocess.run([python, "-c", INTROSPECT], cwd=facts.root, env=env, stdin=subprocess.DEVNULL,
                                  capture_output=True, text=True, timeout=120)
        except OSError as exc:
            problems.append((f"{python}: {exc}", False))
            continue
        except subprocess.TimeoutExpired as exc:  # it ran the settings that long: it has Django
            problems.append((f"{python}: {exc}", True))
            continue
        answer = [line for line in done.stdout.splitlines() if line.startswith(MARK)]
        found = json.loads(answer[-1][len(MARK):]) if done.returncode == 0 and answer else {}
        if found:
            _introspected(facts, python, found)
            return True
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        reason = (lines[-1].strip() if lines else f"exit {done.returncode}" if done.returncode
                  else "manage.py never called execute_from_command_line")
        problems.append((f"{python}: {reason}", NO_DJANGO not in reason))
    facts.unknown.append(f"could not run the settings ({_most_useful(problems)}); read them statically instead")
    return False


def _introspected(facts, python, found):
    """The facts INTROSPECT reported."""
    facts.settings_module = found["settings_module"] or facts.settings_module
    facts.engine, facts.db_name = found["engine"], found["db_name"]
    facts.media_root, facts.static_root = found["media_root"], found["static_root"]
    facts.wsgi = found["wsgi"]
    facts.admin = "django.contrib.admin" in found["apps"]
    facts.pages_at_root = bool(PAGE_APPS & set(found["apps"]))
    facts.debug, facts.insecure_secret = found["debug"], found["insecure_secret"]
    facts.urlconf = found.get("urlconf", "")
    facts.import_roots = project_paths(facts.root, found.get("sys_path", []))
    facts.how = f"settings introspected with {python} (Django {found['django']})"


def _most_useful(problems) -> str:
    """Why the settings could not run: the reason of the first Python tried that has Django (the project's own,
    where the settings' real problem shows), else the first one's."""
    with_django = [reason for reason, has_django in problems if has_django]
    return next(iter(with_django or [reason for reason, _ in problems]), "no Python found")


def _settings_path(facts) -> str:
    return module_file(facts.root, facts.settings_module, facts.import_roots)


def project_paths(root, paths) -> list:
    """The directories of `paths` (sys.path entries) inside the project, relative to it in their order ("" for the
    project itself, "src" for a src/ layout), without its venvs; the project itself always among them."""
    found = []
    for path in paths:
        relative = os.path.relpath(os.path.join(root, path), root)
        parts = [] if relative == os.curdir else relative.split(os.sep)
        if parts[:1] == [os.pardir] or (parts and parts[0] in VENVS) or {"site-packages", "dist-packages"} & set(parts):
            continue
        where = os.sep.join(parts)
        if where not in found and re.fullmatch(r"[\w./-]*", where) and os.path.isdir(os.path.join(root, where)):
            found.append(where)
    return found if "" in found else found + [""]


def import_roots_in(root, manage_text) -> list:
    """The project's directories manage.py puts on sys.path (`sys.path.insert(0, str(BASE_DIR / "src"))`, read
    statically: a string in the call naming a directory of the project), in sys.path's order, then the project."""
    try:
        tree = ast.parse(manage_text)
    except SyntaxError:
        return [""]
    first, last = [], []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args
                and node.func.attr in ("insert", "append") and ast.unparse(node.func.value) == "sys.path"):
            continue
        named = [inner.value.strip("/") for inner in ast.walk(node.args[-1])
                 if isinstance(inner, ast.Constant) and isinstance(inner.value, str) and inner.value.strip("/")]
        (first if node.func.attr == "insert" else last).extend(named)
    return project_paths(root, first + [""] + last)


def _literal(node, base, values, seen=frozenset()):
    """A settings value written as a string, BASE_DIR / "x", os.path.join(BASE_DIR, "x"), str(…), or a name
    assigned one (APPS_DIR = BASE_DIR / "myshop"); else None. `values`: the settings' assignments."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (str, bool)):
        return node.value
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "str" and len(node.args) == 1:
        return _literal(node.args[0], base, values, seen)
    if isinstance(node, ast.Name):
        return _named(node.id, base, values, seen)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        left, right = _literal(node.left, base, values, seen), _literal(node.right, base, values, seen)
        return os.path.join(left, right) if isinstance(left, str) and isinstance(right, str) else None
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "join" and node.args:
        parts = [_literal(arg, base, values, seen) for arg in node.args]
        return os.path.join(*parts) if all(isinstance(part, str) for part in parts) else None
    return None


def _named(name, base, values, seen):
    """What a name in a settings value stands for: what its assignment gives (APPS_DIR = BASE_DIR / "myshop"); the
    project for BASE_DIR and for a *DIR computed from __file__ (Path(__file__).resolve().parent.parent); else None,
    no guess (APPS_DIR = ROOT_DIR.path("myshop"), a name imported)."""
    value = values.get(name)
    if value is None or name in seen:
        return base if name == "BASE_DIR" and value is None else None
    found = _literal(value, base, values, seen | {name})
    if found is not None:
        return found
    from_file = any(isinstance(inner, ast.Name) and inner.id == "__file__" for inner in ast.walk(value))
    return base if name.endswith("DIR") and from_file else None


def _read_statically(facts):
    path = _settings_path(facts) if facts.settings_module else ""
    if not path:
        facts.unknown.append("the settings module (no DJANGO_SETTINGS_MODULE default in manage.py, or its file is "
                             "missing)")
        return
    try:
        with open(path, encoding="utf-8") as handle:
            tree = ast.parse(handle.read(), path)
    except (OSError, SyntaxError, ValueError) as exc:
        facts.unknown.append(f"the settings in {os.path.relpath(path, facts.root)} ({exc})")
        return
    facts.how = f"{os.path.relpath(path, facts.root)} read statically (BASE_DIR taken as the project directory)"
    values = _assignments(facts.root, path, tree, set(), facts.import_roots)
    found = {name: _literal(values[name], facts.root, values) for name in ("MEDIA_ROOT", "STATIC_ROOT", "WSGI_APPLICATION",
                                                                   "DEBUG", "SECRET_KEY", "ROOT_URLCONF")
             if name in values}
    facts.urlconf = found.get("ROOT_URLCONF") if isinstance(found.get("ROOT_URLCONF"), str) else ""
    facts.media_root = found.get("MEDIA_ROOT") or ""
    facts.static_root = found.get("STATIC_ROOT") or ""
    facts.wsgi = found.get("WSGI_APPLICATION") or ""
    facts.debug = found.get("DEBUG") if isinstance(found.get("DEBUG"), bool) else None
    secret = found.get("SECRET_KEY")
    facts.insecure_secret = secret.startswith("django-insecure-") if isinstance(secret, str) else None
    for name in ("MEDIA_ROOT", "STATIC_ROOT"):
        if name in values and not found.get(name):
            facts.unknown.append(f"{name} (not a plain path in {os.path.relpath(path, facts.root)})")
    databases = values.get("DATABASES")
    default = None
    if isinstance(databases, ast.Dict):
        default = next((value for key, value in zip(databases.keys, databases.values)
                        if isinstance(key, ast.Constant) and key.value == "default"), None)
    if isinstance(default, ast.Dict):
        entries = {key.value: value for key, value in zip(default.keys, default.values)
                   if isinstance(key, ast.Constant)}
        facts.engine = _literal(entries["ENGINE"], facts.root, values) or "" if "ENGINE" in entries else ""
        facts.db_name = _literal(entries["NAME"], facts.root, values) or "" if "NAME" in entries else ""
    if not facts.engine:
        facts.unknown.append("the database engine (DATABASES['default'] is not a literal)")
    apps = ast.dump(values.get("INSTALLED_APPS", ast.List(elts=[])))
    facts.admin = "django.contrib.admin" in apps
    facts.pages_at_root = any("value='%s'" % app in apps for app in PAGE_APPS)


def _assignments(root, path, tree, seen, roots=("",)) -> dict:
    """{NAME: value node} of a settings file's top-level assignments in order, those of the modules it
    star-imports (`from .base import *`, `from mysite.settings.base import *`) taken where the import is."""
    seen.add(path)
    values = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            values[node.targets[0].id] = node.value
        elif _star_import(node):
            found = _star_imported_file(root, path, node, roots)
            if found and found not in seen:
                try:
                    with open(found, encoding="utf-8") as handle:
                        values.update(_assignments(root, found, ast.parse(handle.read(), found), seen, roots))
                except (OSError, SyntaxError, ValueError):
                    pass
    return values


def _star_import(node) -> bool:
    return isinstance(node, ast.ImportFrom) and [alias.name for alias in node.names] == ["*"]


def _star_imported_file(root, path, node, roots=("",)):
    """The file `from .base import *` (or `from mysite.settings.base import *`, looked for in the project's import
    `roots`) in `path` imports, else None."""
    if not node.level:
        return module_file(root, node.module or "", roots) or None
    base = os.path.dirname(path)
    for _ in range(node.level - 1):
        base = os.path.dirname(base)
    return module_file(base, node.module or "") or None


def _star_imported(root, path, seen, roots=("",)) -> list:
    """`path` and the files it star-imports, theirs too: the settings files running `path` runs."""
    if not path or path in seen:
        return []
    seen.add(path)
    try:
        with open(path, encoding="utf-8") as handle:
            tree = ast.parse(handle.read(), path)
    except (OSError, SyntaxError, ValueError):
        return [path]
    files = [path]
    for node in tree.body:
        if _star_import(node):
            files += _star_imported(root, _star_imported_file(root, path, node, roots), seen, roots)
    return files


GENERIC_PACKAGES = {"config", "conf", "core", "project", "settings", "src", "app", "django_project", "backend"}


def site_name(facts) -> str:
    """What names the site's service and default deploy path: the settings package (mysite) unless it is a generic
    one (cookiecutter-django's `config`), then the project directory's name; "mysite" when neither will do."""
    if facts.name and facts.name.lower() not in GENERIC_PACKAGES:
        return facts.name
    directory = re.sub(r"[^A-Za-z0-9_-]+", "-", os.path.basename(os.path.abspath(facts.root))).strip("-_")
    return directory if re.fullmatch(r"[A-Za-z][\w-]*", directory) else facts.name or "mysite"


def _settings_source(facts):
    """The settings' names (package, file, wsgi) made safe, and the environment variables the settings read."""
    if not re.fullmatch(r"[A-Za-z_][\w.]*", facts.settings_module or "-"):
        facts.settings_module = ""
    facts.settings_file = _settings_path(facts) if facts.settings_module else ""
    if not facts.name and facts.settings_module:
        facts.name = facts.settings_module.split(".")[0]
    if not re.fullmatch(r"[A-Za-z_]\w*", facts.name or "-"):
        facts.name = ""  # it names files (deploy/<name>.service) and goes into a unit: plain identifiers only
    if not re.fullmatch(r"[A-Za-z_][\w.]*\.\w+", facts.wsgi or "-"):
        facts.wsgi = f"{facts.name}.wsgi.application" if facts.name else ""
    if facts.settings_file:
        _environment_read(facts)


def _environment_read(facts):
    """The environment variables the settings package reads (to write only those), what each of ENV_SETTINGS is
    read from, and the variables production's settings cannot do without that init has no value for."""
    directory = os.path.dirname(facts.settings_file)
    package = facts.settings_file.endswith("__init__.py") or (
        "settings" in os.path.basename(directory) and os.path.isfile(os.path.join(directory, "__init__.py")))
    production = _star_imported(facts.root, module_file(facts.root, production_settings_module(facts), facts.import_roots)
                                or facts.settings_file, set(), facts.import_roots)
    others = sorted(set(glob.glob(os.path.join(directory, "*.py")) if package else [facts.settings_file])
                    - set(production))
    reads = {path: _reads_of(path) for path in production + others}
    ordered = [read for path in production + others for read in reads[path]]  # production's first
    facts.env_names = {read.name for read in ordered}
    facts.env_for = {setting: name for setting in ENV_SETTINGS if (name := name_for(setting, ordered))}
    given = {"DJANGO_SETTINGS_MODULE", *facts.env_for.values()}
    facts.env_required = sorted({read.name for path in production for read in reads[path]
                                 if read.required and read.name not in given})


def _reads_of(path) -> list:
    """The environment variables a settings file reads (init_environ.Read), [] when it cannot be read."""
    try:
        with open(path, encoding="utf-8") as handle:
            return reads_in(handle.read())
    except (OSError, UnicodeDecodeError):
        return []


def production_settings_module(facts) -> str:
    """The settings module for production: a settings package's production.py/prod.py when there is one."""
    directory = os.path.dirname(facts.settings_file)
    package = (facts.settings_module if facts.settings_file.endswith("__init__.py")
               else facts.settings_module.rpartition(".")[0])
    if package and "settings" in os.path.basename(directory) and os.path.isfile(os.path.join(directory, "__init__.py")):
        for name in ("production", "prod"):
            if os.path.isfile(os.path.join(directory, name + ".py")):
                return f"{package}.{name}"
    return facts.settings_module


def _requirements(facts):
    found = sorted({os.path.relpath(path, facts.root) for pattern in ("requirements*.txt", "requirements/*.txt")
                    for path in glob.glob(os.path.join(facts.root, pattern))})

    def rank(path):
        stem = os.path.splitext(os.path.basename(path))[0].lower()
        if re.search(r"prod|deploy|server", stem):
            return 0
        if path == "requirements.txt":
            return 1
        if SKIP_REQUIREMENTS.search(stem):
            return 3
        return 2

    found.sort(key=lambda path: (rank(path), path))
    if os.path.isfile(os.path.join(facts.root, LOCK_NAME)):  # a uv project: its lock is what the server installs
        facts.requirements, facts.other_requirements = LOCK_NAME, found
        with open(os.path.join(facts.root, LOCK_NAME), encoding="utf-8", errors="replace") as handle:
            facts.gunicorn = "gunicorn" in packages(handle.read())
        return
    if not found:
        facts.unknown.append("a requirements file (none of requirements.txt, requirements/*.txt, uv.lock): write one "
                             "with Django and gunicorn")
        return
    facts.requirements, facts.other_requirements = found[0], found[1:]
    local = [path for path in found[1:] if re.fullmatch(r"(requirements[-_.]?)?(dev|development|local)",
                                                         os.path.splitext(os.path.basename(path))[0].lower())]
    facts.local_requirements = local[0] if local else ""
    facts.gunicorn = _requires(os.path.join(facts.root, facts.requirements), "gunicorn", set())
    facts.whitenoise = _requires(os.path.join(facts.root, facts.requirements), "whitenoise", set())
    if not facts.engine:  # settings not read (a DATABASE_URL, say): the driver the requirements install tells
        path = os.path.join(facts.root, facts.requirements)
        facts.driver_vendor = next((vendor for vendor, drivers in DRIVERS.items()
                                    if any(_requires(path, driver, set()) for driver in drivers)), "")


def _requires(path, package, seen) -> bool:
    """Whether the requirements file (with its -r/-c includes) names `package`."""
    if path in seen:
        return False
    seen.add(path)
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return False
    for line in lines:
        line = line.split("#", 1)[0].strip()
        include = re.match(r"(?:-r|--requirement)[=\s]*(\S+)", line)
        if include:
            if _requires(os.path.join(os.path.dirname(path), include.group(1)), package, seen):
                return True
        elif re.match(rf"{package}\b(?!-)", line, re.I):
            return True
    return False


def _git(facts):
    def ask(*args):
        try:
            done = subprocess.run(["git", "-C", facts.root, *args], capture_output=True, text=True,
                                  stdin=subprocess.DEVNULL, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return ""
        return done.stdout.strip() if done.returncode == 0 else ""

    top = ask("rev-parse", "--show-toplevel")
    if top and os.path.realpath(top) != os.path.realpath(facts.root):
        facts.warnings.append(f"the git repository starts at {top}, above the project: a release is the whole "
                              "repository, so manage.py would not be at its top; deploytasks expects manage.py at the "
                              "repository's root")
    facts.repo = ask("remote", "get-url", "origin")
    facts.branch = ask("symbolic-ref", "--short", "-q", "HEAD")
    if not facts.repo:
        facts.unknown.append("repo (no git remote 'origin'): set it to the URL the server clones")


def _judge(facts):
    """What stands between these settings and a production server, one sentence each."""
    if facts.vendor == "sqlite3" and facts.relative(facts.db_name) and "DATABASE_URL" not in facts.env_for:
        facts.warnings.append(
            f"the SQLite database {facts.relative(facts.db_name)} is inside the project: on the server each release "
            "would get its own, empty one. Make the settings read its path from the environment and set it in the "
            "production env file (e.g. {path}/shared/db.sqlite3)")
    if facts.insecure_secret and "SECRET_KEY" not in facts.env_for:
        facts.warnings.append("SECRET_KEY is Django's django-insecure-… placeholder written in the settings: read it "
                              "from the environment (the production env file has a fresh one)")
    production = production_settings_module(facts)
    if facts.debug and "DEBUG" not in facts.env_for and production == facts.settings_module:
        facts.warnings.append("DEBUG = True is written in the settings: read it from the environment and set "
                              "DEBUG=false in production")
    elif facts.debug and "DEBUG" not in facts.env_for:  # manage.py's default module (dev) was read, not this one
        facts.warnings.append(f"DEBUG = True is written in {facts.settings_module}, manage.py's default (the settings "
                              f"read here); production's env file picks {production}: make sure DEBUG is off there")
    if facts.env_required:
        names = ", ".join(facts.env_required)
        facts.warnings.append(f"{production} reads {names} from the environment without a default, and init has no "
                              "value: set it in production's env file, where it is written commented out, before "
                              "`fab setup`")
    if not facts.static_root and facts.how:
        facts.warnings.append("STATIC_ROOT is not set, so collectstatic cannot run: it is switched off "
                              "(collectstatic = false) until you set STATIC_ROOT")
    if facts.requirements and not facts.gunicorn:
        facts.warnings.append(f"gunicorn is not in {facts.requirements}: add it (deploy/gunicorn.sh runs the "
                              "release's gunicorn)")
    if facts.requirements and facts.static_root and not facts.whitenoise:
        facts.warnings.append("nothing serves the static files or the uploads: gunicorn does not (with DEBUG off, "
                              "Django neither), and a health check of a page passes while its CSS and images 404. "
                              "Put a web server in front for STATIC_URL (from STATIC_ROOT) and MEDIA_URL (from "
                              "MEDIA_ROOT), or add whitenoise for the static files")
