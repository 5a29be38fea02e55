"""A server's backup from the laptop: taken there (streamed down while it is written, over OpenSSH's client),
its media archived beside it, downloaded and verified into backups/<host>/, copied off-site; and an off-site
backup fetched back into backups/<host>/ for `fab restore --from-offsite`."""
import dataclasses
import json
import os
import posixpath

from fabric import Connection
from invoke import Context

from . import backups as backup_store
from . import fleet_deploy, fleet_hosts, tables, transfer
from . import media as media_dir
from . import offsite as offsite_copies
from .connection import connect
from .errors import DeployTasksError
from .flows import checked
from .host_names import host_name
from .output import console, messages_to_stderr, print_json, show
from .settings import load
from .shell import is_dry, q, run
from .target import live, server


def backup(c, *, download, as_json, media, offsite, label=None):
    """`fab backup`: the live database backed up (on the migrate host when -H names several: they share it),
    downloaded unless told not to, copied off-site with `offsite` or deploytasks.backup_offsite."""
    with messages_to_stderr(as_json):
        manifest = _backup(c, download=download, as_json=as_json, media=media, offsite=offsite, label=label)
    if as_json and manifest:
        print_json(manifest)


def _backup(c, *, download, as_json, media, offsite, label=None):
    backup_store.check_label(label)
    c = _backup_host(c)
    if c is None:
        return None
    settings, project = live(c, open_now=False)  # Fabric's own connection is opened only if it is needed
    rclone = None
    if offsite or settings.backup_offsite:  # checked before anything is taken
        if settings.offsite_from == "local" and not download:
            raise DeployTasksError("--no-download leaves no local copy to send off-site: drop it, or set "
                                   "deploytasks.offsite_from: server")
        rclone = offsite_side(c, settings)
    manifest = take(c, settings, project, download=download, media=media or settings.backup_media, quiet=as_json,
                    label=label)
    if manifest and rclone and not is_dry(c):
        manifest["offsite"] = _upload_offsite(c, settings, rclone, manifest)
        offsite_copies.report(manifest["offsite"])
    return manifest


def _backup_host(c):
    """The context to back up from; None on a host of -H a,b that is not the migrate host (said so)."""
    fleet = fleet_hosts.resolve(c, "backup")
    c = fleet.context
    if not fleet.hosts:
        return c
    migrator = fleet_deploy.migrate_host_name(fleet.hosts, load(c))
    if isinstance(c, Connection) and host_name(c) in fleet.hosts:  # -H a,b: Fabric calls this once per host
        if host_name(c) != migrator:
            console.print(f"{host_name(c)}: no backup: the hosts share one database, backed up once on "
                          f"{migrator}", highlight=False)
            return None
        return c
    return Connection(migrator, config=c.config.clone())  # the config's hosts: this is the only call


def _upload_offsite(c, settings, rclone, manifest):
    """The backup copied off-site from rclone's side: the local copy, or the server's file."""
    local = settings.offsite_from == "local"
    archive = (manifest.get("media") or {}).get("file")
    copies = local_dir(settings, host_name(c))
    return offsite_copies.upload(
        rclone, manifest, manifest["local_path"] if local else manifest["path"],
        archive and (os.path.join(copies, archive) if local else manifest["media"]["path"]),
        keep=settings.keep_offsite)


def take(c, settings, project, *, download, media, quiet, label=None):
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
        manifest = backup_store.take(c, project, settings, dest=remote_dir, host=host_name(c), label=label,
                                     receive=streamed if download else None, server_path=settings.path)
        if manifest is None:
            return None
        console.print(f"[green]✓[/] {host_name(c)}:{manifest['path']} ({manifest['size']:,} bytes, {checked(manifest)} ok)")
        if manifest.get("notice"):
            console.print(f"  [yellow]note:[/] {manifest['notice']}", highlight=False)
        backup_store.warn_not_dumped(manifest)
        if media:  # right after the dump, before any download
            connect(c, settings)
            try:
                media_dir.back_up(c, project, manifest, quiet=quiet)
            except DeployTasksError as exc:
                raise DeployTasksError(f"{exc}; the database backup taken with it was removed (with --media a backup "
                                       f"is both or neither): {without_media(c, manifest)}") from None
        if download and not is_dry(c) and "local_path" not in manifest:
            connect(c, settings)
            manifest["local_path"] = transfer.download(c, manifest["path"], copies, manifest, settings)
    if "local_path" in manifest:
        sent = manifest.get("sent")
        on_the_way = f"; {sent['compression']} on the way: {sent['bytes']:,} bytes sent" if sent else ""
        console.print(f"[green]✓[/] downloaded to {manifest['local_path']} (sha256 {manifest['sha256'][:12]}…"
                      f"{on_the_way})", highlight=False)
    if manifest.get("media") and "local_path" in manifest:
        media_dir.fetch(c, project, settings, manifest, copies, quiet=quiet)
    if "local_path" in manifest:
        from .server.manifests import prune_backups

        manifest["pruned_local"] = prune_backups(copies, settings.keep_backups,
                                                 protect={os.path.basename(manifest["local_path"])})
    report_pruned(manifest, settings.keep_backups, host_name(c))
    return manifest


def without_media(c, manifest) -> str:
    """Remove the dump (and its manifest) a backup whose media could not be archived took, on the server and here;
    says what went."""
    remote = manifest["path"]
    run(c, f"rm -f {q(remote)} {q(remote + '.json')}", what="removing the backup without its media", check=False)
    for path in filter(None, [manifest.get("local_path")]):
        for leftover in (path, path + ".json"):
            if os.path.exists(leftover):
                os.unlink(leftover)
    return posixpath.basename(remote)


def report_pruned(manifest, keep, host):
    """One line naming the backups retention removed (keep_backups of each kind), on the server and here."""
    where = [f"{len(names)} on {place} ({', '.join(names)})" for place, names in
             ((host, manifest.get("pruned") or []), ("this machine", manifest.get("pruned_local") or [])) if names]
    if where:
        console.print(f"  removed the oldest backups beyond keep_backups ({keep} of each kind): {'; '.join(where)}",
                      highlight=False, soft_wrap=True)


def show_listing(c, *, as_json, offsite):
    """`fab backups`: the server's backups beside their local copies in backups/<host>/ (`offsite`: the
    off-site copies instead), as a table or JSON."""
    if offsite:
        settings = server(c, open_now=False)
        offsite_copies.show_listing(offsite_side(c, settings), as_json)
        return
    settings, project = live(c)
    project = dataclasses.replace(project, root=settings.path)  # listing needs no release, only the server's Python
    remote = backup_store.listing(c, project, posixpath.join(settings.path, "backups"))
    copies = local_dir(settings, host_name(c))
    local = {}
    if os.path.isdir(copies):
        for name in os.listdir(copies):
            if name.endswith(".json"):
                with open(os.path.join(copies, name)) as handle:
                    local[name[:-5]] = json.load(handle)
    if as_json:
        print_json({"host": host_name(c), "server": remote, "local": list(local.values()), "local_dir": copies})
        return
    show(tables.server_backups_table(f"Backups of {host_name(c)}", remote, local))


def copy_of_named(c, settings, project, name):
    """`fab restore NAME` where NAME is no local path: its copy in backups/<host>/, else the server's backup of that
    name (in {path}/backups/, as `fab backups` lists it) downloaded there first, checked against its manifest."""
    if os.sep in name:
        return os.path.abspath(os.path.expanduser(name))  # a path: its check says it is missing
    copies = local_dir(settings, host_name(c))
    local = os.path.join(copies, name)
    if os.path.exists(local):
        return local
    project = dataclasses.replace(project, root=settings.path)
    listed = backup_store.listing(c, project, posixpath.join(settings.path, "backups"))
    remote = {entry.get("file"): entry for entry in listed}
    entry = remote.get(name)
    if entry is None or not entry.get("present"):
        raise DeployTasksError(f"no backup {name} here ({name}, {local}) nor on {host_name(c)} (`fab -H "
                               f"{host_name(c)} backups` lists them)")
    if is_dry(c):
        console.print(f"[dim]dry-run:[/] download {host_name(c)}:{entry['path']} to {copies}/", highlight=False)
        return None
    with backup_store.ignored_by_git(os.path.dirname(copies), copies):
        local = transfer.download(c, entry["path"], copies, entry, settings)
        media = entry.get("media")
        if media:  # the archive described in the dump's manifest comes along, for --media
            archive = transfer.download(c, posixpath.join(posixpath.dirname(entry["path"]), media["file"]), copies,
                                        {"sha256": media["sha256"], "size": media["size"]}, settings)
            os.unlink(archive + ".json")
    return local


def local_dir(settings, host):
    """backups/<host>/ of the local project (deploytasks.backups), where a server's backups are copied."""
    base = settings.backups if settings.backups.startswith("/") else os.path.join(
        os.path.abspath(os.path.expanduser(settings.project)), settings.backups)
    return os.path.join(base, host)


def offsite_side(c, settings):
    """The rclone that reaches deploytasks.offsite: on this machine, or on the server (deploytasks.offsite_from),
    checked to be installed there."""
    if settings.offsite_from == "server":
        connect(c, settings)
        rclone = offsite_copies.Rclone(c, settings, host_name(c))
    else:
        rclone = offsite_copies.Rclone(Context(config=c.config), settings, "local")
    if not is_dry(c):
        rclone.require()
        rclone.require_remote()
    return rclone


def fetch_offsite(c, settings, name, media, unverified):
    """An off-site backup fetched verified into backups/<host>/ (through the server when offsite_from is server:
    fetched and checked there, then downloaded checked again); its local path, or None under --dry."""
    rclone = offsite_side(c, settings)
    copies = local_dir(settings, host_name(c))
    if settings.offsite_from == "local":
        with backup_store.ignored_by_git(*([] if is_dry(c) else [os.path.dirname(copies), copies])):
            return offsite_copies.fetch_for_restore(rclone, name, copies, media, unverified)[0]
    staging = posixpath.join(settings.path, "backups", "offsite-fetched")
    fetched, manifest = offsite_copies.fetch_for_restore(rclone, name, staging, media, unverified)
    if fetched is None:
        return None
    try:
        with backup_store.ignored_by_git(os.path.dirname(copies), copies):
            local = transfer.download(c, fetched, copies, manifest, settings)
            if media:
                entry = manifest["media"]
                archive = transfer.download(c, posixpath.join(staging, entry["file"]), copies,
                                            {"sha256": entry["sha256"], "size": entry["size"]}, settings)
                os.unlink(archive + ".json")  # the archive is described in the dump's manifest
    finally:
        run(c, f"rm -rf {q(staging)}", what="removing the fetched copy on the server", check=False)
    return local
