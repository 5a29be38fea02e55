"""deploytasks init: the DJANGO_SETTINGS_MODULE manage.py sets by default, worked out from its source as manage.py
would work it out (init_facts.settings_module_in)."""
import pytest

from deploytasks.init_facts import settings_module_in

SET = "import os\n\nos.environ.setdefault({key}, {value})\n"


@pytest.mark.parametrize("value, expected", [
    ("'mysite.settings'", "mysite.settings"),
    ('"mysite.settings.dev"', "mysite.settings.dev"),
    ("'shop.settings.' + os.environ.get('DJANGO_ENV', 'dev')", "shop.settings.dev"),
    ("'shop.settings.' + os.getenv('DJANGO_ENV', 'local')", "shop.settings.local"),
    ("f\"shop.settings.{os.environ.get('DJANGO_ENV', 'dev')}\"", "shop.settings.dev"),
    ("'shop.settings.' + environ.get('DEPLOYTASKS_TEST_UNSET_VARIABLE', 'dev')", "shop.settings.dev"),
    ("'shop.settings.' + os.environ.get('DEPLOYTASKS_TEST_UNSET_VARIABLE')", ""),  # no default: unknown
    ("'shop.settings.' + ENVIRONMENT", ""),  # a name: unknown
    ("'shop.settings.'", ""),  # no module name
    ("'shop settings'", ""),
])
def test_the_default_is_worked_out_or_left_unknown(value, expected):
    assert settings_module_in(SET.format(key="'DJANGO_SETTINGS_MODULE'", value=value)) == expected


def test_this_environments_value_wins_over_the_default_as_it_would_for_manage_py(monkeypatch):
    monkeypatch.setenv("DJANGO_ENV", "staging")
    assert settings_module_in(SET.format(key="'DJANGO_SETTINGS_MODULE'",
                                         value="'shop.settings.' + os.environ.get('DJANGO_ENV', 'dev')")) == (
        "shop.settings.staging")


def test_other_setdefaults_and_broken_files_are_not_read():
    assert settings_module_in(SET.format(key="'OTHER'", value="'x.settings'")) == ""
    assert settings_module_in("def main(:\n") == ""


def test_the_site_is_named_after_its_settings_package_unless_that_is_a_generic_one():
    from deploytasks.init_facts import Facts, site_name

    assert site_name(Facts(root="/home/me/code/whatever", name="shop")) == "shop"
    assert site_name(Facts(root="/home/me/code/ex1site", name="config")) == "ex1site"  # cookiecutter-django's
    assert site_name(Facts(root="/home/me/code/my.site", name="config")) == "my-site"
    assert site_name(Facts(root="/home/me/code/123", name="")) == "mysite"
