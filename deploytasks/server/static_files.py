"""collectstatic for one release, into that release's own directory, so a deploy that fails before the switch
never changes what the live release serves and a rollback serves the old release's files.

- STATIC_ROOT a real directory inside the release (`BASE_DIR / "staticfiles"`): collected there, as it is.
- STATIC_ROOT elsewhere in the deploy path (`{path}/shared/static`, or a release path that `shared_dirs` links
  into shared/): collected into `{release}/collected_static`, and the STATIC_ROOT path becomes a symlink to
  `{path}/current/collected_static`, so it follows the switch.
- STATIC_ROOT outside the deploy path: collected there as before, with a warning.

Files whose content equals the live release's copy are hard-linked to it (one inode, no second copy). When
nothing collectstatic reads differs from what the live release's collectstatic read (static_inputs), collectstatic
does not run at all: the live release's collected directory is hard-linked whole (a manifest storage's hashing or
whitenoise's compression is not done again)."""
import hashlib
import io
import os
import re
import shutil

from .errors import ServerError
from .files import sha256_of, write_private
from .hooks import listed
from .journal import note
from .layout import ServerLayout
from .media import inside
from .results import StaticCollected

PER_RELEASE = "collected_static"
INPUTS = ".deploytasks-static-inputs"  # in a release: the sha256 of everything its collectstatic read (mode 0600)
ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")  # an object's repr names where it is in memory, which differs per process


def resolved(root):
    absolute = os.path.abspath(root)
    return os.path.join(os.path.realpath(os.path.dirname(absolute)), os.path.basename(absolute))


def run_collectstatic(target):
    from django.core.management import call_command
    from django.test.utils import override_settings

    output = io.StringIO()
    try:
        with override_settings(STATIC_ROOT=target):
            call_command("collectstatic", interactive=False, verbosity=1, stdout=output)
    except Exception as exc:
        raise ServerError("collectstatic failed in the new release: %s: %s" % (type(exc).__name__, exc)) from None
    lines = [line for line in output.getvalue().splitlines() if "static file" in line]
    return lines[-1].strip() if lines else "done"


def link_unchanged(new_dir, live_dir):
    """Replace each file of new_dir whose size and content equal live_dir's copy by a hard link to it: {linked}."""
    linked = 0
    if not live_dir or not os.path.isdir(live_dir) or os.path.realpath(live_dir) == os.path.realpath(new_dir):
        return linked
    for folder, _dirs, names in os.walk(new_dir):
        for name in names:
            new = os.path.join(folder, name)
            live = os.path.join(live_dir, os.path.relpath(new, new_dir))
            try:
                if os.path.islink(new) or not os.path.isfile(live) or os.path.islink(live):
                    continue
                if os.stat(new).st_size != os.stat(live).st_size or os.path.samefile(new, live):
                    continue
                if sha256_of(new) != sha256_of(live):
                    continue
                tmp = new + ".deploytasks-link"
                os.link(live, tmp)
                os.replace(tmp, new)
                linked += 1
            except OSError:
                continue  # another file system, or a file that went: the copy stays
    return linked


def content_sha256(storage, path):
    try:
        return sha256_of(storage.path(path))
    except NotImplementedError:  # a source storage without local files
        digest = hashlib.sha256()
        with storage.open(path) as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()


def stable_repr(value):
    """repr() with the members of sets in one order (a set's order changes with each process's hash seed)."""
    if isinstance(value, (set, frozenset)):
        return "{%s}" % ", ".join(sorted(stable_repr(member) for member in value))
    if isinstance(value, dict):
        return "{%s}" % ", ".join("%s: %s" % (stable_repr(k), stable_repr(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return "[%s]" % ", ".join(stable_repr(member) for member in value)
    return repr(value)


def static_inputs(release):
    """The sha256 of everything the output of this release's collectstatic depends on, or None when that cannot
    be told (a project's own collectstatic command): every file the finders list, by the path collectstatic
    gives it (the first of a path wins, as there) and its bytes; every setting's repr, the release's directory
    replaced by a placeholder; the Django and Python versions and the venv; the source of the storage and finder
    classes (and their bases) that are not part of the venv (the project's own)."""
    import inspect
    import sys

    import django
    from django.apps import apps
    from django.conf import settings
    from django.contrib.staticfiles.finders import get_finders
    from django.contrib.staticfiles.storage import staticfiles_storage
    from django.core.management import get_commands

    if get_commands().get("collectstatic") != "django.contrib.staticfiles":
        return None
    digest = hashlib.sha256()

    def add(*parts):
        for part in parts:
            digest.update(str(part).encode("utf-8", "surrogateescape") + b"\0")

    places = sorted({release, os.path.realpath(release)}, key=len, reverse=True)

    def neutral(text):
        for place in places:
            text = text.replace(place, "<release>")
        return ADDRESS.sub("", text)

    venv = os.path.realpath(sys.prefix)
    add(django.get_version(), sys.version, venv)
    for name in sorted(name for name in dir(settings) if name.isupper()):
        try:
            value = neutral(stable_repr(getattr(settings, name)))
        except Exception as exc:  # noqa: BLE001 - a setting that refuses to be read (an empty SECRET_KEY)
            value = "unreadable: %s" % type(exc).__name__
        add(name, value)
    finders = list(get_finders())
    classes = {cls for owner in [staticfiles_storage.__class__] + [type(f) for f in finders] for cls in owner.__mro__}
    for cls in sorted(classes, key=lambda cls: (cls.__module__, cls.__qualname__)):
        try:
            source = os.path.realpath(inspect.getsourcefile(cls) or "")
        except TypeError:  # built in
            continue
        if source and not source.startswith(venv + os.sep):
            add(cls.__module__, cls.__qualname__, sha256_of(source) if os.path.isfile(source) else "?")
    ignore = list({os.path.normpath(p) for p in apps.get_app_config("staticfiles").ignore_patterns})
    found = {}
    for finder in finders:
        for path, storage in finder.list(ignore):
            prefixed = os.path.join(storage.prefix, path) if getattr(storage, "prefix", None) else path
            found.setdefault(prefixed, (path, storage))
    for prefixed in sorted(found):
        path, storage = found[prefixed]
        add(prefixed, content_sha256(storage, path))
    return digest.hexdigest()


def inputs_of(release):
    """What a release's collectstatic read (static_inputs, as recorded), or None."""
    try:
        with open(os.path.join(release, INPUTS)) as handle:
            return handle.read().strip() or None
    except OSError:
        return None


def reuse_live(inputs, live, name, own):
    """Hard-link the live release's collected directory `name` as `own` when its collectstatic read exactly
    `inputs`: how many files, or None (then collectstatic runs; nothing is left behind)."""
    source = live and os.path.join(live, name)
    if not inputs or not source or inputs_of(live) != inputs:
        return None
    if os.path.islink(source) or not os.path.isdir(source) or os.path.lexists(own):
        return None
    linked = []

    def link(src, dst):
        os.link(src, dst)
        linked.append(dst)

    try:
        shutil.copytree(source, own, symlinks=True, copy_function=link)
    except (OSError, shutil.Error):
        shutil.rmtree(own, ignore_errors=True)
        return None
    return len(linked)


def with_links(summary, linked):
    return "%s (%d unchanged: hard-linked to the live release's)" % (summary, linked) if linked else summary


def point_to_current(shared_root, layout, live, name):
    """Make the shared STATIC_ROOT path a symlink to current/<name>. A real directory there (today's layout) is
    first hard-linked into the live release's <name>, so the live release keeps serving the same files."""
    target = os.path.join(layout.current, name)
    if os.path.islink(shared_root) and os.readlink(shared_root) == target:
        return
    if os.path.isdir(shared_root) and not os.path.islink(shared_root):
        live_copy = live and os.path.join(live, name)
        if live_copy and (os.path.islink(live_copy) or not os.path.exists(live_copy)):
            staged = live_copy + ".deploytasks-tmp"
            if os.path.lexists(staged):
                shutil.rmtree(staged)
            shutil.copytree(shared_root, staged, copy_function=os.link, symlinks=True)
            if os.path.lexists(live_copy):
                os.unlink(live_copy)
            os.rename(staged, live_copy)
        aside = shared_root + ".before-per-release-static"
        if os.path.lexists(aside):
            shutil.rmtree(aside)
        os.rename(shared_root, aside)
        os.symlink(target, shared_root)
        shutil.rmtree(aside)
        return
    os.makedirs(os.path.dirname(shared_root), exist_ok=True)
    tmp = shared_root + ".deploytasks-tmp"
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(target, tmp)
    os.replace(tmp, shared_root)


def destination(root, params):
    """Where the release params["release"] keeps its static files, as (kind, own, shared_root): kind "in release"
    (a real directory inside it), "outside" (STATIC_ROOT outside the deploy path: `own` is STATIC_ROOT), "shared dir"
    (a release path that shared_dirs links into shared/) or "shared" (`own` is {release}/collected_static);
    shared_root is the path that becomes a symlink to current/<name> (None for the first two)."""
    layout = ServerLayout(params["path"])
    release = os.path.realpath(layout.release(params["release"]))
    in_release_dir = resolved(os.path.abspath(root))  # the parent resolved, the last part kept: a shared_dirs link stays a link
    if inside(in_release_dir, release) and in_release_dir != release and not os.path.islink(in_release_dir):
        return "in release", in_release_dir, None
    if os.path.islink(in_release_dir) and inside(in_release_dir, release):
        return "shared dir", in_release_dir, os.path.join(layout.shared, os.path.relpath(in_release_dir, release))
    if not inside(in_release_dir, os.path.realpath(params["path"])):
        return "outside", root, None
    return "shared", os.path.join(release, PER_RELEASE), in_release_dir


def collect(params) -> StaticCollected:
    """{"collectstatic": summary, "static_root", "collected_into", "linked" (files shared with the live release),
    "warning"?} for the release params["release"] under params["path"]."""
    from django.conf import settings

    root = str(getattr(settings, "STATIC_ROOT", "") or "")
    if not root or not params.get("path") or not params.get("release"):
        return {"collectstatic": run_collectstatic(root or None)}
    layout = ServerLayout(params["path"])
    release = os.path.realpath(layout.release(params["release"]))
    live = os.path.realpath(layout.current) if os.path.islink(layout.current) else None
    live = live if live != release else None
    kind, own, shared_root = destination(root, params)
    if kind == "outside":
        return {"collectstatic": run_collectstatic(root), "static_root": root, "collected_into": root,
                "warning": "STATIC_ROOT %s is outside the deploy path %s: collectstatic writes there as before, "
                           "so a failed deploy can change the live static files" % (root, params["path"])}
    name = os.path.relpath(own, release)
    if kind == "shared dir":  # a real directory per release instead of the link into shared/
        os.unlink(own)
    inputs = None
    if not listed(params, "after", "collectstatic"):  # such a hook may change the collected files in place
        try:
            inputs = static_inputs(release)
        except Exception:  # noqa: BLE001 - the shortcut only saves time: collectstatic runs as before
            inputs = None
    linked = reuse_live(inputs, live, name, own)
    if linked is not None:
        summary = "static files unchanged since the live release: its %d collected files hard-linked, " \
                  "collectstatic not run" % linked
    else:
        summary = run_collectstatic(own)
        linked = link_unchanged(own, live and os.path.join(live, name))
        summary = with_links(summary, linked)
    if inputs:
        write_private(os.path.join(release, INPUTS), inputs + "\n")
    result = {"collectstatic": summary, "static_root": root, "collected_into": own, "linked": linked}
    if shared_root:
        note(params, static_link=shared_root)  # a first deploy undone removes the link again (recovery.undo)
        point_to_current(shared_root, layout, live, name)
        result["served_from"] = os.path.join(layout.current, name)
    return result


def ensure(params) -> StaticCollected:
    """Entry collect_static, run in a release about to be switched to again (a rollback): collect its static files
    into it when it has none of its own (a release made before static files were per release: the shared
    STATIC_ROOT now follows `current`, so without them it would serve 404s). Nothing when it has them."""
    from django.conf import settings

    root = str(getattr(settings, "STATIC_ROOT", "") or "")
    if not root:
        return {"collectstatic": None}
    kind, own, _shared = destination(root, params)
    if kind == "outside" or (os.path.isdir(own) and not os.path.islink(own)):
        return {"collectstatic": None}
    return collect(params)


def unlink_dangling(layout, link):
    """Remove `link` when it is a symlink into `current` that leads nowhere (nothing is live): what a first deploy
    that was undone leaves. True when it did."""
    if not link or not os.path.islink(link) or os.path.exists(link):
        return False
    if not os.readlink(link).startswith(layout.current + os.sep):
        return False
    os.unlink(link)
    return True
