"""Settings shared by every environment. Each integration stays off until its variable is set."""

from __future__ import annotations

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"
VAR_DIR.mkdir(exist_ok=True)

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# The embedded default: a key that production refuses (see production.py).
DEFAULT_SECRET_KEY = "django-insecure-benchhub-local-development-key-never-use-in-production"
SECRET_KEY = env.str("SECRET_KEY", default=DEFAULT_SECRET_KEY)
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    # Django admin with BenchHub's site: org owners/admins enter by their role, not a platform flag.
    "orgs.apps.BenchHubAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_prometheus",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "axes",
    "orgs",
    "providers",
    "experiments",
    "evaluation",
    "leaderboards",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "benchhub.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "benchhub.middleware.ApiErrorEnvelopeMiddleware",
    "benchhub.api.throttling.RateLimitHeadersMiddleware",
    # Turns a login refused by a lockout into the 429 answer (benchhub/settings/components/access.py).
    "axes.middleware.AxesMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "benchhub.urls"
WSGI_APPLICATION = "benchhub.wsgi.application"
ASGI_APPLICATION = "benchhub.asgi.application"

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
            ],
        },
    },
]

# --- Database: SQLite file under var/ unless DATABASE_URL is set -------------------------------
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'benchhub.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # psycopg 3 is the only driver we install; keep connections for the life of a worker.
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
else:
    # SQLite serves the embedded demo, where a background thread writes while requests read.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 30, "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"}
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: broker, result backend and cache, all off until REDIS_URL is set ---------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "bh",
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 5},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "benchhub"}}

AUTH_USER_MODEL = "orgs.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)  # whitenoise warns on every start when it is missing
MEDIA_ROOT = VAR_DIR / "media"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# Upload limits: bigger payloads get 413 payload_too_large in the API envelope.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=50 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

# Fernet key(s) for provider secrets at rest; comma-separated, newest first, so keys rotate.
BENCHHUB_CREDENTIALS_KEY = env.list("BENCHHUB_CREDENTIALS_KEY", default=[])

# API keys: the visible part of a key before its secret.
BENCHHUB_API_KEY_PREFIX = "bh"

# Provider gateway: Redis key namespace of the shared limiter/breaker (versioned, so a change of
# format never reads old state), and how long a process trusts its copy of an org's policy.
BENCHHUB_PROVIDER_KEY_PREFIX = env.str("BENCHHUB_PROVIDER_KEY_PREFIX", default="bh:providers:v1")
BENCHHUB_PROVIDER_CONTEXT_TTL = env.float("BENCHHUB_PROVIDER_CONTEXT_TTL", default=2.0)
# May provider calls reach private, loopback or link-local addresses? `allow`, `deny`, or a comma
# list of host:port (providers/egress.py). Allowed here for local work and tests (fake providers
# and the local model listen on loopback); production denies. The database's and Redis's own
# endpoints are refused whatever this says.
BENCHHUB_PRIVATE_ENDPOINTS = env.str("BENCHHUB_PRIVATE_ENDPOINTS", default="allow")
# Members' patterns and schemas (evaluation/scorers.py): bounded time, text, size and depth.
BENCHHUB_REGEX_TIMEOUT_S = env.float("BENCHHUB_REGEX_TIMEOUT_S", default=0.25)
BENCHHUB_REGEX_MAX_SCAN_CHARS = env.int("BENCHHUB_REGEX_MAX_SCAN_CHARS", default=100_000)
BENCHHUB_REGEX_MAX_PATTERN_CHARS = env.int("BENCHHUB_REGEX_MAX_PATTERN_CHARS", default=2_000)
BENCHHUB_SCHEMA_MAX_CHARS = env.int("BENCHHUB_SCHEMA_MAX_CHARS", default=65_536)
BENCHHUB_SCHEMA_MAX_DEPTH = env.int("BENCHHUB_SCHEMA_MAX_DEPTH", default=32)
# Platform ceilings (experiments/limits.py; timeouts and retries clamped by the provider gateway).
BENCHHUB_MAX_ARMS_PER_EXPERIMENT = env.int("BENCHHUB_MAX_ARMS_PER_EXPERIMENT", default=50)
BENCHHUB_MAX_ATTEMPTS_PER_RUN = env.int("BENCHHUB_MAX_ATTEMPTS_PER_RUN", default=1_000_000)
BENCHHUB_MAX_CALL_TIMEOUT_S = env.float("BENCHHUB_MAX_CALL_TIMEOUT_S", default=600.0)
BENCHHUB_MAX_RETRIES = env.int("BENCHHUB_MAX_RETRIES", default=10)
BENCHHUB_MAX_RETRY_DELAY_S = env.float("BENCHHUB_MAX_RETRY_DELAY_S", default=60.0)
BENCHHUB_MAX_RETRY_DEADLINE_S = env.float("BENCHHUB_MAX_RETRY_DEADLINE_S", default=600.0)
# An upload's size is counted while it streams in (experiments.limits.UploadSizeLimit first).
FILE_UPLOAD_HANDLERS = [
    "experiments.limits.UploadSizeLimit",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
# /metrics answers a scraper bearing this token (or a superuser's session); nobody else.
BENCHHUB_METRICS_TOKEN = env.str("BENCHHUB_METRICS_TOKEN", default="")
# How deeply a JSON request body or dataset row may nest (benchhub/api/parsers.py).
BENCHHUB_JSON_MAX_DEPTH = env.int("BENCHHUB_JSON_MAX_DEPTH", default=64)

from .components.access import *  # noqa: E402,F403
from .components.celery import *  # noqa: E402,F403
from .components.drf import *  # noqa: E402,F403
from .components.logging import *  # noqa: E402,F403
from .components.runs import *  # noqa: E402,F403
from .components.sandbox import *  # noqa: E402,F403

# Every API view parses JSON with a depth bound (a deeply nested body is a 400, not a 500).
REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"] = [  # noqa: F405
    "benchhub.api.parsers.BoundedJSONParser", "rest_framework.parsers.FormParser", "rest_framework.parsers.MultiPartParser",
]
