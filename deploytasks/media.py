"""`backup --media` / `restore --media`: MEDIA_ROOT archived beside the dump, restored by a directory swap
(server/media_archive.py does the work where the project runs)."""
import json
import os
import posixpath

from .django import run_django_script
from .output import console


def back_up(c, project, manifest, quiet=False):
    """Archive MEDIA_ROOT beside the dump `manifest` describes (just taken); prints and returns the media entry."""
    media = run_django_script(c, project, "media_backup", {"dump": manifest["path"]}, what="archiving MEDIA_ROOT",
                              changes=True, settings_only=True, description="archive MEDIA_ROOT beside the dump")
    if media is None:
        return None
    manifest["media"] = media
    if not quiet:
        report(media)
    return media


def report(media):
    console.print(f"[green]✓[/] media {media['path']}\n  {media['files']:,} files, {media['bytes']:,} bytes of "
                  f"{media['media_root']}, sha256 {media['sha256'][:16]}…", highlight=False, soft_wrap=True)


def prepare(c, project, dump):
    """Verify the dump's media archive (sha256, every member inside MEDIA_ROOT) and extract it beside MEDIA_ROOT;
    the live media is untouched. None under --dry."""
    return run_django_script(c, project, "media_restore", {"action": "prepare", "dump": dump},
                             what="checking the media archive", changes=True, settings_only=True,
                             description="verify the media archive and extract it beside MEDIA_ROOT")


def restored_with(c, project, prepared, restore, keep):
    """Run restore(media) (the database's), whose process swaps the staged media in right after the database;
    the staged media is removed when restore failed or did nothing (refused, --dry). An archive uploaded for it
    (prepared["uploaded"]) goes either way."""
    swap = prepared and {"staging": prepared["staging"], "keep": keep, "uploaded": prepared.get("uploaded")}
    try:
        done = restore(swap)
    except BaseException:
        if prepared:
            try:
                discard(c, project, prepared["staging"], prepared.get("uploaded"))
            except Exception:  # noqa: BLE001 - the restore's own error is the one to report
                pass
        raise
    if prepared and done is None:
        discard(c, project, prepared["staging"], prepared.get("uploaded"))
    elif prepared:
        report_swap(prepared, done)
    return done


def local_archive(local, manifest):
    """The media archive beside a local backup, per its manifest (DeployTasksError when there is none)."""
    from .errors import DeployTasksError

    media = (manifest or {}).get("media")
    if not media:
        raise DeployTasksError(f"backup {local} has no media archive in its manifest (take one with `backup --media`)")
    archive = os.path.join(os.path.dirname(local), media["file"])
    if not os.path.isfile(archive):
        raise DeployTasksError(f"media archive {archive} not found beside the backup")
    return archive


def uploaded_files(manifest, remote, wanted) -> str:
    """Shell words naming the media archive a restore uploads beside `remote` (and its partial), for removal."""
    from .shell import q

    media = (manifest or {}).get("media") if wanted else None
    if not media:
        return ""
    archive = posixpath.join(posixpath.dirname(remote), media["file"])
    return f" {q(archive)} {q(archive + '.partial')}"


def send(c, project, settings, local, manifest, remote):
    """Upload the backup's media archive beside the uploaded dump `remote` and prepare it there (the server
    checks its sha256 and members, and extracts it beside MEDIA_ROOT)."""
    from .transfer import upload

    archive = local_archive(local, manifest)
    uploaded = posixpath.join(posixpath.dirname(remote), manifest["media"]["file"])
    upload(c, archive, uploaded, None, settings)
    prepared = prepare(c, project, remote)
    return prepared and dict(prepared, uploaded=uploaded)


def discard(c, project, staging, uploaded=None):
    run_django_script(c, project, "media_restore", {"action": "discard", "staging": staging, "uploaded": uploaded},
                      what="removing the staged media", changes=True, settings_only=True)


def report_swap(prepared, done):
    """What the restore's process did with the staged media (a swap that failed: see swap_failure)."""
    swapped = done.get("media") or {}
    if swapped.get("failed"):
        return
    console.print(f"[green]✓[/] restored media into {swapped['media_root']} ({prepared['files']:,} files)",
                  highlight=False, soft_wrap=True)
    if swapped.get("safety"):
        console.print(f"  safety copy of the replaced media: {swapped['safety']}", highlight=False, soft_wrap=True)


def swap_failure(done):
    """The error of a restore that restored the database but failed to swap the media in (else None)."""
    failed = ((done or {}).get("media") or {}).get("failed")
    if not failed:
        return None
    return (f"the database was restored, but swapping the media in failed ({failed}): the media stays as it was; "
            f"fix that and restore {os.path.basename(done['file'])} with --media again, or restore the safety backup "
            f"{done.get('safety_backup') or '(none taken)'} to put the database back")


def fetch(c, project, settings, manifest, local_dir, quiet=False):
    """Download the server's media archive of `manifest` (a server backup whose local copy is in local_dir),
    verified by its sha256, and record it in the local copy's manifest. Files an earlier local media archive
    holds are not sent again (media_fetch.py); without one, the whole archive comes down."""
    from .media_fetch import incremental
    from .transfer import download

    media = manifest["media"]
    fetched = incremental(c, project, settings, media, local_dir)
    if fetched:
        local, sent = fetched
    else:
        local = download(c, media["path"], local_dir, {"sha256": media["sha256"], "size": media["size"]}, settings)
        os.unlink(local + ".json")  # download writes a manifest beside each file; the archive's is in the dump's
        sent = media["size"]
    manifest_path = manifest["local_path"] + ".json"
    with open(manifest_path) as handle:
        local_manifest = json.load(handle)
    local_manifest["media"] = dict({key: value for key, value in media.items() if key != "path"}, transferred=sent)
    manifest["media"]["transferred"] = sent
    fd = os.open(manifest_path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(local_manifest, handle, indent=2, sort_keys=True)
        handle.write("\n")
    os.replace(manifest_path + ".tmp", manifest_path)
    if not quiet:
        how = (f"{sent:,} of {media['size']:,} bytes sent, the rest from the earlier local archive"
               if fetched else f"{sent:,} bytes")
        console.print(f"[green]✓[/] downloaded {local} ({how}; sha256 {media['sha256'][:12]}…)", highlight=False,
                      soft_wrap=True)
    return local


def described(manifest) -> str:
    """'1,234 bytes, 42 files, 3s after the dump' for a backup listing ('-' without media)."""
    from datetime import datetime

    media = manifest.get("media")
    if not media:
        return "-"
    try:
        stamps = [datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ") for value in (manifest["created"], media["created"])]
        age = f"{int((stamps[1] - stamps[0]).total_seconds())}s after the dump"
    except (KeyError, ValueError):
        age = f"taken {media.get('created', '?')}"
    return f"{media.get('size', 0):,} bytes, {media.get('files', 0):,} files, {age}"
