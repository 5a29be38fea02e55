"""A server's backup from the laptop: taken there (streamed down while it is written, over OpenSSH's client),
its media archived beside it, downloaded and verified into backups/<host>/."""
import os
import posixpath

from . import backups as backup_store
from . import media as media_dir
from . import transfer
from .connection import connect, host_name
from .flows import checked
from .output import console
from .shell import is_dry


def take(c, settings, project, *, download, media, quiet):
    """Back up the live database (and MEDIA_ROOT with `media`), download it unless told not to; its manifest
    (with `local_path` when downloaded), or None under --dry. Fabric's connection is opened only when needed."""
    remote_dir = posixpath.join(settings.path, "backups")
    copies = local_dir(settings, host_name(c))

    def streamed(command, document, ship):  # the copy streams down while the server writes it, over OpenSSH's client
        def connected_ship():
            connect(c, settings)
            ship()
        manifest = transfer.stream_backup(c, settings, command, document, copies, connected_ship)
        if manifest is None:
            connect(c, settings)
        return manifest

    if not download or is_dry(c):
        connect(c, settings)
    with backup_store.ignored_by_git(*([os.path.dirname(copies), copies] if download and not is_dry(c) else [])):
        manifest = backup_store.take(c, project, settings, dest=remote_dir, host=host_name(c),
                                     receive=streamed if download else None, server_path=settings.path)
        if manifest is None:
            return None
        console.print(f"[green]✓[/] {host_name(c)}:{manifest['path']} ({manifest['size']:,} bytes, {checked(manifest)} ok)")
        if manifest.get("notice"):
            console.print(f"  [yellow]note:[/] {manifest['notice']}", highlight=False)
        if media:  # right after the dump, before any download
            connect(c, settings)
            media_dir.back_up(c, project, manifest, quiet=quiet)
        if download and not is_dry(c) and "local_path" not in manifest:
            connect(c, settings)
            manifest["local_path"] = transfer.download(c, manifest["path"], copies, manifest, settings)
    if "local_path" in manifest:
        console.print(f"[green]✓[/] downloaded to {manifest['local_path']} (sha256 {manifest['sha256'][:12]}…)")
    if manifest.get("media") and "local_path" in manifest:
        media_dir.fetch(c, project, settings, manifest, copies, quiet=quiet)
    return manifest


def local_dir(settings, host):
    """backups/<host>/ of the local project (deploytasks.backups), where a server's backups are copied."""
    base = settings.backups if settings.backups.startswith("/") else os.path.join(
        os.path.abspath(os.path.expanduser(settings.project)), settings.backups)
    return os.path.join(base, host)
