"""Logins and tokens: JWT signing, brute-force lockout (django-axes) and per-key rate limits."""

from __future__ import annotations

import secrets
from datetime import timedelta

import environ

env = environ.Env()

# JWT login for programs that would rather not hold a long-lived key. Tokens are signed with their
# own key, never SECRET_KEY (production requires it; see production.py). Without one (local, tests)
# each process makes a random key: tokens then last until the server restarts.
BENCHHUB_JWT_TTL_SECONDS = env.int("BENCHHUB_JWT_TTL_SECONDS", default=3600)
BENCHHUB_JWT_SIGNING_KEY = env.str("BENCHHUB_JWT_SIGNING_KEY", default="") or secrets.token_urlsafe(48)
BENCHHUB_JWT_AUDIENCE = "benchhub-api"

# django-axes sits first so that a locked-out account or address never reaches the password check.
AUTHENTICATION_BACKENDS = [
    "orgs.login_throttle.LoginLockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Failed logins (dashboard /login/, /admin/login/, POST api/v1/auth/token/) are counted per account
# and per address separately: either reaching the limit locks it out for the cool-off time.
AXES_FAILURE_LIMIT = env.int("BENCHHUB_LOGIN_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("BENCHHUB_LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_USERNAME_CALLABLE = "orgs.login_throttle.login_username"
AXES_LOCKOUT_CALLABLE = "orgs.login_throttle.lockout_response"
# The address is REMOTE_ADDR (a proxy in front must pass the client's address as the peer address).
AXES_VERBOSE = False

# Per API key (or person) limits on the routes that spend provider money; 429 with Retry-After
# and X-RateLimit-* headers past them. DRF rate syntax: "<n>/<sec|min|hour|day>".
BENCHHUB_RATE_CHAT = env.str("BENCHHUB_RATE_CHAT", default="120/min")
BENCHHUB_RATE_RUNS = env.str("BENCHHUB_RATE_RUNS", default="30/min")
BENCHHUB_RATE_EVALUATE = env.str("BENCHHUB_RATE_EVALUATE", default="120/min")
