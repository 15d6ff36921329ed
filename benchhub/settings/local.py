"""Developer machine and the embedded demo: DEBUG on unless the environment says otherwise."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DEBUG", default=True)
# The demo's local model listens on loopback.
BENCHHUB_PRIVATE_ENDPOINTS = env.str("BENCHHUB_PRIVATE_ENDPOINTS", default="allow")
