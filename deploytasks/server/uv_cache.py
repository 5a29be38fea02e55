"""The server's uv cache kept to what its venvs use. uv unpacks each wheel once into the cache (archive-v0/<id>)
and hard-links its files into every venv that installs it, so an entry whose files no venv links any more (its
dist-info METADATA has one link: the cache's own) belongs to venvs that were pruned. Such entries are removed
after a deploy prunes venvs, with the index files that point to them; everything any venv of any deploy path
sharing the cache uses stays, so the next requirements change is as cheap as before. A removed package is a cache
miss: fetched from the index again if ever needed. Done under uv's own cache lock (`.lock`, which a running uv
holds shared): when a uv runs, nothing is removed this time."""
import errno
import fcntl
import glob
import os
import re
import subprocess

# an entry being removed is renamed out of uv's sight first (the next prune removes one whose removal was cut short)
ASIDE = ".deploytasks-pruned-"
POINTER_SUFFIXES = (".msgpack", ".rev", ".http")  # uv's files that map a wheel to its archive entry
# uv's error for an index file naming an archive entry that is gone (its --refresh does not get past it)
DANGLING = re.compile(r"failed to read directory\s+`([^`]*/archive-v0/[^`/]+)`")


def cache_of(layout):
    """The deploy path's uv cache directory (a symlink to the user's shared one, or its own), or None."""
    cache = os.path.realpath(os.path.join(layout.tools, "uv-cache"))
    return cache if os.path.isdir(os.path.join(cache, "archive-v0")) else None


def metadata_files(venv):
    return glob.glob(os.path.join(venv, "lib", "python*", "site-packages", "*.dist-info", "METADATA"))


def hard_linked_from(cache, venv) -> bool:
    """Whether `venv` was installed by hard links from `cache` (uv's default on one file system): only then do link
    counts tell which entries venvs use. A venv copied from the cache (UV_LINK_MODE=copy, another file system) or
    built by pip has no file with a second link, and nothing is pruned."""
    try:
        if os.stat(venv).st_dev != os.stat(cache).st_dev:
            return False
    except OSError:
        return False
    for metadata in metadata_files(venv):
        try:
            if os.stat(metadata).st_nlink > 1:
                return True
        except OSError:
            continue
    return False


def unused_entries(cache):
    """archive-v0 entries whose dist-info METADATA no venv links (entries without one are left alone)."""
    archive = os.path.join(cache, "archive-v0")
    unused = []
    for name in sorted(os.listdir(archive)):
        entry = os.path.join(archive, name)
        found = glob.glob(os.path.join(entry, "*.dist-info", "METADATA"))
        try:
            if found and all(os.stat(metadata).st_nlink == 1 for metadata in found):
                unused.append(entry)
        except OSError:
            continue
    return unused


def pointers_to(cache, ids):
    """{entry id: the cache's index files that name it} for those of the archive entries `ids` that some index
    file names: uv fetches a wheel again when a PyPI pointer's entry is missing, but fails on one of a wheel from
    local files or another index (".rev"), so an entry goes only with its pointers (one no file is found to name,
    in a cache layout this does not know, stays)."""
    wanted = {name: name.encode() for name in ids}
    found = {}
    if not wanted:
        return found
    for top in glob.glob(os.path.join(cache, "wheels-v*")) + glob.glob(os.path.join(cache, "sdists-v*")):
        for root, _dirs, files in os.walk(top):
            for name in files:
                if not name.endswith(POINTER_SUFFIXES):
                    continue
                path = os.path.join(root, name)
                try:
                    with open(path, "rb") as handle:
                        data = handle.read(1 << 20)
                except OSError:
                    continue
                for entry_id, encoded in wanted.items():
                    if encoded in data:
                        found.setdefault(entry_id, []).append(path)
    return found


def disk_bytes(directory):
    total = 0
    for root, _dirs, files in os.walk(directory):
        for name in files:
            try:
                info = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            if info.st_nlink == 1:
                total += info.st_blocks * 512
    return total


def package_name(entry):
    found = glob.glob(os.path.join(entry, "*.dist-info"))
    return os.path.basename(found[0])[: -len(".dist-info")] if found else os.path.basename(entry)


def prune_unused(cache, live_venv):
    """Remove the cache's entries no venv links: {"removed": [name-version, ...], "bytes": freed}, or
    {"skipped": why} when link counts cannot tell (see hard_linked_from) or a uv is using the cache."""
    if not hard_linked_from(cache, live_venv):
        return {"skipped": "the live venv is not hard-linked from the uv cache"}
    with open(os.path.join(cache, ".lock"), "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
                return {"skipped": "a uv process is using the cache"}
            raise
        removed, freed, asides = [], 0, glob.glob(os.path.join(cache, ASIDE + "*"))
        pointers = pointers_to(cache, [os.path.basename(entry) for entry in unused_entries(cache)])
        for entry_id, files in sorted(pointers.items()):
            remove_pointers(files)  # first: an entry without its pointer is a cache miss, a pointer without it an error
        for entry in [os.path.join(cache, "archive-v0", entry_id) for entry_id in sorted(pointers)]:
            name, size = package_name(entry), disk_bytes(entry)
            aside = os.path.join(cache, ASIDE + os.path.basename(entry))
            os.rename(entry, aside)
            asides.append(aside)
            removed.append(name)
            freed += size
    remove_in_background(asides)
    return {"removed": removed, "bytes": freed}


def remove_in_background(directories):
    """rm -rf the entries set aside, in a process of its own at the lowest priority: removing thousands of files
    takes a quarter of a second per package that the deploy need not wait for (one killed halfway leaves them to
    the next prune)."""
    if directories:
        subprocess.Popen(["nice", "-n", "19", "rm", "-rf", "--"] + directories, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True)


def repair_dangling(uv_output):
    """When uv failed on index files naming archive entries that are gone (removed by hand or by another tool), remove
    those files, under uv's cache lock: the next install fetches the wheels again. Returns the entries repaired."""
    repaired = []
    for entry in sorted(set(DANGLING.findall(uv_output or ""))):
        cache, entry_id = os.path.dirname(os.path.dirname(entry)), os.path.basename(entry)
        if os.path.exists(entry) or not os.path.isfile(os.path.join(cache, ".lock")):
            continue
        with open(os.path.join(cache, ".lock"), "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            remove_pointers(pointers_to(cache, [entry_id]).get(entry_id, []))
        repaired.append(entry)
    return repaired


def remove_pointers(files):
    for pointer in files:
        try:
            os.unlink(pointer)
        except FileNotFoundError:  # one file naming two entries, removed with the first
            pass
