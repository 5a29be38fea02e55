"""collectstatic for one release, into that release's own directory, so a deploy that fails before the switch
never changes what the live release serves and a rollback serves the old release's files.

- STATIC_ROOT a real directory inside the release (`BASE_DIR / "staticfiles"`): collected there, as it is.
- STATIC_ROOT elsewhere in the deploy path (`{path}/shared/static`, or a release path that `shared_dirs` links
  into shared/): collected into `{release}/collected_static`, and the STATIC_ROOT path becomes a symlink to
  `{path}/current/collected_static`, so it follows the switch.
- STATIC_ROOT outside the deploy path: collected there as before, with a warning.

Files whose content equals the live release's copy are hard-linked to it (one inode, no second copy)."""
import io
import os
import shutil

from .errors import ServerError
from .files import sha256_of
from .journal import note
from .layout import ServerLayout
from .media import inside
from .results import StaticCollected

PER_RELEASE = "collected_static"


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
    summary = run_collectstatic(own)
    linked = link_unchanged(own, live and os.path.join(live, name))
    result = {"collectstatic": with_links(summary, linked), "static_root": root, "collected_into": own, "linked": linked}
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
