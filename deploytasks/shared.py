"""Production's shared files (`.env` …): where they come from locally, and comparing/uploading them.

They never come from the project's own files (which `inv` and manage.py load on the laptop), but from
deploy/<host>/<name> beside the fabfile, or the file deploytasks.shared_sources names. Local tasks never
read them. Contents are never printed: comparisons show checksums and the names of `NAME=` lines only.
"""
import difflib
import hashlib
import os
import posixpath
import re
import secrets
import time
from dataclasses import dataclass

from invoke import Collection, task
from invoke.exceptions import Exit

from .errors import DeployTasksError, reported
from .host_names import host_name
from .output import console
from .prompt import confirm
from .settings import local_root
from .shell import is_dry, q, run, written_from_stdin

MARK = "@@DEPLOYTASKS-SHARED@@"
KEY = re.compile(r"[ \t]*(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_.-]*)[ \t]*=")
# the same names, read on the server; SED_KEYS each with what follows its `=`, which only a salted hash of leaves it
SED_NAMES = r"s/^[[:blank:]]*(export[[:blank:]]+)?([A-Za-z_][A-Za-z0-9_.-]*)[[:blank:]]*=.*/\2/p"
SED_KEYS = r"s/^[[:blank:]]*(export[[:blank:]]+)?([A-Za-z_][A-Za-z0-9_.-]*)[[:blank:]]*=(.*)/\2 \3/p"


@dataclass
class SharedFile:
    name: str  # path inside {path}/shared
    local: str  # absolute local source
    shown: str  # the local source as shown to the user (relative to the project when inside it)
    remote: str  # absolute path on the server

    @property
    def exists(self) -> bool:
        return os.path.isfile(self.local)


def default_source(host, name) -> str:
    return posixpath.join("deploy", host, name)


def _check_name(name):
    if not name or name.startswith("/") or ".." in name.split("/"):
        raise DeployTasksError(f"deploytasks.shared_files entry {name!r} must be a path inside shared/ (no '/' start, no '..')")


def _is_projects_own(path, root, settings) -> bool:
    """The project's own env file (or a link to it): what `inv` and manage.py load locally."""
    if not settings.env_file:
        return False
    own = os.path.join(root, os.path.expanduser(settings.env_file))
    if os.path.realpath(path) == os.path.realpath(own):
        return True
    try:
        return os.path.samefile(path, own)
    except OSError:
        return False


def shared_files(c, settings, base) -> list:
    """The shared files with their local sources; refuses a source that is the project's own env file."""
    host = host_name(c)
    if host in ("", ".", ".."):
        raise DeployTasksError(f"cannot name a local folder after the host {host!r}: use a host name with -H")
    root = local_root(settings)
    unknown = sorted(set(settings.shared_sources) - set(settings.shared_files))
    if unknown:
        raise DeployTasksError(f"deploytasks.shared_sources names {', '.join(unknown)}, not in deploytasks.shared_files")
    files = []
    for name in settings.shared_files:
        _check_name(name)
        configured = settings.shared_sources.get(name)
        relative = os.path.expanduser(configured.replace("{host}", host)) if configured else default_source(host, name)
        local = os.path.normpath(os.path.join(root, relative))
        shown = os.path.relpath(local, root) if local.startswith(root + os.sep) else local
        if _is_projects_own(local, root, settings):
            raise DeployTasksError(
                f"refusing to upload {shown} as production's shared/{name}: it is this project's own "
                f"{settings.env_file}, which `inv` and manage.py load locally; put production's in "
                f"{default_source(host, name)} (kept out of git), or point deploytasks.shared_sources at such a file")
        if os.path.exists(local) and not os.path.isfile(local):
            raise DeployTasksError(f"{shown} (the local source of shared/{name}) is not a regular file")
        files.append(SharedFile(name, local, shown, posixpath.join(base, "shared", name)))
    return files


def keys_of(text, salt="") -> list:
    """[(NAME, salted hash of what follows its `=`)] of the `NAME=` lines: values compared, never shown or sent."""
    found = []
    for line in text.splitlines():
        match = KEY.match(line)
        if match:
            found.append((match.group(1), value_hash(salt, line[match.end():])))
    return found


def value_hash(salt, value) -> str:
    return hashlib.sha256((salt + value).encode("utf-8", "surrogateescape")).hexdigest()[:16]


def local_state(item, salt="") -> dict:
    with open(item.local, "rb") as handle:
        data = handle.read()
    return {"sha256": hashlib.sha256(data).hexdigest(), "keys": keys_of(data.decode("utf-8", "replace"), salt)}


def server_state(c, files, salt=None) -> list:
    """For each file on the server: None when absent, else its sha256, mode and `NAME=` names, with their values'
    hashes under `salt` when one is given (shared.diff; one round trip)."""
    if not files:
        return []
    out = run(c, state_command(files, salt), what="reading the server's shared files", changes=False).stdout
    return parse_state(out, files)


def state_command(files, salt=None) -> str:
    """Shell that prints, for each file, a MARK line (absent, or mode and sha256) and then its `NAME=` names; with
    `salt`, each with the hash of its value under it (the first 16 hex digits of sha256(salt + value): a value never
    leaves the server, and the random salt of each comparison keeps a hash from being looked up). Without one (setup,
    push: only the file's sha256 counts) no value is read, and no process is started per name."""

    def names(f):
        if salt is None:
            return f"sed -n -E {q(SED_NAMES)} {f}"
        return (f"sed -n -E {q(SED_KEYS)} {f} | while IFS= read -r line; do printf '%s %s\\n' \"${{line%% *}}\" "
                f"\"$(printf '%s%s' {q(salt)} \"${{line#* }}\" | sha256sum | cut -c 1-16)\"; done")

    parts = []
    for index, item in enumerate(files):
        f = q(item.remote)
        parts.append(
            f"if [ -f {f} ]; then echo {MARK} {index} $(stat -c %a {f}) $(sha256sum < {f} | cut -d ' ' -f 1); "
            f"{names(f)}; else echo {MARK} {index} absent; fi")
    return "; ".join(parts)


def parse_state(out, files) -> list:
    """What state_command printed, per file: None when absent, else {mode, sha256, keys}."""
    states, current = [None] * len(files), None
    for line in out.splitlines():
        words = line.split()
        if words[:1] == [MARK]:
            index = int(words[1])
            if words[2] == "absent":
                current = None
                continue
            if len(words) < 4:
                raise DeployTasksError(f"cannot read {files[index].remote} on the server: check its owner")
            current = states[index] = {"mode": words[2], "sha256": words[3], "keys": []}
        elif current is not None and line.strip():
            name, _, hashed = line.strip().partition(" ")
            current["keys"].append((name, hashed))
    return states


def names_diff(server_keys, local_keys, old, new) -> list:
    """A unified diff of the names, then `~NAME (value differs)` for each name on both sides whose value differs."""
    lines = list(difflib.unified_diff([k for k, _ in server_keys], [k for k, _ in local_keys], old, new, lineterm="",
                                      n=1))
    theirs, mine = dict(server_keys), dict(local_keys)
    return lines + [f"~{name} (value differs)" for name, hashed in local_keys
                    if name in theirs and theirs[name] != hashed and mine[name] == hashed]


KEPT_COPIES = 5  # replaced copies of a shared file kept on the server (shared/<name>.<UTC>.bak)
ENV_FILE_LIMIT = 64 << 10  # exported into every server command's environment, which the kernel caps (ARG_MAX)


def check_env_file(item):
    """A `.env` file is sourced by the server's shell (every command of a deploy, deploy/gunicorn.sh): refused before
    it travels when sh cannot read it, or when it is too big to export (values are never shown)."""
    import subprocess

    if not os.path.basename(item.name).startswith(".env"):
        return
    size = os.path.getsize(item.local)
    if size > ENV_FILE_LIMIT:
        raise DeployTasksError(f"{item.shown} is {size:,} bytes: exported into every command on the server, more than "
                               f"{ENV_FILE_LIMIT:,} would make them fail (`Argument list too long`); keep big values in "
                               "files of their own")
    checked = subprocess.run(["sh", "-n", item.local], capture_output=True, text=True)
    if checked.returncode != 0:
        line = re.search(r":\s*(?:line\s*)?(\d+):", checked.stderr)  # the line only: sh's words may quote a value
        where = f"line {line.group(1)}" if line else "a syntax error"
        raise DeployTasksError(f"{item.shown} is not valid shell, which the server's commands source it as ({where}): "
                               "quote values with spaces or quotes in them, then push again; nothing was uploaded")
    with open(item.local, encoding="utf-8", errors="replace") as handle:
        found = shell_runs_in(handle.read())
    if found:
        line, name, why = found
        raise DeployTasksError(f"{item.shown} line {line}" + (f" ({name})" if name else "") + f": {why}; the "
                               "server's commands source this file (and print its errors, values in them); nothing was "
                               "uploaded")


ASSIGNMENT = re.compile(r"[ \t]*(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_]*)=")
NAMES_ONLY = re.compile(r"[ \t]*(?:(?:export|unset)(?:[ \t]+[A-Za-z_][A-Za-z0-9_]*)+|set[ \t]+[-+]a)[ \t]*(?:#[^\n]*)?$")
SESSION_VARIABLES = {"HOME", "USER", "LOGNAME", "PATH", "PWD", "SHELL"}  # set in every SSH session that sources it
VARIABLE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
SINGLE_QUOTES = "put the value in single quotes"


def shell_runs_in(text):
    """(line, name, what and what to do) of the first line the sourcing shell would not take as written: a value it
    would run as a command (`A=b c` runs `c`) or change (a command substitution, `${…}` forms, a `$name` the file
    never set, `~`, a backslash, quotes inside it), an unquoted `;`, `&`, `|`, `<`, `>`, a carriage return (Windows
    line endings), a byte order mark, or a line that is no assignment (`export NAME`, `unset NAME` and `set -a` are
    fine). None when the file only assigns values as written; `$NAME`/`${NAME}` of an earlier NAME expand, as meant."""
    if text.startswith("\ufeff"):
        return 1, None, "a byte order mark (BOM) before it, which the shell takes as part of the line: save the file " \
                        "as UTF-8 without one"
    position, line, end, assigned = 0, 1, len(text), set()
    while position < end:
        newline = text.find("\n", position)
        newline = end if newline < 0 else newline
        statement = text[position:newline]
        if "\r" in statement and "'" not in statement and '"' not in statement:
            return line, None, "a carriage return at its end (Windows line endings): save the file with Unix ones"
        if not statement.strip(" \t") or statement.lstrip(" \t").startswith("#") or NAMES_ONLY.match(statement):
            position, line = newline + 1, line + 1
            continue
        found = ASSIGNMENT.match(text, position)
        if not found:
            return line, None, "no NAME=value assignment: make it one, or a comment (#)"
        name, first = found.group(1), line
        position, line, problem = word_end(text, found.end(), line, assigned)
        if problem:
            return first, name, problem
        assigned.add(name)
        while position < end and text[position] in " \t":
            position += 1
        if position < end and text[position] == "#":
            position = text.find("\n", position) if "\n" in text[position:] else end
        elif position < end and text[position] != "\n" and not ASSIGNMENT.match(text, position):
            return first, name, f"an unquoted space in the value: the shell runs what follows it as a command " \
                                f"({SINGLE_QUOTES})"
    return None


def word_end(text, position, line, assigned):
    """(where the value starting at `position` ends, the line there, a problem or None): the value either wholly in
    single quotes (kept as written), wholly in double quotes, or unquoted; `assigned`: the names set before."""
    end = len(text)
    if text.startswith("'", position):
        close = text.find("'", position + 1)
        if close < 0:
            return end, line, "an unterminated quote"
        return close + 1, line + text.count("\n", position, close), after_quotes(text, close + 1)
    quoted = text.startswith('"', position)
    index = position + 1 if quoted else position
    while index < end:
        char = text[index]
        if quoted and char == '"':
            return index + 1, line, after_quotes(text, index + 1)
        if not quoted and char in " \t\n":
            return index, line, None
        problem = changed_by_shell(text, index, quoted, assigned)
        if problem:
            return index, line, problem
        line += char == "\n"
        index += 1
    return end, line, "an unterminated quote" if quoted else None


def after_quotes(text, index):
    """A problem when a quoted value goes on after its closing quote (the shell joins the pieces, quotes removed)."""
    if index < len(text) and text[index] not in " \t\n":  # (a `#` right after it is part of the value, no comment)
        return f"quotes inside the value, which the shell removes ({SINGLE_QUOTES}, all of it)"
    return None


def changed_by_shell(text, index, quoted, assigned):
    """What the shell would do with the character at `index` of a value (in double quotes or none), or None."""
    char = text[index]
    if char == "`" or text.startswith("$(", index):
        return f"a command substitution in the value, which the shell runs ({SINGLE_QUOTES})"
    if char == "$":
        variable = VARIABLE.match(text, index)
        if text.startswith("${", index) and not (variable and variable.group(1)):
            return f"a `${{…}}` form in the value, which the shell evaluates ({SINGLE_QUOTES})"
        name = variable and (variable.group(1) or variable.group(2))
        if text[index + 1:index + 2] and text[index + 1] in "0123456789#?*@!$-":  # `$$`, `$!`, `$1`: the shell's
            return f"a `$` in the value that the shell would expand ({SINGLE_QUOTES})"
        if name and name not in assigned | SESSION_VARIABLES:
            return f"a `$` in the value that the shell would expand (a variable this file does not set: to " \
                   f"nothing) ({SINGLE_QUOTES})"  # the variable's name is part of a value: not shown
        return None
    if char == "\\" and (not quoted or text[index + 1:index + 2] in ("$", "`", '"', "\\", "\n")):
        return f"a backslash in the value, which the shell drops ({SINGLE_QUOTES})"
    if quoted:
        return None
    if char in "'\"":
        return f"quotes inside the value, which the shell removes ({SINGLE_QUOTES}, all of it)"
    if char in ";&|<>()":
        return f"an unquoted {char!r} in the value ({SINGLE_QUOTES})"
    if char == "~" and (index == 0 or text[index - 1] in "=:"):
        return f"a `~` the shell replaces by a home directory ({SINGLE_QUOTES})"
    if char == "\r":
        return "a carriage return (Windows line endings): save the file with Unix ones"
    return None


def upload(c, item, backup=False) -> str:
    """Upload one file in one round trip: its bytes (base64) on the command's stdin into a file created 0600 before
    any byte is written, checked against their sha256 (a connection lost mid-way leaves a short file, which is
    removed), then renamed into place (the server's copy, if any, is kept first as shared/<name>.<UTC>.bak, or
    <name>.<UTC>.2.bak and so on when a push in the same second kept one: never over another backup; 0600), the
    oldest beyond KEPT_COPIES removed. Returns the backup's name or ""."""
    directory, base = posixpath.split(item.remote)
    partial_path = posixpath.join(directory, f".deploytasks-upload.{base}")
    partial = q(partial_path)
    stamp = f"{item.remote}.{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    with open(item.local, "rb") as handle:
        data = handle.read()
    keep = (f'{{ saved={q(stamp + ".bak")}; n=1; while test -e "$saved" || test -L "$saved"; do n=$((n + 1)); '
            f'saved={q(stamp)}."$n".bak; done; (set -C; umask 077 && cat {q(item.remote)} > "$saved") && '
            f'chmod 600 "$saved"; }} && ' if backup else "")
    write, stdin = written_from_stdin(partial_path, data)
    # the oldest copies beyond KEPT_COPIES go (they hold old secrets): newest first by time written (names of one
    # second do not sort), another shared file's copies (shared/<name>.production.….bak) left alone
    prune = (f"&& {{ ls -1dt {q(item.remote)}.[0-9]*.bak 2>/dev/null | tail -n +{KEPT_COPIES + 1} | "
             f"while IFS= read -r old; do rm -f \"$old\"; done; }} " if backup else "")
    command = (f"mkdir -p {q(directory)} && rm -f {partial} && {write} && "
               f"chmod 600 {partial} && {keep}mv -fT {partial} {q(item.remote)} {prune}"
               + ("&& printf '%s\\n' \"$saved\" " if backup else "")
               + f"|| {{ status=$?; rm -f {partial}; exit $status; }}")
    result = run(c, command, what=f"uploading shared/{item.name}", in_stream=stdin)
    if not backup:
        return ""
    kept = (result.stdout or "").strip().splitlines()
    return posixpath.basename(kept[-1] if kept else stamp + ".bak")  # a dry run prints nothing


def upload_missing(c, files, states) -> list:
    """`fab setup`: upload the files the server lacks (states: server_state's); keep the server's copies. Returns
    the report lines."""
    host, lines = host_name(c), []
    for item, state in zip(files, states):
        if state is not None:
            lines.append(f"kept the server's shared/{item.name} (compare: fab -H {host} shared.diff; "
                         f"replace: fab -H {host} shared.push)")
        elif item.exists:
            check_env_file(item)
            upload(c, item)
            lines.append(f"{'would upload' if is_dry(c) else 'uploaded'} {item.shown} → {host}:{item.remote} (0600)")
        else:
            lines.append(f"[yellow]shared/{item.name} is on neither side[/]: write production's in {item.shown}, "
                         f"then `fab -H {host} shared.push`")
    return lines


def shared_collection(server) -> Collection:
    """`fab shared.diff` and `fab shared.push`; server(c) -> settings, on a verified connection."""

    @task
    @reported
    def diff(c):
        """Compare production's local shared files with the server's (names, which values differ; never values)."""
        settings = server(c)
        files = shared_files(c, settings, settings.path.rstrip("/"))
        host, salt, differing = host_name(c), secrets.token_hex(8), []
        for item, state in zip(files, server_state(c, files, salt)):
            mine = local_state(item, salt) if item.exists else None
            if mine is None or state is None or mine["sha256"] != state["sha256"]:
                differing.append(item.name)
            if mine is None and state is None:
                console.print(f"shared/{item.name}: [yellow]on neither side[/] (local source: {item.shown})")
            elif state is None:
                console.print(f"shared/{item.name}: [yellow]missing on the server[/] (`fab -H {host} shared.push` uploads {item.shown})")
            elif mine is None:
                console.print(f"shared/{item.name}: [yellow]no local copy[/] at {item.shown} (server sha256 {state['sha256'][:12]})")
            elif mine["sha256"] == state["sha256"]:
                console.print(f"shared/{item.name}: [green]same[/] as {item.shown} (sha256 {state['sha256'][:12]})")
            else:
                lines = names_diff(state["keys"], mine["keys"], f"{host}:{item.remote}", item.shown)
                console.print(f"shared/{item.name}: [red]differs[/] from {item.shown} (server sha256 "
                              f"{state['sha256'][:12]}, local {mine['sha256'][:12]})"
                              + ("" if lines else "; same names and values, other lines (comments, order)"))
                for line in lines:
                    console.print("  " + line, highlight=False, markup=False)
            if state is not None and state["mode"] != "600":
                console.print(f"  [yellow]mode {state['mode']} on the server[/]: `fab -H {host} shared.push` writes it 0600")
        if differing:  # as diff(1): a script (or cron) sees that production's files and the server's disagree
            raise Exit(code=1)

    @task(help={"yes": "do not ask for confirmation"})
    @reported
    def push(c, yes=False):
        """Upload production's local shared files that differ from the server's (0600; the old copy kept as .bak)."""
        settings = server(c)
        files = shared_files(c, settings, settings.path.rstrip("/"))
        host = host_name(c)
        plan = []
        for item, state in zip(files, server_state(c, files)):
            if not item.exists:
                console.print(f"shared/{item.name}: no local copy at {item.shown}, skipped")
            elif state is not None and state["sha256"] == local_state(item)["sha256"] and state["mode"] == "600":
                console.print(f"shared/{item.name}: same as {item.shown}, skipped")
            else:
                plan.append((item, state is not None))
                console.print(f"{item.shown} → {host}:{item.remote}"
                              + (" (replaces the server's copy, kept as a .bak)" if state is not None else " (new)"))
        if not plan:
            return
        for item, _ in plan:
            check_env_file(item)
        confirm(f"Upload {len(plan)} file(s) to {host}?", yes, is_dry(c))
        for item, replaces in plan:
            saved = upload(c, item, backup=replaces)
            if not is_dry(c):
                console.print(f"[green]✓[/] shared/{item.name} uploaded (0600)"
                              + (f"; the previous one is shared/{posixpath.join(posixpath.dirname(item.name), saved)}"
                                 if saved else ""))
        if not is_dry(c):
            console.print("The next `fab deploy` gives them to the app server (init's deploy/gunicorn.sh starts a new "
                          "master with a changed .env; a systemd unit needs `systemctl restart`).")

    collection = Collection("shared")
    collection.add_task(diff)
    collection.add_task(push)
    return collection
