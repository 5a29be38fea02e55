"""deploytasks init, settings read statically: the paths a settings value names (init_facts._literal), BASE_DIR
taken as the project, simple assignments below it followed, anything else no guess."""
import ast

import pytest

from deploytasks.init_facts import _literal

BASE = 'from pathlib import Path\nBASE_DIR = Path(__file__).resolve(strict=True).parent.parent.parent\n'


def media_root(source):
    values = {node.targets[0].id: node.value for node in ast.parse(source).body if isinstance(node, ast.Assign)}
    return _literal(values["MEDIA_ROOT"], "/p", values)


@pytest.mark.parametrize("source, expected", [
    (BASE + 'MEDIA_ROOT = BASE_DIR / "media"', "/p/media"),
    (BASE + 'APPS_DIR = BASE_DIR / "myshop"\nMEDIA_ROOT = str(APPS_DIR / "media")', "/p/myshop/media"),
    (BASE + 'APPS_DIR = BASE_DIR / "src" / "myshop"\nVAR = APPS_DIR / "var"\nMEDIA_ROOT = os.path.join(VAR, "m")',
     "/p/src/myshop/var/m"),
    ('import os\nPROJECT_DIR = os.path.dirname(os.path.dirname(__file__))\nMEDIA_ROOT = os.path.join(PROJECT_DIR, '
     '"media")', "/p/media"),  # a *DIR computed from __file__: the project, as BASE_DIR
    ('MEDIA_ROOT = BASE_DIR / "media"', "/p/media"),  # BASE_DIR from a module not followed
    (BASE + 'APPS_DIR = BASE_DIR.path("myshop")\nMEDIA_ROOT = str(APPS_DIR / "media")', None),
    (BASE + 'MEDIA_ROOT = str(APPS_DIR / "media")', None),  # APPS_DIR imported: unknown, not the project
    (BASE + 'APPS_DIR = APPS_DIR / "x"\nMEDIA_ROOT = APPS_DIR / "media"', None),
])
def test_a_path_below_a_directory_is_followed_through_simple_assignments_or_not_guessed(source, expected):
    assert media_root(source) == expected
