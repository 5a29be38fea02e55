"""`deploytasks init` (console script) and `inv init`: write a working deploytasks set-up into a Django project —
tasks.py, fabfile.py, the config section, .gitignore lines, deploy/gunicorn.sh, a systemd unit and production's
env file — with the values inferred from the project. Existing files are kept (with a diff) unless --force; all or
nothing is written."""
import argparse
import difflib
import errno
import os
import re
import sys
import tempfile
from dataclasses import dataclass

from . import init_templates as templates
from .config_files import YAML_NAMES, tomllib
from .errors import DeployTasksError
from .init_facts import gather, site_name
from .settings import DEFAULTS

SECTION_HEADER = re.compile(r"\s*\[\[?\s*tool\s*\.\s*deploytasks\s*(\]|\.)")
ANY_HEADER = re.compile(r"\s*\[")
MAIN_HEADER = re.compile(r"\s*\[\s*tool\s*\.\s*deploytasks\s*\]")


@dataclass
class Planned:
    path: str  # relative to the project
    text: str  # the whole new content
    mode: int = 0o644
    verb: str = "wrote"  # wrote | appended | added | replaced
    note: str = ""
    skip: str = ""  # why it is not written ("" : it is)
    old: object = None  # the existing content, None when the file is new
    secret: bool = False  # never shown as a diff


def _choices(facts, host, path, bind) -> templates.Choices:
    host = host or "production"
    path = (path or f"/srv/{site_name(facts)}").rstrip("/")
    bind = bind or "127.0.0.1:8000"
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._@-]*", host):
        raise DeployTasksError(f"--host must be a host name as typed after fab -H (letters, digits, . _ @ -), "
                               f"not {host!r}")
    if not re.fullmatch(r"(/[A-Za-z0-9._+-]+)+", path) or "/../" in path + "/" or "/./" in path + "/":
        raise DeployTasksError(f"--path must be an absolute directory on the server (letters, digits, . _ + -), "
                               f"not {path!r}")
    if not re.fullmatch(r"[A-Za-z0-9.-]+:\d{1,5}", bind) or not 0 < int(bind.rpartition(":")[2]) < 65536:
        raise DeployTasksError(f"--bind must be HOST:PORT for gunicorn (e.g. 127.0.0.1:8000), not {bind!r}")
    return templates.Choices(host=host, path=path, bind=bind)


def _read(root, name):
    try:
        with open(os.path.join(root, name), encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise DeployTasksError(f"cannot read {name}: {getattr(exc, 'strerror', None) or exc}") from None


def _whole_file(root, name, text, force, mode=0o644, secret=False, keep_always="") -> Planned:
    old = _read(root, name)
    item = Planned(name, text, mode=mode, old=old, secret=secret)
    if old is not None:
        if keep_always:
            item.skip = keep_always
        elif old == text:
            item.skip = "exists, the same"
        elif not force:
            item.skip = "exists (--force replaces it)"
        else:
            item.verb = "replaced"
    return item


def _toml_without_section(text) -> str:
    kept, inside = [], False
    for line in text.splitlines(keepends=True):
        if SECTION_HEADER.match(line):
            inside = True
        elif ANY_HEADER.match(line):
            inside = False
        if not inside:
            kept.append(line)
    return "".join(kept)


def _parse_toml(text, name):
    try:
        return tomllib.loads(text)
    except ValueError as exc:
        raise DeployTasksError(f"cannot read {name}: {' '.join(str(exc).split())}") from None


def _without_ours(document) -> dict:
    tool = {key: value for key, value in document.get("tool", {}).items() if key != "deploytasks"}
    return {**{key: value for key, value in document.items() if key != "tool"}, **({"tool": tool} if tool else {})}


def _config(root, facts, choices, force) -> Planned:
    entries = templates.config_entries(facts, choices)
    assert {entry.key for entry in entries} <= set(DEFAULTS)
    header = templates.header(facts)
    yaml_name = next((name for name in YAML_NAMES if os.path.isfile(os.path.join(root, name))), None)
    pyproject = _read(root, "pyproject.toml")
    if yaml_name or pyproject is None:
        item = _whole_file(root, yaml_name or "deploytasks.yaml", templates.render_yaml(entries, header), force)
        item.note = "the deploytasks settings"
        return item
    document = _parse_toml(pyproject, "pyproject.toml")
    has_section = "deploytasks" in document.get("tool", {})
    item = Planned("pyproject.toml", "", old=pyproject, verb="replaced" if has_section else "appended",
                   note="[tool.deploytasks]")
    base = _toml_without_section(pyproject) if has_section else pyproject
    item.text = base.rstrip("\n") + ("\n\n" if base.strip() else "") + templates.render_toml(entries, header)
    if has_section and not force:
        return _merged(pyproject, document, entries, item)
    if _without_ours(_parse_toml(item.text, "pyproject.toml (as init would write it)")) != _without_ours(document):
        raise DeployTasksError("cannot replace [tool.deploytasks] in pyproject.toml without touching the rest: "
                               "remove that section by hand, then run init again")
    return item


def _merged(pyproject, document, entries, item) -> Planned:
    """An existing [tool.deploytasks]: the keys init sets that it lacks added at its end, its own kept as written."""
    existing = document["tool"]["deploytasks"]
    missing = [entry for entry in entries if entry.active and entry.key not in existing]
    if not missing:
        item.skip = "already has [tool.deploytasks] with the keys init sets (--force replaces that section)"
        return item
    item.text = _with_lines_in_section(pyproject, templates.render_toml(missing, "").splitlines()[1:])
    merged = _parse_toml(item.text, "pyproject.toml (as init would write it)")
    wanted = dict(existing, **{entry.key: entry.value for entry in missing})
    if _without_ours(merged) != _without_ours(document) or merged["tool"]["deploytasks"] != wanted:
        raise DeployTasksError("cannot add to [tool.deploytasks] in pyproject.toml without touching the rest: add "
                               f"{', '.join(entry.key for entry in missing)} by hand, or run init with --force")
    item.verb = "added to"
    item.note = f"[tool.deploytasks]: {', '.join(entry.key for entry in missing)} (its own keys kept)"
    return item


def _with_lines_in_section(text, lines) -> str:
    """`text` with `lines` after the last line of [tool.deploytasks]'s own keys (before the next table)."""
    rows = text.splitlines()
    start = next((i for i, row in enumerate(rows) if MAIN_HEADER.match(row)), None)
    if start is None:  # only its sub-tables so far ([tool.deploytasks.stages.x]): the table itself after them
        return text.rstrip("\n") + "\n\n[tool.deploytasks]\n" + "\n".join(lines) + "\n"
    end = next((i for i in range(start + 1, len(rows)) if ANY_HEADER.match(rows[i])), len(rows))
    while end > start + 1 and not rows[end - 1].strip():
        end -= 1
    return "\n".join(rows[:end] + lines + rows[end:]) + "\n"


def _gitignore(root, facts) -> Planned:
    wanted = [f"{facts.venv}/", "backups/", ".env", "deploy/*/.env", "*.before-restore-*/"]
    old = _read(root, ".gitignore")
    present = {line.strip().strip("/") for line in (old or "").splitlines()}
    missing = [line for line in wanted if line.strip("/") not in present]
    item = Planned(".gitignore", old or "", old=old, verb="added" if old is not None else "wrote")
    if not missing:
        item.skip = "has the lines already"
        return item
    block = ("# deploytasks: the local venv, backups (dumps hold password hashes), settings with secrets, the media a "
             "restore put aside\n"
             + "\n".join(missing) + "\n")
    item.text = (old.rstrip("\n") + "\n\n" if old and old.strip() else "") + block
    item.note = ", ".join(missing)
    return item


def plan(facts, choices, force) -> list:
    """What init would write, file by file (nothing is written here)."""
    root = facts.root
    config = _config(root, facts, choices, force)
    config_name = "[tool.deploytasks] in pyproject.toml" if config.path == "pyproject.toml" else config.path
    name = site_name(facts)
    env = templates.env_source(choices)
    return [
        _whole_file(root, "tasks.py", templates.TASKS_PY, force),
        _whole_file(root, "fabfile.py", templates.FABFILE_PY.format(config=config_name), force),
        config,
        _gitignore(root, facts),
        _whole_file(root, "gunicorn.conf.py", templates.GUNICORN_CONF, force),
        _whole_file(root, "deploy/gunicorn.sh", templates.gunicorn_script(facts, choices), force, mode=0o755),
        _whole_file(root, f"deploy/{name}.service", templates.systemd_unit(facts, choices), force),
        _whole_file(root, env, templates.env_file(facts, choices), force, mode=0o600, secret=True,
                    keep_always="exists: kept even with --force (it holds production's secrets)"),
    ]


def _place(root, items) -> None:
    """Write every item or none: each goes to a temporary file beside its target first; new files are linked into
    place (never over a file that appeared meanwhile), existing ones renamed over; a failure undoes it all."""
    made_dirs, staged, placed = [], [], []
    current = None
    try:
        for item in items:
            current = item
            target = os.path.join(root, item.path)
            missing = []
            directory = os.path.dirname(target)
            while not os.path.isdir(directory):
                missing.append(directory)
                directory = os.path.dirname(directory)
            for directory in reversed(missing):
                os.mkdir(directory)
                made_dirs.append(directory)
            descriptor, temporary = tempfile.mkstemp(dir=os.path.dirname(target), prefix=".init-")
            staged.append((temporary, target, item))
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(item.text)
                os.fchmod(handle.fileno(), os.stat(target).st_mode & 0o7777 if item.old is not None else item.mode)
        for temporary, target, item in staged:
            current = item
            if item.old is None:
                try:
                    os.link(temporary, target)
                except OSError as exc:
                    if exc.errno == errno.EEXIST or os.path.lexists(target):
                        raise
                    os.replace(temporary, target)  # a file system without hard links
                else:
                    os.unlink(temporary)
            else:
                os.replace(temporary, target)
            placed.append((target, item))
    except OSError as exc:
        for target, item in reversed(placed):
            try:
                if item.old is None:
                    os.unlink(target)
                else:
                    with open(target, "w", encoding="utf-8") as handle:
                        handle.write(item.old)
            except OSError:
                pass
        for temporary, _, _ in staged:
            if os.path.exists(temporary):
                os.unlink(temporary)
        for directory in reversed(made_dirs):
            try:
                os.rmdir(directory)
            except OSError:
                pass
        where = current.path if current else root
        raise DeployTasksError(f"cannot write {where} in {root}: {exc.strerror or exc}; nothing was written") from None


def _diff(item) -> list:
    if item.secret or item.old is None or item.old == item.text:
        return []
    lines = difflib.unified_diff(item.old.splitlines(), item.text.splitlines(), f"{item.path} (yours)",
                                 f"{item.path} (init's)", lineterm="", n=1)
    return ["      " + line for line in lines]


def report(facts, choices, items, dry) -> str:
    verb = (lambda item: "would write") if dry else (lambda item: item.verb)
    lines = [f"deploytasks init in {facts.root}" + (" (dry run: nothing written)" if dry else "")]
    for item in items:
        if item.skip:
            lines.append(f"  skipped   {item.path}: {item.skip}")
            lines += _diff(item)
        else:
            extra = f": {item.note}" if item.note else ""
            mode = " (0600)" if item.mode == 0o600 and item.old is None else ""
            lines.append(f"  {verb(item):<9} {item.path}{mode}{extra}")
    media = facts.relative(facts.media_root) or facts.media_root
    lines += [
        f"Inferred ({facts.how or 'settings not readable'}):",
        f"  settings module  {facts.settings_module or '-'}",
        f"  database engine  {facts.engine or '-'}" + (f" ({facts.relative(facts.db_name) or facts.db_name})"
                                                     if facts.db_name else ""),
        f"  requirements     {facts.requirements or '-'}",
        f"  MEDIA_ROOT       {media or '-'}",
        f"  STATIC_ROOT      {facts.relative(facts.static_root) or facts.static_root or '-'}",
        f"  wsgi             {templates.wsgi_target(facts)}" + (
            f" (from {', '.join(where for where in facts.import_roots if where)}, which manage.py puts on sys.path: "
            "gunicorn gets --pythonpath)" if any(facts.import_roots) else ""),
        f"  repo             {facts.repo or '-'}  (branch {facts.branch or 'main'})",
    ]
    if facts.unknown:
        lines.append("Could not infer:")
        lines += [f"  - {what}" for what in facts.unknown]
    if facts.warnings:
        lines.append("Before going live:")
        lines += [f"  - {what.replace('{path}', choices.path)}" for what in facts.warnings]
    lines += [
        "Next:",
        f"  edit {templates.env_source(choices)} (production's settings; git-ignored), commit the rest and push,",
        f"  then `fab -H {choices.host} setup` once and `fab -H {choices.host} deploy` (README: Starting a project).",
    ]
    return "\n".join(lines)


def initialize(root, force=False, host=None, path=None, bind=None, dry=False) -> list:
    """Infer, plan, write (unless dry) and print the report; returns the planned items."""
    facts = gather(root)
    choices = _choices(facts, host, path, bind)
    items = plan(facts, choices, force)
    if not dry:
        _place(facts.root, [item for item in items if not item.skip])
    print(report(facts, choices, items, dry))
    return items


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(1, f"deploytasks: error: {message}\n")


def main(argv=None) -> int:
    """The `deploytasks` console script: `deploytasks init [options]`."""
    parser = _Parser(prog="deploytasks", description="deploytasks: Invoke/Fabric tasks that deploy Django.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    init = commands.add_parser("init", help="write tasks.py, fabfile.py, the config section and deploy/ files",
                               description=__doc__)
    init.add_argument("--force", action="store_true", help="replace existing files (never deploy/<host>/.env)")
    init.add_argument("--host", help="the host as typed after `fab -H`: its env file is deploy/<host>/.env "
                                     "(default: production)")
    init.add_argument("--path", help="the deploy directory on the server (default: /srv/<project>)")
    init.add_argument("--bind", help="gunicorn's address (default: 127.0.0.1:8000)")
    init.add_argument("--dry", action="store_true", help="say what would be written; write nothing")
    init.add_argument("--dir", default=".", help="the Django project (the directory holding manage.py)")
    args = parser.parse_args(argv)
    try:
        initialize(args.dir, force=args.force, host=args.host, path=args.path, bind=args.bind, dry=args.dry)
    except DeployTasksError as exc:
        print(f"deploytasks: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
