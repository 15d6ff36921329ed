"""Test settings: fast hashing, quiet logs. DATABASE_URL and REDIS_URL still decide the backends."""

from .base import *  # noqa: F403
from .base import LOGGING

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGGING["root"]["level"] = "WARNING"
BENCHHUB_CREDENTIALS_KEY = ["x7pM1bq0KsqkE3Ad4XJ0q9UO3c8QbCqJ6o7n8g0Zb1A="]
