"""The shared files a release links (the .env above all) as they were when the live release went live. A .env is
not part of a release, and the app server reads it at its start: a pushed one that breaks the site would break the
release switched back to as well. A deploy that fails once the new values reached the app server, and whose
previous release then fails too, gets the files the previous release went live with back (switch_back)."""
import os
import time

from .files import fsync_path, sha256_of, write_private

KEPT_IN = ".went-live"  # under shared/
LARGEST = 1 << 20  # bytes: a shared file larger than this is not kept (a .env is a few KiB)
KEPT_FAILED = 5  # put-aside copies kept per file (shared/<name>.<UTC>.failed)


def _kept(layout, name):
    return os.path.join(layout.shared, KEPT_IN, name)


def _copy_private(source, target):
    """`source`'s bytes at `target` (files.write_private: 0600, under a temporary name made anew, fsynced, renamed
    over it), the rename durable too; shared/.went-live is made 0700 and never written through a link."""
    os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
    if os.path.islink(os.path.dirname(target)):
        raise OSError("%s is a symlink" % os.path.dirname(target))
    with open(source, "rb") as handle:
        write_private(target, handle.read(LARGEST + 1))
    fsync_path(os.path.dirname(target), directory=True)


def remember(layout, names):
    """Keep each shared file among `names` as the live release went live with it (regular files up to LARGEST;
    one that is absent is forgotten). A file that cannot be kept changes nothing but what an undo can put back."""
    for name in names or ():
        live, kept = os.path.join(layout.shared, name), _kept(layout, name)
        try:
            if os.path.isfile(live) and os.path.getsize(live) <= LARGEST:
                if not (os.path.isfile(kept) and sha256_of(kept) == sha256_of(live)):
                    _copy_private(live, kept)
            elif os.path.lexists(kept):
                os.unlink(kept)
        except OSError:
            pass


def changed(layout, names):
    """The names among `names` whose shared file differs from what the live release went live with (only those
    with a kept copy: a deploy path from before this version has none)."""
    found = []
    for name in names or ():
        live, kept = os.path.join(layout.shared, name), _kept(layout, name)
        try:
            if os.path.isfile(kept) and (not os.path.isfile(live) or sha256_of(live) != sha256_of(kept)):
                found.append(name)
        except OSError:
            pass
    return found


def put_back(layout, names):
    """Each changed file among `names` set aside as shared/<name>.<UTC>.failed and replaced by the kept copy;
    returns [(name, set-aside path or None when there was no file)]."""
    done = []
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    for name in changed(layout, names):
        live = os.path.join(layout.shared, name)
        aside = None
        if os.path.lexists(live):
            aside, n = "%s.%s.failed" % (live, stamp), 1
            while os.path.lexists(aside):
                n += 1
                aside = "%s.%s.%d.failed" % (live, stamp, n)
            os.rename(live, aside)
        _copy_private(_kept(layout, name), live)
        done.append((name, aside))
        prune_failed(live)
    return done


def take_back(layout, done):
    """Undo put_back: each set-aside file renamed into place again (a file that was absent is removed again)."""
    for name, aside in done:
        live = os.path.join(layout.shared, name)
        if aside:
            os.replace(aside, live)
        elif os.path.lexists(live):
            os.unlink(live)


def prune_failed(live):
    """The KEPT_FAILED newest set-aside copies of `live` kept, older ones (old secrets) removed."""
    directory, base = os.path.split(live)
    copies = sorted((entry for entry in os.listdir(directory)
                     if entry.startswith(base + ".") and entry.endswith(".failed") and entry[len(base) + 1:][:1].isdigit()),
                    reverse=True)
    for entry in copies[KEPT_FAILED:]:
        try:
            os.unlink(os.path.join(directory, entry))
        except OSError:
            pass
