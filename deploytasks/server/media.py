"""The project's media directory on a server, from its MEDIA_ROOT (not a fixed `media/`): inside the release it
is linked to the same path under shared/, so uploads outlive releases; outside the deploy path it is a warning
(deploytasks neither keeps nor shares it)."""
import os

from .files import link_directory
from .layout import ServerLayout
from .results import SharedMedia


def inside(path, directory):
    return path == directory or path.startswith(directory.rstrip(os.sep) + os.sep)


def share(params) -> SharedMedia:
    """{"media_root", "shared" (the shared/ directory it lives in) or "warning"} for the release params["release"]
    under params["path"]; links it into the release unless shared_dirs already did."""
    from django.conf import settings

    root = str(getattr(settings, "MEDIA_ROOT", "") or "")
    if not root or not params.get("path"):
        return {"media_root": root}
    layout = ServerLayout(params["path"])
    release = os.path.realpath(layout.release(params["release"]))
    absolute = os.path.abspath(root)
    media = os.path.join(os.path.realpath(os.path.dirname(absolute)), os.path.basename(absolute))  # a link stays
    if inside(media, release) and media != release:
        relative = os.path.relpath(media, release)
        shared = os.path.join(layout.shared, relative)
        if relative not in (params.get("shared_dirs") or []):
            link_directory(shared, media)
        return {"media_root": root, "shared": shared}
    if inside(media, os.path.realpath(params["path"])):
        return {"media_root": root, "shared": media}
    return {"media_root": root, "warning": "MEDIA_ROOT %s is outside the deploy path %s: uploads there are neither "
                                           "shared between releases nor backed up by deploytasks; make sure it "
                                           "persists" % (root, params["path"])}
