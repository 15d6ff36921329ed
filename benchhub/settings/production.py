"""Production: secrets come from the environment with no defaults, and unsafe settings refuse to start.

This is the default of every server entry point (wsgi.py, asgi.py, celery.py); only manage.py
defaults to the local settings.
"""

from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import DEFAULT_SECRET_KEY, env

SECRET_KEY = env.str("SECRET_KEY")
DEBUG = env.bool("DEBUG", default=False)
if DEBUG:
    raise ImproperlyConfigured("Production settings refuse to start with DEBUG on.")
if SECRET_KEY == DEFAULT_SECRET_KEY or len(SECRET_KEY) < 50:
    raise ImproperlyConfigured("Set SECRET_KEY to a random value of at least 50 characters.")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")
if not ALLOWED_HOSTS or any(host.strip() in ("*", "") for host in ALLOWED_HOSTS):
    raise ImproperlyConfigured("Set ALLOWED_HOSTS to the site's own host names; '*' is refused.")

# Provider secrets at rest: at least one key, each one a valid Fernet key, built now so a typo stops
# the start instead of the first credential save. Without one, providers.crypto would fall back to a
# key derived from SECRET_KEY, which production never uses.
BENCHHUB_CREDENTIALS_KEY = [key.strip() for key in env.list("BENCHHUB_CREDENTIALS_KEY") if key.strip()]
if not BENCHHUB_CREDENTIALS_KEY:
    raise ImproperlyConfigured(
        "Set BENCHHUB_CREDENTIALS_KEY (Fernet keys, comma-separated, newest first); production never "
        "derives the credentials key from SECRET_KEY."
    )
for _position, _key in enumerate(BENCHHUB_CREDENTIALS_KEY, start=1):
    try:
        Fernet(_key.encode())
    except (ValueError, TypeError):
        raise ImproperlyConfigured(
            f"BENCHHUB_CREDENTIALS_KEY key #{_position} is not a Fernet key (32 url-safe base64-encoded bytes); "
            "make one with `python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`."
        ) from None

# JWTs have their own key: a leaked or default SECRET_KEY must not mint API tokens.
BENCHHUB_JWT_SIGNING_KEY = env.str("BENCHHUB_JWT_SIGNING_KEY")
if len(BENCHHUB_JWT_SIGNING_KEY) < 50 or BENCHHUB_JWT_SIGNING_KEY == SECRET_KEY:
    raise ImproperlyConfigured(
        "Set BENCHHUB_JWT_SIGNING_KEY to a random value of at least 50 characters, not SECRET_KEY."
    )

BENCHHUB_PRIVATE_ENDPOINTS = env.str("BENCHHUB_PRIVATE_ENDPOINTS", default="deny")

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
