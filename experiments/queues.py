"""Where experiments' tasks go. See CELERY_TASK_QUEUES in benchhub/settings/components/runs.py."""

from __future__ import annotations

import enum

from django.conf import settings


class Queue(enum.StrEnum):
    # Chunks of attempts: many provider calls in flight on one event loop; I/O-bound and long.
    PROVIDER_CALLS = "provider_calls"
    # Slow scorers (sandboxed tests, evaluator calls): kept off the provider-call workers.
    SCORING = "scoring"
    # Housekeeping (stuck-run recovery): short, and it must run even when the others are busy.
    DEFAULT = "celery"


def queue_name(queue: Queue) -> str:
    return settings.BENCHHUB_QUEUE_OVERRIDE or queue.value
