"""Entries: the project's MEDIA_ROOT beside a database backup. `media_backup` archives it (tar) next to the dump
and records the archive in the dump's manifest (sha256, file count, bytes); `media_restore` verifies an archive
(hash, every member inside MEDIA_ROOT) and extracts it beside the live directory (prepare), or removes what prepare
made (discard). The restore's own process swaps the two right after the database (swap_staged: the replaced
directory stays as the safety copy), so that a client gone at that moment leaves both restored, not one."""
import hashlib
import json
import os
import shutil
import tarfile
import time

from .errors import ServerError
from .files import sha256_of, write_private
from .results import MediaInBackup, MediaRestored

SUFFIX = ".media.tar"
CONTENTS = ".contents"  # beside an archive: size + sha256 -> data offset of its files (media_delta)
SAFETY = ".before-restore-"
STAGING = ".restoring-"


def media_root():
    from django.conf import settings

    root = str(getattr(settings, "MEDIA_ROOT", "") or "")
    if not root:
        raise ServerError("MEDIA_ROOT is not set in the project's settings: there is no media directory to back up")
    return os.path.realpath(root)  # on servers release/media links to shared/media: archive and swap that


def read_manifest(dump):
    try:
        with open(dump + ".json") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        raise ServerError("no readable manifest %s.json beside the backup" % dump) from None


class HashingReader:
    """A file read through, hashed on the way (the archive's files are hashed as they are tarred)."""

    def __init__(self, handle):
        self.handle, self.digest = handle, hashlib.sha256()

    def read(self, n=-1):
        block = self.handle.read(n)
        self.digest.update(block)
        return block


def write_archive(root, archive, contents=None):
    """Tar `root` into `archive` in sorted order (members in the same order every time, which lets a later
    archive be sent as a delta of an earlier one); returns (files, bytes of the files). `contents`, a dict, gets
    media_delta.contents() of the archive, computed while writing it."""
    files = size = 0
    with tarfile.open(archive, "w", format=tarfile.PAX_FORMAT) as tar:
        if os.path.isdir(root):
            tar.add(root, arcname=".", recursive=False)
        for directory, subdirs, names in os.walk(root):
            subdirs.sort()
            for name in sorted(subdirs) + sorted(names):
                path = os.path.join(directory, name)
                info = tar.gettarinfo(path, arcname=os.path.relpath(path, root))
                if info is None:  # a socket: not archived (as tar.add does)
                    continue
                if not info.isreg():
                    tar.addfile(info)
                    if info.islnk():  # a second name of a file: extracted as a file
                        files += 1
                        size += os.path.getsize(path)
                    continue
                with open(path, "rb") as handle:
                    reader = HashingReader(handle)
                    tar.addfile(info, reader)
                files += 1
                size += info.size
                if info.size and contents is not None:
                    data_offset = tar.offset - -(-info.size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE
                    contents.setdefault("%d:%s" % (info.size, reader.digest.hexdigest()), data_offset)
    return files, size


def backup(params) -> MediaInBackup:
    """Entry media_backup: archive MEDIA_ROOT beside params["dump"] and add it to the dump's manifest."""
    dump, root = params["dump"], media_root()
    manifest = read_manifest(dump)
    archive = dump + SUFFIX
    partial = archive + ".partial"
    try:
        contents = {}
        files, size = write_archive(root, partial, contents)
        os.chmod(partial, 0o600)
        os.replace(partial, archive)
        write_private(archive + CONTENTS, json.dumps({"size": os.path.getsize(archive), "contents": contents}))
    except OSError as exc:
        if os.path.exists(partial):
            os.unlink(partial)
        raise ServerError("archiving MEDIA_ROOT %s failed: %s" % (root, exc)) from None
    manifest["media"] = {"file": os.path.basename(archive), "sha256": sha256_of(archive), "files": files,
                         "bytes": size, "size": os.path.getsize(archive), "media_root": root,
                         "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    write_private(dump + ".json", json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return dict(manifest["media"], path=archive)


def escapes(name):
    normal = os.path.normpath(name)
    return name.startswith("/") or normal == ".." or normal.startswith("../")


def through_symlink(path, symlinks, itself=False):
    """The symlink member among `symlinks` (normalised names) that `path` goes through (or is, with `itself`), else
    None: what extraction would write there lands wherever that link points, which a lexical check cannot see.
    Each step is looked at before a `..` after it is applied (`s/..` goes through `s`)."""
    parts = [part for part in path.split("/") if part not in ("", ".")]
    current = ""
    for index, part in enumerate(parts):
        current = os.path.normpath(os.path.join(current, part))
        if current in symlinks and (itself or index < len(parts) - 1):
            return current
    return None


def link_lands(name, linkname, links, depth=0):
    """Where symlink member `name` -> `linkname` ends up, relative to MEDIA_ROOT (normalised), following the
    archive's other symlinks (`links`: {normalised name: its target}) on its way; None when it loops."""
    if depth > 40:
        return None
    resolved = ""
    for part in os.path.join(os.path.dirname(name), linkname).split("/"):
        if part in ("", "."):
            continue
        resolved = os.path.normpath(os.path.join(resolved, part))
        if resolved in links and resolved != os.path.normpath(name):
            resolved = link_lands(resolved, links[resolved], links, depth + 1)
            if resolved is None:
                return None
    return resolved or "."


def check_members(tar, archive):
    """Every member a plain file, directory or link that stays inside MEDIA_ROOT, else ServerError. A member whose
    path goes through a symlink of the archive is refused (extracted, it would be written where that link points:
    `s -> .`, `e -> s/..`, `e/file` landed outside MEDIA_ROOT); a symlink is followed through the archive's other
    symlinks to where it really lands (`latest -> current/a.jpg`, `current -> uploads/2024`: inside)."""
    members = tar.getmembers()
    links = {os.path.normpath(member.name): member.linkname for member in members if member.issym()}
    for member in members:
        why = None
        if escapes(member.name):
            why = "its path leaves MEDIA_ROOT"
        elif through_symlink(member.name, links):
            why = "its path goes through the archive's symlink %s" % through_symlink(member.name, links)
        elif member.issym():
            lands = None if member.linkname.startswith("/") else link_lands(member.name, member.linkname, links)
            if lands is None or escapes(lands):
                why = "it is a symlink pointing out of MEDIA_ROOT (to %s)" % member.linkname
        elif member.islnk() and escapes(member.linkname):
            why = "it is a hard link to %s, outside MEDIA_ROOT" % member.linkname
        elif member.islnk() and through_symlink(member.linkname, links, itself=True):
            why = "it links through the archive's symlink %s" % through_symlink(member.linkname, links, itself=True)
        elif not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
            why = "it is not a file, directory or link"
        if why:
            raise ServerError("refusing %s: member %r: %s; the live media is untouched" % (archive, member.name, why))
        if not hasattr(tarfile, "data_filter"):  # no extraction filter in this Python: what it would clear
            member.mode &= 0o755 if member.isdir() else 0o644 | (member.mode & 0o111)
            member.uid, member.gid, member.uname, member.gname = os.getuid(), os.getgid(), "", ""


def verified_archive(dump):
    manifest = read_manifest(dump)
    media = manifest.get("media")
    if not media:
        raise ServerError("backup %s has no media archive in its manifest (take one with `backup --media`)" % dump)
    archive = os.path.join(os.path.dirname(dump), media["file"])
    if not os.path.isfile(archive):
        raise ServerError("media archive %s not found beside the backup" % archive)
    if sha256_of(archive) != media["sha256"]:
        raise ServerError("media archive %s does not match its manifest's sha256: damaged or not the one backed up; "
                          "the live media is untouched" % archive)
    return archive, media


def prepare(root, dump):
    """Verify the archive and extract it into a staging directory beside MEDIA_ROOT; returns the staging path."""
    archive, media = verified_archive(dump)
    staging = "%s%s%d" % (root, STAGING, os.getpid())
    os.makedirs(os.path.dirname(root), exist_ok=True)
    remove_abandoned_staging(root)
    try:
        with tarfile.open(archive) as tar:
            check_members(tar, archive)
            shutil.rmtree(staging, ignore_errors=True)
            os.mkdir(staging, 0o755)
            kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tar.extractall(staging, **kwargs)
            keep_modes(tar, staging)
    except (OSError, tarfile.TarError) as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise ServerError("extracting %s failed (%s); the live media is untouched" % (archive, exc)) from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    found = sum(1 for directory, _, names in os.walk(staging) for name in names
                if not os.path.islink(os.path.join(directory, name)))
    if found != media["files"]:
        shutil.rmtree(staging, ignore_errors=True)
        raise ServerError("%s holds %d files, its manifest says %d; the live media is untouched" % (
            archive, found, media["files"]))
    return staging, media


def keep_modes(tar, staging):
    """The archive's modes back on what was extracted: tarfile's `data` filter gives directories the umask's mode and
    takes group write from files (a 0750 directory came back 0755, a 0664 upload 0644). Never "other" write, setuid,
    setgid or sticky bits; the owner keeps reading and writing (and entering directories)."""
    for member in tar.getmembers():
        path = os.path.join(staging, member.name)
        if os.path.islink(path) or not (member.isdir() or member.isfile()):
            continue
        os.chmod(path, (member.mode & 0o775) | (0o700 if member.isdir() else 0o600))


def swap(root, staging, keep):
    """The staged directory becomes MEDIA_ROOT; the replaced one stays as <MEDIA_ROOT>.before-restore-<UTC>."""
    safety = None
    if os.path.lexists(root):
        stamp = root + SAFETY + time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        safety, counter = stamp, 1
        while os.path.lexists(safety):  # a restore in the same second kept one already
            counter += 1
            safety = "%s-%d" % (stamp, counter)
        os.rename(root, safety)
    try:
        os.rename(staging, root)
    except OSError:
        if safety:
            os.rename(safety, root)
        raise
    return safety, prune_safety(root, keep, safety)


def prune_safety(root, keep, protect):
    parent, base = os.path.split(root)
    copies = sorted(os.path.join(parent, n) for n in os.listdir(parent) if n.startswith(base + SAFETY))
    removed = []
    for path in copies[:max(0, len(copies) - keep)] if keep else []:
        if path != protect:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def remove_abandoned_staging(root):
    """Staging directories whose restore process is gone (killed, or its client Ctrl-C'd during the extraction)."""
    parent, base = os.path.split(root)
    for name in os.listdir(parent):
        pid = name[len(base + STAGING):]
        if name.startswith(base + STAGING) and pid.isdigit() and not os.path.exists("/proc/" + pid):
            shutil.rmtree(os.path.join(parent, name), ignore_errors=True)


def checked_staging(root, staging):
    if os.path.dirname(staging) != os.path.dirname(root) or not os.path.basename(staging).startswith(
            os.path.basename(root) + STAGING):
        raise ServerError("%s is not a staged media directory of %s" % (staging, root))
    return staging


def remove_upload(uploaded):
    if uploaded and uploaded.endswith(SUFFIX) and os.path.isfile(uploaded):
        os.unlink(uploaded)  # an archive uploaded for this restore goes, whatever the outcome


def swap_staged(params) -> MediaRestored:
    """After the database's restore, in its process: the staged media becomes MEDIA_ROOT. A swap that fails
    leaves the live media as it was, the staged copy removed, and says why (the database stays restored)."""
    root = media_root()
    remove_upload(params.get("uploaded"))
    staging = checked_staging(root, params["staging"])
    try:
        safety, pruned = swap(root, staging, params.get("keep", 0))
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        return {"media_root": root, "failed": "%s: %s" % (type(exc).__name__, exc)}
    return {"media_root": root, "safety": safety, "pruned": pruned}


def restore(params) -> MediaRestored:
    """Entry media_restore: action prepare (verify + extract beside), or discard."""
    root = media_root()
    if params["action"] == "prepare":
        staging, media = prepare(root, params["dump"])
        return {"staging": staging, "media_root": root, "files": media["files"], "bytes": media["bytes"]}
    remove_upload(params.get("uploaded"))
    shutil.rmtree(checked_staging(root, params["staging"]), ignore_errors=True)
    return {"discarded": params["staging"]}
