"""`inv backup --media` / `inv restore --media` (issue 14 §1) on real files in the example project's MEDIA_ROOT:
archived beside the dump and listed in its manifest; restored by extracting beside, verifying and swapping, the
replaced directory kept; hostile or damaged archives refused with the live media and database untouched."""
from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile

from tests._util import assert_user_error, backup_json, sha256_file


def fill_media(root):
    media = root / "media"
    (media / "avatars" / "2026").mkdir(parents=True)
    (media / "avatars" / "2026" / "ada.png").write_bytes(os.urandom(70_000))
    (media / "docs").mkdir(mode=0o750)  # private to the group; a file the group may write
    (media / "docs" / "terms.txt").write_text("the terms\n")
    (media / "docs" / "terms.txt").chmod(0o664)
    (media / "docs" / "latest.txt").symlink_to("terms.txt")  # a link that stays inside is kept
    (media / "current").symlink_to("avatars/2026")  # a link to a directory, and one through it: both kept
    (media / "latest.png").symlink_to("current/ada.png")
    return media


def tree(media) -> dict:
    """{relative path: sha256, or '-> target' for a link, or '/' for a directory; with its mode}."""
    found = {}
    for directory, subdirs, names in os.walk(media):
        for name in subdirs + names:
            path = os.path.join(directory, name)
            key = os.path.relpath(path, media)
            if os.path.islink(path):
                found[key] = "-> " + os.readlink(path)
            elif os.path.isdir(path):
                found[key] = "/ %o" % (os.stat(path).st_mode & 0o7777)
            else:
                found[key] = "%s %o" % (hashlib.sha256(open(path, "rb").read()).hexdigest(),
                                        os.stat(path).st_mode & 0o7777)
    return found


def test_backup_archives_media_beside_the_dump_and_restore_swaps_it_back(migrated_site):
    site = migrated_site
    media = fill_media(site.root)
    original = tree(media)
    manifest = backup_json(site, "--media")
    entry = json.loads((site.root / "backups" / (os.path.basename(manifest["path"]) + ".json")).read_text())["media"]
    archive = site.root / "backups" / entry["file"]
    assert archive.name == os.path.basename(manifest["path"]) + ".media.tar"
    assert entry["sha256"] == sha256_file(archive) and entry["size"] == archive.stat().st_size
    assert entry["files"] == 2 and entry["bytes"] == 70_000 + len("the terms\n")
    assert oct(archive.stat().st_mode & 0o777) == "0o600"

    (media / "docs" / "terms.txt").write_text("changed after the backup\n")
    (media / "avatars" / "2026" / "ada.png").unlink()
    (media / "new-upload.jpg").write_bytes(b"new")
    changed = tree(media)
    result = site.inv("restore", os.path.basename(manifest["path"]), "--media", "--yes")
    assert result.returncode == 0, result.stderr + result.stdout
    assert tree(media) == original
    [safety] = [p for p in site.root.iterdir() if p.name.startswith("media.before-restore-")]
    assert tree(safety) == changed
    assert "safety copy of the replaced media" in result.stdout
    assert not [p for p in site.root.iterdir() if ".restoring-" in p.name]


def rewrite_archive(site, manifest, members):
    """Replace the backup's media archive with one holding `members` [(TarInfo, bytes or None)] and give the
    manifest its hash (so only the member checks can refuse it)."""
    dump = site.root / "backups" / os.path.basename(manifest["path"])
    data = json.loads((str(dump) + ".json") and open(str(dump) + ".json").read())
    archive = site.root / "backups" / data["media"]["file"]
    with tarfile.open(archive, "w") as tar:
        for info, content in members:
            if content is not None:
                info.size = len(content)
            tar.addfile(info, io.BytesIO(content) if content is not None else None)
    data["media"]["sha256"] = sha256_file(archive)
    (site.root / "backups" / (dump.name + ".json")).write_text(json.dumps(data))
    return dump.name


def member(name, kind=tarfile.REGTYPE, link=""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


def test_hostile_or_damaged_archives_are_refused_with_live_media_and_database_untouched(migrated_site, tmp_path):
    site = migrated_site
    media = fill_media(site.root)
    manifest = backup_json(site, "--media")
    (media / "docs" / "terms.txt").write_text("live, newer than the backup\n")
    live, db = tree(media), site.fingerprint()
    outside = tmp_path / "outside.txt"
    cases = [
        ([(member("../escaped.txt"), b"x")], "'../escaped.txt': its path leaves MEDIA_ROOT"),
        ([(member("docs/../../up.txt"), b"x")], "its path leaves MEDIA_ROOT"),
        ([(member(str(outside)), b"x")], "its path leaves MEDIA_ROOT"),
        ([(member("passwd", tarfile.SYMTYPE, "/etc/passwd"), None)], "symlink pointing out of MEDIA_ROOT"),
        ([(member("a/up", tarfile.SYMTYPE, "../../.."), None)], "symlink pointing out of MEDIA_ROOT"),
        ([(member("hard", tarfile.LNKTYPE, "../db.sqlite3"), None)], "hard link"),
        ([(member("fifo", tarfile.FIFOTYPE), None)], "not a file, directory or link"),
    ]
    for members, fragment in cases:
        name = rewrite_archive(site, manifest, members)
        assert_user_error(site.inv("restore", name, "--media", "--yes"), "refusing", fragment, "live media is untouched")
        assert tree(media) == live and site.fingerprint() == db
        assert not outside.exists() and not (site.root / "escaped.txt").exists()
        assert not [p for p in site.root.iterdir() if ".restoring-" in p.name or ".before-restore-" in p.name]

    name = rewrite_archive(site, manifest, [(member("fine.txt"), b"fine")])
    dump = site.root / "backups" / name
    data = json.loads(open(str(dump) + ".json").read())
    data["media"]["sha256"] = "0" * 64
    open(str(dump) + ".json", "w").write(json.dumps(data))
    assert_user_error(site.inv("restore", name, "--media", "--yes"), "does not match its manifest's sha256")
    assert tree(media) == live and site.fingerprint() == db


def test_restore_media_of_a_backup_without_media_is_one_line(migrated_site):
    site = migrated_site
    fill_media(site.root)
    manifest = backup_json(site)
    assert "media" not in manifest
    assert_user_error(site.inv("restore", os.path.basename(manifest["path"]), "--media", "--yes"),
                      "has no media archive", "backup --media")


def test_retention_removes_a_media_archive_with_its_dump(migrated_site):
    site = migrated_site
    fill_media(site.root)
    first = backup_json(site, "--media", "--label", "first")
    second = backup_json(site, "--keep", "1", "--label", "second")
    assert os.path.basename(first["path"]) in second["pruned"]
    assert sorted(p.name for p in (site.root / "backups").iterdir() if p.name.endswith(".media.tar")) == []
