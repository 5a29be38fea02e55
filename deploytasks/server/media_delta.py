"""Sending a media archive without the files the receiver already has. The receiver names the contents of an
archive it holds (size + sha256 of each member's data); `media_delta` writes a delta of the new archive: a JSON
line of steps, then the literal bytes. Steps are ["L", n] (take the next n literal bytes) or ["C", size, sha256]
(copy that member's data from the receiver's archive). `assemble` rebuilds the new archive byte for byte, so its
sha256 is the one in the manifest and restore reads the same tar format as before."""
import hashlib
import json
import os
import shutil
import tarfile

from .errors import ServerError
from .results import MediaDelta

SUFFIX = ".media.tar"  # media_archive.SUFFIX
DELTA = ".delta"
CONTENTS = ".contents"  # media_archive.CONTENTS
BLOCK = 1 << 20


def key(size, digest):
    return "%d:%s" % (size, digest)


def data_ranges(archive):
    """(offset, size) of every regular member's data with bytes in it, in archive order."""
    with tarfile.open(archive) as tar:
        return [(m.offset_data, m.size) for m in tar if m.isreg() and m.size]


def range_sha256(handle, offset, size):
    digest = hashlib.sha256()
    handle.seek(offset)
    left = size
    while left:
        block = handle.read(min(BLOCK, left))
        if not block:
            raise ServerError("archive ends inside a member")
        digest.update(block)
        left -= len(block)
    return digest.hexdigest()


def copy_range(source, offset, size, target):
    source.seek(offset)
    left = size
    while left:
        block = source.read(min(BLOCK, left))
        if not block:
            raise ServerError("archive ends inside a member")
        target.write(block)
        left -= len(block)


def contents(archive):
    """{"size:sha256": data offset} of an archive's members: what a receiver holding it can copy from."""
    found = {}
    with open(archive, "rb") as handle:
        for offset, size in data_ranges(archive):
            found.setdefault(key(size, range_sha256(handle, offset, size)), offset)
    return found


def recorded(archive):
    """{data offset: "size:sha256"} from the `.contents` file written with the archive ({} without one)."""
    try:
        with open(archive + CONTENTS) as handle:
            cached = json.load(handle)
        if cached["size"] == os.path.getsize(archive):
            return {offset: name for name, offset in cached["contents"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    return {}


def steps(archive, known, literal):
    """The steps rebuilding `archive` from `known` member contents, and the archive's own contents();
    literal bytes are written to `literal`. Files the archive's `.contents` names are not hashed again (were
    it wrong, the receiver's rebuilt archive fails its sha256 and is downloaded whole)."""
    plan, pos, found, hashed = [], 0, {}, recorded(archive)

    def take(offset, size):
        if size:
            copy_range(source, offset, size, literal)
            if plan and plan[-1][0] == "L":
                plan[-1][1] += size
            else:
                plan.append(["L", size])

    with open(archive, "rb") as source:
        for offset, size in data_ranges(archive):
            name = hashed.get(offset, "")
            if not name.startswith("%d:" % size):
                name = key(size, range_sha256(source, offset, size))
            digest = name.split(":", 1)[1]
            found.setdefault(name, offset)
            if name in known:
                take(pos, offset - pos)
                plan.append(["C", size, digest])
                pos = offset + size
        take(pos, os.path.getsize(archive) - pos)
    return plan, found


def write(archive, known, delta):
    """Write the delta of `archive` for a receiver holding `known`; returns (copied bytes, literal bytes)."""
    body = delta + ".body"
    try:
        with open(body, "wb") as literal:
            plan, found = steps(archive, known, literal)
        fd = os.open(delta, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out, open(body, "rb") as literal:
            out.write(json.dumps({"steps": plan, "contents": found}).encode() + b"\n")
            shutil.copyfileobj(literal, out, BLOCK)
    finally:
        if os.path.exists(body):
            os.unlink(body)
    copied = sum(step[1] for step in plan if step[0] == "C")
    return copied, os.path.getsize(archive) - copied


def assemble(delta, previous, known, target):
    """Rebuild the archive from `delta` and the receiver's `previous` archive (`known`: its contents());
    returns the rebuilt archive's contents() as the sender computed them."""
    with open(delta, "rb") as source, open(previous, "rb") as old, open(target, "wb") as out:
        try:
            header = json.loads(source.readline())
            plan, found = header["steps"], header["contents"]
        except (ValueError, KeyError, TypeError):
            raise ServerError("%s is not a media delta" % delta) from None
        for step in plan:
            if step[0] == "L":
                shutil.copyfileobj(_Limited(source, step[1]), out, BLOCK)
            elif key(step[1], step[2]) in known:
                copy_range(old, known[key(step[1], step[2])], step[1], out)
            else:
                raise ServerError("%s asks for content %s that %s does not hold" % (delta, step[2][:12], previous))
    return found


class _Limited:
    """The next `size` bytes of a file, as a readable object (exactly that many, else ServerError)."""

    def __init__(self, handle, size):
        self.handle, self.left = handle, size

    def read(self, n=-1):
        n = self.left if n is None or n < 0 else min(n, self.left)
        block = self.handle.read(n) if n else b""
        if n and not block:
            raise ServerError("media delta ends early")
        self.left -= len(block)
        return block


def main(params) -> MediaDelta:
    """Entry media_delta: write params["archive"]'s delta for a receiver holding params["known"] ("size:sha256"
    keys) beside it; returns its path, size, sha256 and the bytes copied / sent."""
    from .files import sha256_of

    archive = params["archive"]
    if not archive.endswith(SUFFIX) or not os.path.isfile(archive):
        raise ServerError("%s is not a media archive" % archive)
    if params.get("remove"):
        if os.path.isfile(archive + DELTA):
            os.unlink(archive + DELTA)
        return {"removed": archive + DELTA}
    delta = archive + DELTA
    copied, sent = write(archive, set(params.get("known") or ()), delta)
    return {"path": delta, "size": os.path.getsize(delta), "sha256": sha256_of(delta), "copied": copied,
            "literal": sent}
