"""Backups: take one, list them, restore one, on whichever side the context runs."""
import hashlib
import os
import posixpath
import re
from contextlib import contextmanager
from typing import Optional

from . import __version__
from . import bundle, openssh
from .django import run_django_script
from .errors import DeployTasksError
from .output import console
from .server.results import RestoreResult
from .shell import is_dry, request, run_script


def backup_dir(project, settings) -> str:
    if project.backups:
        return project.backups
    return settings.backups if settings.backups.startswith("/") else project.path(settings.backups)


@contextmanager
def ignored_by_git(*directories):
    """After the block, each of these local backups directories that exists holds a `.gitignore` of `*`, as
    pytest's cache does: dumps hold password hashes and must never be committed. Nothing is created for a
    block that created nothing (a refused restore leaves no directory), a failed block touches no directory
    it did not create, an existing .gitignore is kept, and a directory made in the block is made 0700."""
    existed = {directory: os.path.isdir(directory) for directory in directories}
    succeeded = False
    try:
        yield
        succeeded = True
    finally:
        for directory in directories:
            if not existed[directory] and os.path.isdir(directory):
                os.chmod(directory, 0o700)  # e.g. backups/ made as the parent of backups/<host>/
            ignore = os.path.join(directory, ".gitignore")
            if (succeeded or not existed[directory]) and os.path.isdir(directory) and not os.path.lexists(ignore):
                with open(ignore, "x") as handle:
                    handle.write("# created by deploytasks: backups hold password hashes, never commit them\n*\n")


def check_label(label) -> None:
    """--label as typed: a word for the file name (DeployTasksError otherwise); None is no label."""
    if label is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", label):
        raise DeployTasksError(f"--label must be a letter or digit, then letters, digits, '.', '_' or '-', not "
                               f"{label!r}")


def take(c, project, settings, *, dest=None, keep=None, label=None, host=None, receive=None, server_path=None):
    """Dump, verify, checksum and describe the database; returns the manifest (None under --dry).
    receive(command, document, ship): a way to run the backup (`document` on its stdin) that also takes the
    copy's bytes as they are written (the server streams them), calling ship() to upload the server code when
    the command exits bundle.MISSING; when it returns None, the backup is taken the plain way. server_path: the
    server's deploy path, whose stale uploads the backup removes when nobody holds the lock."""
    params = {
        "database": settings.database,
        "dest": dest or backup_dir(project, settings),
        "keep": settings.keep_backups if keep is None else keep,
        "label": label,
        "host": host,
        "version": __version__,
        "server_path": server_path,
    }
    if receive is not None and not is_dry(c):
        command = bundle.locator(project.tools or None) + project.settings_script_command()
        streamed = dict(params, stream=True,
                        stream_compression=openssh.can_decompress() if settings.compress_transfers else None)
        manifest = receive(command, request("backup", streamed), lambda: bundle.ship(c, project.tools))
        if manifest is not None:
            return manifest
    return run_django_script(
        c, project, "backup", params, what="backup", changes=True, settings_only=True,
        description=f"back up the {settings.database!r} database into {params['dest']}",
    )


def warn_not_dumped(manifest) -> None:
    """One WARN line naming DATABASES' aliases a backup did not dump (its manifest's other_databases)."""
    others = manifest.get("other_databases")
    if others:
        console.print(f"  [yellow]WARN[/] only {manifest.get('database_alias', 'default')!r} was dumped: "
                      f"{', '.join(others)} {'is' if len(others) == 1 else 'are'} not in this backup (deploytasks "
                      "backs up one database: the others are the project's to back up)", highlight=False)


def listing(c, project, directory, verify=False) -> list:
    params = {"dir": directory, "verify": verify}
    data = run_script(c, project.python_script_command(project.base_python), "list_backups", params,
                      what="listing backups", tools=project.tools or None)
    return data["backups"]


def restore(c, project, settings, path, *, apply, unverified=False, safety_dest=None, verified=None, received=None,
            consume=False, lock=None, started=None, media=None, log=None) -> Optional[RestoreResult]:
    """Verify a backup on the side `c` runs; with apply, back up the live database and restore.
    `verified`: the file fingerprint a check just reported; when the file is unchanged it is not re-read.
    `received`: {"fingerprint", "sha256"} of an upload hashed as it arrived: its checksum is not recomputed.
    `consume`: the file is an upload that may itself become the live database (moved, not copied).
    `lock`: a deploy lock the caller holds, released by a restore that succeeded (reported as "unlocked").
    `started`: the restore's server command, already running (restores.WarmRestore).
    `media`: staged media (media.prepare) the restore's process swaps in right after the database.
    `log`: the releases.log entry the server writes once it restored (with `lock`: a server's restore)."""
    params = {
        "consume": consume,
        "lock": lock if apply else None,
        "verified": verified,
        "received": received,
        "database": settings.database,
        "file": path,
        "apply": apply,
        "unverified": unverified,
        "safety_dest": safety_dest or backup_dir(project, settings),
        "version": __version__,
        "media": media if apply else None,
        "log": log if apply else None,
        "keep": settings.keep_backups,  # the safety backups' retention (their kind apart)
    }
    return run_django_script(
        c, project, "restore", params, what="restore", changes=apply,
        description=f"safety backup, then restore {path}", settings_only=True, started=started,
    )


def resolve_path(project, settings, name) -> str:
    """A backup named by path, or by file name inside the backups directory."""
    if name.startswith("/"):
        return name
    if "/" in name:
        return posixpath.normpath(posixpath.join(project.root, name))
    return posixpath.join(backup_dir(project, settings), name)


def sha256_of(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_local(path, unverified=False, full=True) -> dict:
    """Check a local backup against its manifest before it travels anywhere; returns the manifest.
    full=False leaves the sha256 to the side that receives it (it hashes the bytes as they arrive)."""
    import json
    import os

    from .errors import DeployTasksError

    if not os.path.isfile(path):
        raise DeployTasksError(f"backup file {path} not found")
    manifest_path = path + ".json"
    if not os.path.isfile(manifest_path):
        if unverified:
            return {}
        raise DeployTasksError(f"no manifest {manifest_path} beside the backup: pass --unverified to restore it anyway")
    try:
        with open(manifest_path) as handle:
            manifest = json.load(handle)
    except ValueError:
        raise DeployTasksError(f"manifest {manifest_path} is not valid JSON") from None
    size = os.path.getsize(path)
    if size != manifest.get("size"):
        raise DeployTasksError(f"{path} is {size} bytes but its manifest says {manifest.get('size')}: the file is truncated or changed")
    if not full:
        return manifest
    if sha256_of(path) != manifest.get("sha256"):
        raise DeployTasksError(f"{path} does not match its manifest's sha256: the file is damaged or not the one backed up")
    return manifest
