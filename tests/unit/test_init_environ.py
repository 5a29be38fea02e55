"""deploytasks init: the environment variables a settings file reads, read from its source (init_environ): only
names passed to a reader (not every quoted upper-case string), whether each has a default, and the setting it is
read for."""
import pytest

from deploytasks.init_environ import Read, name_for, reads_in


@pytest.mark.parametrize("source, expected", [
    ('SECRET_KEY = env("DJANGO_SECRET_KEY")', ("DJANGO_SECRET_KEY", True)),
    ('SECRET_KEY = env("DJANGO_SECRET_KEY", default="x")', ("DJANGO_SECRET_KEY", False)),
    ('SECRET_KEY = env("DJANGO_SECRET_KEY", str, "x")', ("DJANGO_SECRET_KEY", False)),
    ('SECRET_KEY = env("DJANGO_SECRET_KEY", str)', ("DJANGO_SECRET_KEY", True)),  # a cast, no default
    ('DEBUG = env.bool("DJANGO_DEBUG", False)', ("DJANGO_DEBUG", False)),
    ('ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")', ("DJANGO_ALLOWED_HOSTS", True)),
    ('DATABASES = {"default": env.db("DATABASE_URL")}', ("DATABASE_URL", True)),
    ('DATABASES = {"default": env.db()}', ("DATABASE_URL", True)),
    ('import dj_database_url\nDATABASES = {"default": dj_database_url.config(conn_max_age=600)}',
     ("DATABASE_URL", False)),
    ('ADMIN_URL = os.environ["DJANGO_ADMIN_URL"]', ("DJANGO_ADMIN_URL", True)),
    ('ADMIN_URL = os.environ.get("DJANGO_ADMIN_URL")', ("DJANGO_ADMIN_URL", False)),
    ('ADMIN_URL = os.getenv("DJANGO_ADMIN_URL", "admin/")', ("DJANGO_ADMIN_URL", False)),
    ('from os import environ\nADMIN_URL = environ["DJANGO_ADMIN_URL"]', ("DJANGO_ADMIN_URL", True)),
    ('from decouple import config\nSECRET_KEY = config("SECRET_KEY")', ("SECRET_KEY", True)),
    ('DEBUG = config("DEBUG", default=False, cast=bool)', ("DEBUG", False)),
    ('DEBUG = env_bool("DEBUG", default=True)', ("DEBUG", False)),  # the project's own helper
    ('KEY = get_env_variable("SECRET_KEY")', ("SECRET_KEY", False)),  # what it does without one is its own
    ('environ = Env()\nSECRET_KEY = environ("SECRET_KEY")', ("SECRET_KEY", True)),
    ('env = environ.Env(DEBUG=(bool, False))\nDEBUG = env("DEBUG")', ("DEBUG", False)),  # a default in the scheme
])
def test_a_read_is_found_with_whether_it_has_a_default(source, expected):
    assert [(read.name, read.required) for read in reads_in(source)] == [expected]


@pytest.mark.parametrize("source", [
    'LOGGING = {"handlers": {"console": {"level": "DEBUG", "class": "logging.StreamHandler"}}}',
    'SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")',
    'env.read_env(str(BASE_DIR / ".env"))',
    'os.environ["DJANGO_SETTINGS_MODULE"] = "x.settings"',  # written, not read
    'def helper(name):\n    return os.environ.get(name)',  # no name of its own
    'DEBUG = (',  # does not parse
])
def test_strings_that_are_not_read_from_the_environment_are_not_reads(source):
    assert reads_in(source) == []


def test_each_read_knows_the_setting_it_is_assigned_to():
    source = ('DATABASES = {"default": env.db("DATABASE_URL")}\n'
              'DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)\n'
              'if env("USE_DOCKER") == "yes":\n    INTERNAL_IPS = ["127.0.0.1"]\n')
    assert {(read.name, read.setting) for read in reads_in(source)} == {
        ("DATABASE_URL", "DATABASES"), ("CONN_MAX_AGE", "DATABASES"), ("USE_DOCKER", "")}


def test_a_setting_is_read_from_the_variable_its_assignment_reads_before_one_named_like_it_elsewhere():
    reads = [Read("SECRET_KEY", False, "OLD_KEY"), Read("DJANGO_SECRET_KEY", True, "SECRET_KEY"),
             Read("DJANGO_DEBUG", False, "DEBUG"), Read("DATABASE_URL", True, "DATABASES")]
    assert name_for("SECRET_KEY", reads) == "DJANGO_SECRET_KEY"
    assert name_for("DEBUG", reads) == "DJANGO_DEBUG"
    assert name_for("DATABASE_URL", reads) == "DATABASE_URL"
    assert name_for("ALLOWED_HOSTS", reads) == ""
    assert name_for("DATABASE_URL", [Read("PG_URL", True, "DATABASES")]) == "PG_URL"
    assert name_for("DEBUG", [Read("ENVIRONMENT", True, "DEBUG")]) == ""  # not a variable named like it
    assert name_for("SECRET_KEY", [Read("MYSHOP_SECRET_KEY", True, "")]) == "MYSHOP_SECRET_KEY"
    assert name_for("DEBUG", [Read("SENTRY_DEBUG", False, "SENTRY_DEBUG")]) == ""  # another setting's
