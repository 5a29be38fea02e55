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
from .layout import ServerLayout
from .media import inside

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


def collect(params):
    """{"collectstatic": summary, "static_root", "collected_into", "linked" (files shared with the live release),
    "warning"?} for the release params["release"] under params["path"]."""
    from django.conf import settings

    root = str(getattr(settings, "STATIC_ROOT", "") or "")
    if not root or not params.get("path") or not params.get("release"):
        return {"collectstatic": run_collectstatic(root or None)}
    layout = ServerLayout(params["path"])
    release_path = layout.release(params["release"])
    release = os.path.realpath(release_path)
    live = os.path.realpath(layout.current) if os.path.islink(layout.current) else None
    live = live if live != release else None
    configured = os.path.abspath(root)
    in_release_dir = resolved(configured)  # the parent resolved, the last part kept: a shared_dirs link stays a link
    if inside(in_release_dir, release) and in_release_dir != release and not os.path.islink(in_release_dir):
        relative = os.path.relpath(in_release_dir, release)
        summary = run_collectstatic(in_release_dir)
        linked = link_unchanged(in_release_dir, live and os.path.join(live, relative))
        return {"collectstatic": with_links(summary, linked), "static_root": root, "collected_into": in_release_dir, "linked": linked}
    shared_root = None if os.path.islink(in_release_dir) and inside(in_release_dir, release) else in_release_dir
    if shared_root and not inside(shared_root, os.path.realpath(params["path"])):
        return {"collectstatic": run_collectstatic(root), "static_root": root, "collected_into": root,
                "warning": "STATIC_ROOT %s is outside the deploy path %s: collectstatic writes there as before, "
                           "so a failed deploy can change the live static files" % (root, params["path"])}
    if shared_root is None:  # a release path that shared_dirs linked into shared/: a real directory per release
        relative = os.path.relpath(in_release_dir, release)
        os.unlink(in_release_dir)
        shared_root, own, name = os.path.join(layout.shared, relative), in_release_dir, relative
    else:
        own, name = os.path.join(release, PER_RELEASE), PER_RELEASE
    summary = run_collectstatic(own)
    linked = link_unchanged(own, live and os.path.join(live, name))
    point_to_current(shared_root, layout, live, name)
    return {"collectstatic": with_links(summary, linked), "static_root": root, "collected_into": own, "linked": linked,
            "served_from": os.path.join(layout.current, name)}
