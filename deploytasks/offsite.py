"""Off-site copies through rclone: a verified backup (dump, media archive, manifest) copied to an rclone remote,
checked by hash after the upload, listed, pruned (keep_offsite) and fetched back verified for a restore.

rclone runs on one side, the laptop (an Invoke Context) or the server (a Fabric Connection), through shell.run:
the same commands either way, every word quoted. Credentials stay in the user's rclone.conf (`--config PATH` when
deploytasks.offsite_config names one); argv holds only the remote's name and object paths.

Objects on the remote, flat under the configured path: `<dump>`, `<dump>.media.tar`, then `<dump>.json` (the
manifest) last. Every object is written as `.partial-<name>` and renamed once complete; the listing reads only
manifests, so an interrupted upload is never listed as a backup."""
import json
import os
import posixpath
import re
import time
from concurrent.futures import ThreadPoolExecutor

from .errors import DeployTasksError
from .shell import WholeInput, is_dry, join, run

PARTIAL = ".partial-"
HASH_PREFERENCE = ("sha256", "sha1", "md5")  # sha256 is the manifest's own: no second read of the source
MEDIA_SUFFIX = ".media.tar"  # server/media_archive.SUFFIX


def check_remote(remote) -> str:
    """The configured remote, refused when it would carry credentials in argv (an on-the-fly `:backend,key=…:`
    remote) or names no remote at all."""
    name, colon, _ = remote.partition(":")
    if not colon or not name:
        raise DeployTasksError(f"deploytasks.offsite must name a remote of your rclone.conf, like "
                               f"'myremote:bucket/path', not {remote!r} (credentials belong in rclone.conf)")
    if "," in name:
        raise DeployTasksError("deploytasks.offsite must name a remote defined in rclone.conf: options in the remote "
                               "name (`remote,key=value:`) would put settings on the command line")
    return remote


class Rclone:
    """rclone on one side: `c` runs the commands (the laptop's Context or the server's Connection)."""

    def __init__(self, c, settings, where):
        if not settings.offsite:
            raise DeployTasksError("set deploytasks.offsite to an rclone remote and path, e.g. "
                                   "offsite: \"myremote:backups/mysite\" (the remote defined in your rclone.conf)")
        self.c = c
        remote = check_remote(settings.offsite)
        self.remote = remote if remote.endswith(":") else remote.rstrip("/")
        self.config = settings.offsite_config
        self.where = where  # "local", or the host rclone runs on
        self._hash = None

    def object(self, name) -> str:
        return self.remote + name if self.remote.endswith(":") else f"{self.remote}/{name}"

    def command(self, *words) -> str:
        config = ("--config", os.path.expanduser(self.config) if self.where == "local" else self.config) \
            if self.config else ()
        return "umask 077 && " + join("rclone", *config, *words)  # a local or SFTP remote's files: 0600, as dumps are

    def run(self, *words, what, check=True, stdin=None, changes=False):
        return run(self.c, self.command(*words), what=what, changes=changes, check=check,
                   in_stream=WholeInput(stdin) if stdin is not None else False)

    def require(self):
        """One clear line when rclone is missing on its side (here: no process needed to know)."""
        if self.where == "local":
            import shutil

            if shutil.which("rclone"):
                return
            raise DeployTasksError("rclone is not installed on this machine: apt-get install -y rclone "
                                   "(off-site copies go through it)")
        probe = run(self.c, "command -v rclone >/dev/null 2>&1 && echo yes || echo no", what="looking for rclone",
                    changes=False)
        if probe.stdout.strip() != "yes":
            side = "this machine" if self.where == "local" else self.where
            raise DeployTasksError(f"rclone is not installed on {side}: apt-get install -y rclone "
                                   f"(off-site copies go through it)")

    def require_remote(self):
        """One clear line, before anything is taken, when rclone's config has no such remote."""
        name = self.remote.split(":", 1)[0] + ":"
        listed = self.run("listremotes", what="listing rclone's remotes", check=False)
        if listed.ok and name not in listed.stdout.split():
            side = "this machine" if self.where == "local" else self.where
            config = self.config or "rclone's default ~/.config/rclone/rclone.conf"
            raise DeployTasksError(f"rclone on {side} has no remote {name} (deploytasks.offsite: {self.remote}) in "
                                   f"{config}: `rclone config` adds it, or set deploytasks.offsite_config to the "
                                   "file that defines it")

    # --- reading ---------------------------------------------------------------------------------
    def objects(self) -> dict:
        """{name: (size, modified)} of the files directly under the remote path ({} when it does not exist yet)."""
        done = self.run("lsjson", "--files-only", "--no-mimetype", self.remote, what="listing the off-site copies",
                        check=False)
        if done.failed:
            if "directory not found" in (done.stderr or ""):
                return {}
            raise DeployTasksError(f"listing {self.remote} failed: {_last_line(done)}")
        return {entry["Name"]: (entry["Size"], entry.get("ModTime", "")) for entry in json.loads(done.stdout or "[]")}

    def cat(self, name) -> str:
        return self.run("cat", self.object(name), what=f"reading {self.object(name)}").stdout

    def hash_type(self) -> str:
        """The strongest hash the remote computes itself, or "" (then verification downloads the object)."""
        if self._hash is None:
            done = self.run("backend", "features", self.remote, what="asking the remote which hashes it has")
            offered = json.loads(done.stdout).get("Hashes") or []
            self._hash = next((name for name in HASH_PREFERENCE if name in offered), "")
        return self._hash

    def hashsum(self, kind, target, download=False) -> str:
        """`rclone hashsum` of one file or object; "" when the backend could not compute it."""
        words = ["hashsum", kind, *(["--download"] if download else []), target]
        done = self.run(*words, what=f"hashing {target}")
        return first_hash(done.stdout)

    # --- writing ---------------------------------------------------------------------------------
    def upload_file(self, source, name):
        """Copy `source` (a path on this side) to `name` through a temporary object, renamed once complete."""
        self.run("copyto", source, self.object(PARTIAL + name), what=f"uploading {name} to {self.remote}",
                 changes=True)
        self.run("moveto", self.object(PARTIAL + name), self.object(name), what=f"naming {name} on {self.remote}",
                 changes=True)

    def upload_text(self, text, name):
        self.run("rcat", self.object(PARTIAL + name), what=f"uploading {name} to {self.remote}", stdin=text,
                 changes=True)
        self.run("moveto", self.object(PARTIAL + name), self.object(name), what=f"naming {name} on {self.remote}",
                 changes=True)

    def delete(self, *names):
        for name in names:
            self.run("deletefile", self.object(name), what=f"removing {self.object(name)}", check=False, changes=True)

    def verify(self, source, name, sha256, source_hash=None) -> str:
        """Check the uploaded object against the source: the remote's own strongest hash against the same hash of
        the source (sha256: the manifest's; else `source_hash`, a future computing it during the upload, or
        computed now), or a download hashed when the remote computes none. Returns the method used; raises on a
        mismatch."""
        kind = self.hash_type()
        actual = self.hashsum(kind, self.object(name)) if kind else ""
        if actual:
            expected = sha256 if kind == "sha256" else (
                source_hash.result() if source_hash else self.hashsum(kind, source))
            method = f"{kind} on the remote"
        else:
            kind, expected, method = "sha256", sha256, "sha256 of a download"
            actual = self.hashsum("sha256", self.object(name), download=True)
        if not expected or actual != expected:
            raise DeployTasksError(f"the off-site copy {self.object(name)} does not match its source ({kind} "
                                   f"{actual or 'unavailable'} != {expected}): it was removed; try again")
        return method


def first_hash(hashsum_output) -> str:
    """The hash on `rclone hashsum`'s first line; "" when the backend left it blank or wrote UNSUPPORTED."""
    line = (hashsum_output or "").splitlines()[:1]
    match = re.match(r"([0-9a-fA-F]{8,})  ", line[0]) if line else None
    return match.group(1).lower() if match else ""


def _last_line(result) -> str:
    lines = [line.strip() for line in (result.stderr or result.stdout or "").splitlines() if line.strip()]
    return lines[-1] if lines else f"exit status {result.exited}"


def offsite_manifest(manifest) -> dict:
    """The backup's manifest as it travels: no paths of either side."""
    document = {key: value for key, value in manifest.items()
                if key not in ("path", "pruned", "local_path", "present", "leftovers", "sha256_ok")}
    if document.get("media"):
        document["media"] = {key: value for key, value in document["media"].items() if key != "path"}
    return document


def upload(rclone, manifest, dump, media_archive=None, keep=0):
    """Copy a verified backup off-site: the dump (path on rclone's side), the media archive if any, then the
    manifest, each checked by hash once uploaded. Returns a report {remote, objects, verified, pruned, seconds}.
    A failure removes what this upload wrote: an incomplete backup is never listed."""
    started = time.monotonic()
    name = manifest["file"]
    if is_dry(rclone.c):
        rclone.upload_file(dump, name)
        return None
    rclone.require()
    files = [(dump, name, manifest["sha256"])]
    if media_archive:
        files.append((media_archive, manifest["media"]["file"], manifest["media"]["sha256"]))
    written = []
    try:
        methods = []
        kind = rclone.hash_type()
        with ThreadPoolExecutor(max_workers=1) as hasher:  # the source's hash is read while the upload runs
            for source, object_name, sha256 in files:
                source_hash = hasher.submit(rclone.hashsum, kind, source) if kind not in ("", "sha256") else None
                written += [PARTIAL + object_name, object_name]
                rclone.upload_file(source, object_name)
                methods.append(rclone.verify(source, object_name, sha256, source_hash))
        document = dict(offsite_manifest(manifest), offsite={
            "uploaded": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "verified": methods[0]})
        written += [PARTIAL + name + ".json"]
        rclone.upload_text(json.dumps(document, indent=2, sort_keys=True) + "\n", name + ".json")
    except BaseException:
        try:
            rclone.delete(*written)
        except Exception:  # noqa: BLE001 - the upload's own error is the one to report
            pass
        raise
    pruned = prune(rclone, keep, protect=name)
    return {"remote": rclone.remote, "object": rclone.object(name), "files": [f[1] for f in files],
            "verified": methods[0], "pruned": pruned, "seconds": round(time.monotonic() - started, 2)}


def listing(rclone) -> list:
    """The complete off-site backups (a manifest and the objects it names, at their sizes), newest first."""
    rclone.require()
    objects = rclone.objects()
    rows = []
    for object_name in objects:
        if not object_name.endswith(".json") or object_name.startswith(PARTIAL):
            continue
        try:
            manifest = json.loads(rclone.cat(object_name))
        except (ValueError, DeployTasksError):
            continue
        if not isinstance(manifest, dict) or manifest.get("file") != object_name[:-5]:
            continue
        media = manifest.get("media") or {}
        sizes = {name: size for name, (size, _) in objects.items()}
        manifest["present"] = sizes.get(manifest["file"]) == manifest.get("size") and (
            not media or sizes.get(media.get("file")) == media.get("size"))
        manifest["object"] = rclone.object(manifest["file"])
        rows.append(manifest)
    rows.sort(key=lambda row: (row.get("created", ""), row["file"]), reverse=True)
    return rows


def prune(rclone, keep, protect=None) -> list:
    """Remove the oldest off-site backups beyond `keep` (0 keeps all), manifest first so that a backup stops
    being listed before its objects go, and `.partial-*` objects of an upload that died a day ago or more. One
    listing: manifests are ordered by when they were stored (the last object of each upload)."""
    from datetime import datetime, timedelta, timezone

    objects = rclone.objects()
    day_ago = (datetime.now(timezone.utc) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S")
    rclone.delete(*[name for name, (_, modified) in objects.items()
                    if name.startswith(PARTIAL) and modified and modified[:19] < day_ago])
    if not keep:
        return []
    manifests = sorted(((modified, name[:-5]) for name, (_, modified) in objects.items()
                        if name.endswith(".json") and not name.startswith(PARTIAL) and name[:-5] != protect),
                       reverse=True)
    removed = []
    for _, name in manifests[max(keep - 1, 0):]:  # `protect`, just uploaded, is the newest
        media = name + MEDIA_SUFFIX
        rclone.delete(name + ".json", name, *([media] if media in objects else []))
        removed.append(name)
    return removed


def find(rclone, name) -> dict:
    """The manifest of the off-site backup `name` (the dump's object name, as `backups --offsite` lists it)."""
    name = posixpath.basename(name.rstrip("/"))
    if name.endswith(".json"):
        name = name[:-5]
    if not name or name.startswith(PARTIAL):
        raise DeployTasksError(f"{name!r} is not an off-site backup name (see `backups --offsite`)")
    rows = {row["file"]: row for row in listing(rclone)}
    if name not in rows:
        known = ", ".join(sorted(rows, reverse=True)[:3]) or "none"
        raise DeployTasksError(f"no off-site backup {name} in {rclone.remote} (newest: {known}; see `backups --offsite`)")
    if not rows[name]["present"]:
        raise DeployTasksError(f"the off-site backup {name} is incomplete in {rclone.remote} (an object is missing "
                               f"or has another size): it cannot be restored")
    return rows[name]


def fetch(rclone, manifest, directory, media=False, sha256_of=None) -> str:
    """Download an off-site backup (and its media archive) into `directory` on rclone's side, each object through a
    temporary name and checked against the manifest's sha256 before it takes its name; the manifest is written
    beside it. `sha256_of(path)` hashes a file on that side. Returns the dump's path there."""
    from .shell import q

    name = manifest["file"]
    wanted = [(name, manifest["sha256"], manifest.get("size"))]
    if media:
        entry = manifest.get("media")
        if not entry:
            raise DeployTasksError(f"the off-site backup {name} has no media archive (it was taken without --media)")
        wanted.append((entry["file"], entry["sha256"], entry.get("size")))
    run(rclone.c, f"mkdir -p -m 700 {q(directory)}", what=f"creating {directory}")
    fetched = []
    try:
        for object_name, sha256, _size in wanted:
            partial = posixpath.join(directory, f".offsite-{os.getpid()}-{object_name}.partial")
            fetched.append(partial)
            rclone.run("copyto", rclone.object(object_name), partial, what=f"downloading {rclone.object(object_name)}",
                       changes=True)
            if sha256_of(partial) != sha256:
                raise DeployTasksError(f"the off-site copy {rclone.object(object_name)} does not match its manifest's "
                                       f"sha256: it is damaged or was changed; nothing was restored")
    except BaseException:
        run(rclone.c, "rm -f " + " ".join(q(path) for path in fetched), what="removing the download", check=False)
        raise
    clean = {key: value for key, value in manifest.items() if key not in ("present", "object", "offsite")}
    for (object_name, _, _), partial in zip(wanted, fetched):
        run(rclone.c, f"chmod 600 {q(partial)} && mv -f {q(partial)} {q(posixpath.join(directory, object_name))}",
            what=f"naming {object_name}")
    path = posixpath.join(directory, name)
    text = json.dumps(clean, indent=2, sort_keys=True) + "\n"
    run(rclone.c, f"umask 077 && cat > {q(path + '.json')}", what="writing the manifest", in_stream=WholeInput(text))
    return path


def report(done):
    """What `backup --offsite` prints after the upload."""
    from .output import console

    console.print(f"[green]✓[/] off-site {done['object']} ({', '.join(done['files'])}; verified by {done['verified']}, "
                  f"{done['seconds']}s)", highlight=False, soft_wrap=True)
    if done["pruned"]:
        console.print(f"  removed {len(done['pruned'])} old off-site backup(s): {', '.join(done['pruned'])}",
                      highlight=False, soft_wrap=True)


def show_listing(rclone, as_json):
    """`backups --offsite`: the complete off-site backups as a table (or JSON)."""
    from .media import described
    from .output import console, print_json, show, table

    rows = listing(rclone)
    if as_json:
        print_json({"remote": rclone.remote, "backups": rows})
        return
    if not rows:
        console.print(f"No off-site backups in {rclone.remote}.", highlight=False, soft_wrap=True)
        return
    grid = table(f"Off-site backups in {rclone.remote}", ["name", "created (UTC)", "host", "size", "media", "verified"], [
        (row["file"] + ("" if row["present"] else " [red](incomplete)[/]"),
         row.get("created", "?").replace("T", " ").rstrip("Z"), row.get("host") or "-", f"{row.get('size', 0):,}",
         described(row), (row.get("offsite") or {}).get("verified", "?"))
        for row in rows
    ])
    grid.columns[0].no_wrap = True  # the name is what `restore --from-offsite` takes: never cut it
    show(grid)


def fetch_for_restore(rclone, name, directory, media, unverified=False):
    """`restore --from-offsite NAME` on rclone's side: the backup fetched verified into `directory` (its path there,
    and its manifest), or None under --dry after saying what it would fetch."""
    from .output import console

    if unverified:
        raise DeployTasksError("--unverified does not apply to an off-site backup: it always has its manifest")
    manifest = find(rclone, name)
    if is_dry(rclone.c):
        console.print(f"[dim]dry-run:[/] fetch {manifest['object']} into {directory}, check its sha256, restore it",
                      highlight=False, soft_wrap=True)
        return None, manifest
    path = fetch(rclone, manifest, directory, media=media, sha256_of=lambda path: remote_sha256(rclone, path))
    console.print(f"[green]✓[/] fetched {manifest['object']} → {path} (sha256 {manifest['sha256'][:12]}… matches)",
                  highlight=False, soft_wrap=True)
    return path, manifest


def remote_sha256(rclone, path) -> str:
    """sha256 of a file on rclone's side, computed by rclone itself (no other tool needed there)."""
    return rclone.hashsum("sha256", path)
