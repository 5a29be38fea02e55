"""Which directories running processes use (Linux /proc): a venv or release an app server runs from must not be
deleted under it. A process uses a directory when its executable, its working directory, a file it has mapped
(a shared library, an extension module) or, for a Python process, a path on its command line (the interpreter
a venv script's shebang names, the script) lies inside it. Only processes this user may inspect are seen (all
of them as root); where /proc does not exist nothing is reported in use."""
import os


def _inside(path, roots):
    """The roots `path` lies in (roots: real paths)."""
    return {root for root in roots if path == root or path.startswith(root + os.sep)}


def _link(pid, name):
    try:
        return os.readlink("/proc/%s/%s" % (pid, name))
    except OSError:
        return None


def _mapped(pid):
    try:
        with open("/proc/%s/maps" % pid, "rb") as handle:
            lines = handle.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return set()
    return {line.split(None, 5)[5].replace(" (deleted)", "") for line in lines if len(line.split(None, 5)) == 6}


def _python_arguments(pid, exe):
    """Absolute paths on a Python process's command line: as written (a venv's interpreter is named by the path
    it was started with, its executable being the base Python's) and resolved."""
    try:
        with open("/proc/%s/cmdline" % pid, "rb") as handle:
            argv = [arg.decode("utf-8", "replace") for arg in handle.read().split(b"\0") if arg]
    except OSError:
        return set()
    if not argv or "python" not in os.path.basename(exe or argv[0]):
        return set()
    paths = set()
    for arg in argv:
        if arg.startswith("/"):
            paths.add(os.path.normpath(arg))
            paths.add(os.path.realpath(arg))
    return paths


def paths_of(pid):
    """Every path process `pid` is seen to use (empty when it is gone or not ours to inspect)."""
    exe = _link(pid, "exe")
    found = {path for path in (exe, _link(pid, "cwd")) if path}
    found |= _mapped(pid)
    found |= _python_arguments(pid, exe)
    return {path.replace(" (deleted)", "") for path in found}


def _stat(pid):
    """(comm, ppid) of a process, or None when it is gone or a zombie."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as handle:
            raw = handle.read()
    except OSError:
        return None
    fields = raw[raw.rfind(b")") + 2:].split()
    if fields[0] == b"Z":
        return None
    return raw[raw.find(b"(") + 1:raw.rfind(b")")].decode("utf-8", "replace"), int(fields[1])


def ourselves():
    """This process and its ancestors (a `cd release && python …` shell that started us is us, not a user)."""
    pids, pid = set(), os.getpid()
    while pid and str(pid) not in pids:
        pids.add(str(pid))
        stat = _stat(pid)
        pid = stat[1] if stat else None
    return pids


def other_pids():
    """The pids (as /proc names them) of the running processes but this one and its ancestors."""
    if not os.path.isdir("/proc"):
        return []
    us = ourselves()
    return [pid for pid in os.listdir("/proc") if pid.isdigit() and pid not in us]


def in_use(directories):
    """The directories (as given) that some other running process uses."""
    real = {os.path.realpath(directory): directory for directory in directories}
    if not real:
        return set()
    used = set()
    for pid in other_pids():
        for path in paths_of(pid):
            used |= _inside(path, real)
        if len(used) == len(real):
            break
    return {real[root] for root in used}


def users_of(directory):
    """[(pid, command line)] of the other running processes that use `directory` (see paths_of)."""
    real = {os.path.realpath(directory): directory}
    found = []
    for pid in other_pids():
        if any(_inside(path, real) for path in paths_of(pid)):
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as handle:
                    command = handle.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
            except OSError:
                continue
            found.append((int(pid), command))
    return found


def commands_naming(path):
    """The pids of other processes whose command line names `path` or a path under it (an upload's receiving
    shell, whose last step still writes there once its input has ended)."""
    found = []
    for pid in other_pids():
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as handle:
                if path.encode() in handle.read():
                    found.append(int(pid))
        except OSError:
            continue
    return found


def group_members_in(group, directory):
    """The pids of process group `group` that use `directory` (a dead supervisor's children working in the deploy
    path; a reused group number of another program's does not match)."""
    real = {os.path.realpath(directory): directory}
    members = []
    for pid in other_pids():
        try:
            with open("/proc/%s/stat" % pid, "rb") as handle:
                raw = handle.read()
        except OSError:
            continue
        fields = raw[raw.rfind(b")") + 2:].split()
        if fields[0] != b"Z" and int(fields[2]) == group and any(_inside(path, real) for path in paths_of(pid)):
            members.append(int(pid))
    return members


def _descriptors(unreadable=None):
    """/proc/<pid>/fd/<n> of every other process (a generator); the pids whose open files this user may not
    inspect are appended to `unreadable`."""
    if not os.path.isdir("/proc"):
        return
    me = str(os.getpid())
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or pid == me:
            continue
        try:
            fds = os.listdir("/proc/%s/fd" % pid)
        except FileNotFoundError:
            continue
        except OSError:
            if unreadable is not None:
                unreadable.append(pid)
            continue
        for fd in fds:
            yield "/proc/%s/fd/%s" % (pid, fd)


def _open_files():
    """Every path another process has open (a generator: stop early when the answer is known)."""
    for descriptor in _descriptors():
        try:
            yield os.readlink(descriptor)
        except OSError:
            continue


def files_open_under(directory):
    """Whether any other process has a file inside `directory` open."""
    root = os.path.realpath(directory) + os.sep
    return any(target.startswith(root) for target in _open_files())


def files_open(paths):
    """The paths (as given) some other process has open."""
    real = {os.path.realpath(path): path for path in paths}
    return {real[target] for target in _open_files() if target in real}


def inode_open_elsewhere(device, inode):
    """Whether another process has the file (device, inode) open, whatever path it was opened by: True, False,
    or None when some process's open files could not be inspected (another user's, when not root)."""
    if not os.path.isdir("/proc"):
        return None
    unreadable = []
    for descriptor in _descriptors(unreadable):
        try:
            found = os.stat(descriptor)
        except OSError:
            continue
        if found.st_ino == inode and found.st_dev == device:
            return True
    return None if unreadable else False
