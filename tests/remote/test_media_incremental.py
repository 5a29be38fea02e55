"""A second `fab backup --media` (issue 14 §1): the server sends only the files the earlier local archive lacks;
the local archive is rebuilt byte for byte (the manifest's sha256) and restores like a whole download."""
import json
import os
import tarfile

ADDRESS = "127.0.0.130"


def tree(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_second_media_backup_transfers_the_changed_files_and_restores(deployed, sha256):
    s = deployed
    media = s.path / "shared" / "media" / "uploads"
    media.mkdir(parents=True, exist_ok=True)
    for n in range(40):
        (media / f"photo{n:02}.jpg").write_bytes(os.urandom(100_000))
    first = s.fab("backup", "--media", "--json").ok().json()
    assert first["media"]["transferred"] == first["media"]["size"]  # nothing local to build on: sent whole

    (media / "photo05.jpg").write_bytes(os.urandom(100_000))
    (media / "new.jpg").write_bytes(os.urandom(20_000))
    second = s.fab("backup", "--media", "--json").ok().json()
    entry = second["media"]
    assert entry["sha256"] != first["media"]["sha256"] and entry["files"] == 41
    assert entry["transferred"] < 120_000 + 41 * (2048 + 128) + 8192  # changed + new file, headers, steps, contents
    local_dir = s.project / "backups" / s.sshd.alias
    assert sha256(local_dir / entry["file"]) == entry["sha256"]
    local_manifest = json.loads((local_dir / (os.path.basename(second["path"]) + ".json")).read_text())
    assert local_manifest["media"]["transferred"] == entry["transferred"]
    assert not [p for p in (s.path / "backups").iterdir() if ".delta" in p.name]
    assert not [p for p in local_dir.iterdir() if ".delta" in p.name or p.name.endswith(".partial")]

    archived = tree(media.parent)
    (media / "photo00.jpg").unlink()
    s.fab("restore", second["local_path"], "--media", "--yes").ok()
    assert tree(media.parent) == archived


def test_damaged_local_copies_lend_nothing_wrong(deployed, sha256):
    s = deployed
    media = s.path / "shared" / "media"
    media.mkdir(parents=True, exist_ok=True)
    (media / "a.bin").write_bytes(os.urandom(60_000))
    first = s.fab("backup", "--media", "--json").ok().json()
    local_dir = s.project / "backups" / s.sshd.alias
    earlier = local_dir / first["media"]["file"]
    with tarfile.open(earlier) as tar:
        offset = tar.getmember("a.bin").offset_data
    data = bytearray(earlier.read_bytes())
    data[offset:offset + 76] = b"x" * 76
    earlier.write_bytes(bytes(data))
    contents = local_dir / (first["media"]["file"] + ".contents")
    contents.unlink()  # hashed afresh: the damaged a.bin matches nothing on the server
    (media / "b.bin").write_bytes(os.urandom(1000))
    second = s.fab("backup", "--media", "--json").ok().json()
    assert sha256(local_dir / second["media"]["file"]) == second["media"]["sha256"]
    assert 60_000 < second["media"]["transferred"] < second["media"]["size"] // 4  # a.bin sent again, the rest not

    contents = local_dir / (second["media"]["file"] + ".contents")
    lying = json.loads(contents.read_text())
    lying["contents"] = {name: 0 for name in lying["contents"]}  # every file "at offset 0"
    contents.write_text(json.dumps(lying))
    (media / "c.bin").write_bytes(os.urandom(1000))
    third = s.fab("backup", "--media", "--json").ok().json()
    assert sha256(local_dir / third["media"]["file"]) == third["media"]["sha256"]
    assert third["media"]["transferred"] == third["media"]["size"]  # the rebuilt archive failed its sha256
