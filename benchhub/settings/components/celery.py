"""Celery: Redis broker when REDIS_URL is set, otherwise tasks run in-process."""

from __future__ import annotations

import environ

env = environ.Env()
_redis_url = env.str("REDIS_URL", default="")

CELERY_BROKER_URL = _redis_url or "memory://"
CELERY_RESULT_BACKEND = _redis_url or None
# Without a broker the embedded default runs each task where it is sent.
CELERY_TASK_ALWAYS_EAGER = not _redis_url
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=1800)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 60
# Redis redelivers an unacknowledged task after visibility_timeout: keep it above the time limit.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_TASK_TIME_LIMIT + 600}
CELERY_RESULT_EXPIRES = 3600
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
