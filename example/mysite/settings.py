"""
Django settings for the deploytasks example project.

Every value that differs between a laptop and a server is read from the
environment (see ``.env.example``). The defaults are meant for local
development only: DEBUG is on, the SECRET_KEY is a published, insecure
placeholder and the database is a SQLite file next to ``manage.py``.

https://docs.djangoproject.com/en/5.2/topics/settings/
https://docs.djangoproject.com/en/5.2/ref/settings/
"""

import os
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

TRUE_VALUES = {"1", "true", "yes", "on"}


def env_bool(name, default=False):
    """Read a boolean from the environment: 1/true/yes/on (any case) is true."""
    value = os.environ.get(name)
    if value is None or not value.strip():
        return default
    return value.strip().lower() in TRUE_VALUES


def env_list(name, default=""):
    """Read a comma-separated list from the environment, dropping blanks."""
    value = os.environ.get(name, default)
    return [item.strip() for item in value.split(",") if item.strip()]


def env_int(name, default=0):
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}")


# Options applied to every SQLite connection. WAL lets readers carry on while
# a writer (a request, a migration, a backup) holds the database, which is
# what you want once gunicorn runs several workers against one file.
SQLITE_OPTIONS = {"init_command": "PRAGMA journal_mode=WAL;"}

DATABASE_ENGINES = {
    "postgres": "django.db.backends.postgresql",
    "postgresql": "django.db.backends.postgresql",
    "pgsql": "django.db.backends.postgresql",
    "mysql": "django.db.backends.mysql",
    "sqlite": "django.db.backends.sqlite3",
}


def parse_database_url(url, base_dir=BASE_DIR):
    """Turn a DATABASE_URL into a Django ``DATABASES["default"]`` dict.

    Supported forms::

        sqlite:///db.sqlite3                  relative to base_dir
        sqlite:////var/lib/mysite/db.sqlite3  absolute (note the 4 slashes)
        sqlite://:memory:                     in-memory (tests only)
        postgres://user:pass@host:5432/name   also postgresql://
        mysql://user:pass@host:3306/name

    User name, password, host and database name are URL-decoded, so
    ``p%40ss`` becomes ``p@ss`` and ``%2Fvar%2Frun%2Fpostgresql`` can be used
    as a Unix socket directory. Query parameters (``?sslmode=require``) are
    passed through as ``OPTIONS``.
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in DATABASE_ENGINES:
        raise ImproperlyConfigured(
            f"DATABASE_URL: unsupported scheme {parts.scheme!r}; "
            f"use one of {', '.join(sorted(DATABASE_ENGINES))}"
        )
    options = dict(parse_qsl(parts.query))

    if scheme == "sqlite":
        if parts.netloc == ":memory:" or parts.path in ("/:memory:", ":memory:"):
            name = ":memory:"
        else:
            # "sqlite:///rel/path" -> path "/rel/path"; "sqlite:////abs" -> "//abs".
            # Drop exactly one slash: what remains is relative or absolute.
            path = unquote(parts.netloc + parts.path)
            path = path[1:] if path.startswith("/") else path
            if not path:
                raise ImproperlyConfigured(f"DATABASE_URL: no SQLite file in {url!r}")
            name = str(Path(base_dir) / path)  # an absolute path wins in "/"
        return {
            "ENGINE": DATABASE_ENGINES[scheme],
            "NAME": name,
            "OPTIONS": {**SQLITE_OPTIONS, **options},
        }

    try:
        port = parts.port
    except ValueError:
        raise ImproperlyConfigured(f"DATABASE_URL: invalid port in {url!r}")
    name = unquote(parts.path.lstrip("/"))
    if not name:
        raise ImproperlyConfigured(f"DATABASE_URL: no database name in {url!r}")
    return {
        "ENGINE": DATABASE_ENGINES[scheme],
        "NAME": name,
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": unquote(parts.hostname or ""),
        "PORT": str(port) if port else "",
        "OPTIONS": options,
    }


# --- Core -------------------------------------------------------------------

# SECURITY WARNING: this default is public. Set SECRET_KEY on every server.
SECRET_KEY = os.environ.get(
    "SECRET_KEY",
    "django-insecure-dev-only-change-me-0d9f3c7e2b8a4f61a5e7c2d9b1f04e83",
)

# SECURITY WARNING: don't run with DEBUG turned on in production!
DEBUG = env_bool("DEBUG", default=True)

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")

# Needed when the site is served over https on a non-default host/port, e.g.
# CSRF_TRUSTED_ORIGINS=https://example.com,https://www.example.com
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "accounts",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "mysite.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.site",
            ],
        },
    },
]

WSGI_APPLICATION = "mysite.wsgi.application"

# --- Database -----------------------------------------------------------------

DATABASE_URL = os.environ.get("DATABASE_URL", "").strip()

if DATABASE_URL:
    DATABASES = {"default": parse_database_url(DATABASE_URL)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": BASE_DIR / "db.sqlite3",
            "OPTIONS": dict(SQLITE_OPTIONS),
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Authentication -------------------------------------------------------------

AUTH_USER_MODEL = "accounts.User"

_VALIDATORS = "django.contrib.auth.password_validation"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": f"{_VALIDATORS}.UserAttributeSimilarityValidator"},
    {"NAME": f"{_VALIDATORS}.MinimumLengthValidator"},
    {"NAME": f"{_VALIDATORS}.CommonPasswordValidator"},
    {"NAME": f"{_VALIDATORS}.NumericPasswordValidator"},
]

LOGIN_URL = "admin:login"

# --- Internationalization -----------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Static and media files -----------------------------------------------------

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT") or BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]

MEDIA_URL = "media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT") or BASE_DIR / "media")

# --- Security -----------------------------------------------------------------
# Sensible hardening whenever DEBUG is off. Everything that would break a
# plain-http deployment (https redirect, secure cookies, HSTS) stays opt-in,
# so the site keeps working on http://127.0.0.1 behind no proxy at all.

if not DEBUG:
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SECURE_REFERRER_POLICY = "same-origin"
    SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
    X_FRAME_OPTIONS = "DENY"
    SESSION_COOKIE_HTTPONLY = True

    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=False)
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", default=False)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", default=False)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", default=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS")
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD")
    # Only trust X-Forwarded-Proto when a reverse proxy (nginx, caddy) sets it.
    if env_bool("SECURE_PROXY_SSL_HEADER"):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Logging ------------------------------------------------------------------

LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO").upper()

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "console": {
            "format": "{asctime} {levelname} {name}: {message}",
            "style": "{",
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "console",
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        # Unhandled exceptions when DEBUG is off; always worth seeing.
        "django.request": {
            "handlers": ["console"],
            "level": "ERROR",
            "propagate": False,
        },
        "accounts": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
    },
}
