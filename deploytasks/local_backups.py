"""`inv backup`: the local project's database backed up (options checked first), its media archived beside it,
copied off-site, then reported; `inv backups`: the local (or off-site) backups listed."""
import re

from . import backups as backup_store
from . import media as media_dir
from . import offsite as offsite_copies
from . import tables
from .errors import DeployTasksError
from .flows import checked
from .output import console, print_json, show
from .shell import is_dry


def backup(c, settings, project, *, keep, label, as_json, media, offsite):
    """Take a verified backup into deploytasks.backups (`keep` and `label` as typed), with MEDIA_ROOT when
    `media` or deploytasks.backup_media, off-site when `offsite` or deploytasks.backup_offsite; print it."""
    if keep is not None and not re.fullmatch(r"\d+", keep):
        raise DeployTasksError(f"--keep must be a whole number (0 keeps all), not {keep!r}")
    backup_store.check_label(label)
    rclone = offsite_copies.Rclone(c, settings, "local") if offsite or settings.backup_offsite else None
    if rclone and not is_dry(c):
        rclone.require()  # before the backup: one line, nothing taken
        rclone.require_remote()
    with backup_store.ignored_by_git(*([] if is_dry(c) else [backup_store.backup_dir(project, settings)])):
        manifest = backup_store.take(c, project, settings, keep=None if keep is None else int(keep), label=label)
        if manifest is not None and (media or settings.backup_media):
            media_dir.back_up(c, project, manifest, quiet=True)  # reported below, after the dump
    if manifest is None:
        return
    if rclone:
        manifest["offsite"] = offsite_copies.upload(
            rclone, manifest, manifest["path"], (manifest.get("media") or {}).get("path"), keep=settings.keep_offsite)
    if as_json:
        print_json(manifest)
    else:
        report(manifest)


def report(manifest):
    """What `inv backup` prints: the file, its size, hash and checks, then its media, pruning and off-site copy."""
    console.print(
        f"[green]✓[/] backup {manifest['path']}\n"
        f"  {manifest['size']:,} bytes, sha256 {manifest['sha256'][:16]}…, {checked(manifest)} ok, "
        f"{manifest['seconds']}s"
    )
    if manifest.get("notice"):
        console.print(f"  [yellow]note:[/] {manifest['notice']}", highlight=False)
    backup_store.warn_not_dumped(manifest)
    if manifest.get("media"):
        media_dir.report(manifest["media"])
    if manifest["pruned"]:
        console.print(f"  removed {len(manifest['pruned'])} old backup(s): {', '.join(manifest['pruned'])}")
    if manifest.get("offsite"):
        offsite_copies.report(manifest["offsite"])


def show_listing(c, settings, project, *, as_json, verify, offsite):
    """`inv backups`: the backups in deploytasks.backups, newest first (`verify`: every file's sha256 re-checked;
    `offsite`: those in deploytasks.offsite instead), as a table or JSON."""
    if offsite:
        offsite_copies.show_listing(offsite_copies.Rclone(c, settings, "local"), as_json)
        return
    directory = backup_store.backup_dir(project, settings)
    rows = backup_store.listing(c, project, directory, verify=verify)
    if as_json:
        print_json({"dir": directory, "backups": rows})
    elif not rows:
        console.print(f"No backups in {directory}.")
    else:
        show(tables.backups_table(f"Backups in {directory}", rows))
