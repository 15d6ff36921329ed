"""Where each task goes: the queues and the routes, in one place.

A worker started without `-Q` consumes every queue below; production runs one pool per queue so
that slow work never holds up provider calls. `settings.CELERY_TASK_QUEUES` declares the same
names to the broker. `BENCHHUB_QUEUE_OVERRIDE` sends every task to one queue instead (test
workers and the throughput benchmark listen on a private queue, so they only see their own tasks).
"""

from __future__ import annotations

import enum

from django.conf import settings


class Queue(enum.StrEnum):
    # Chunks of attempts: many provider calls in flight on one event loop; I/O-bound and long.
    PROVIDER_CALLS = "provider_calls"
    # Slow scorers (sandboxed tests, evaluator calls) and leaderboard aggregation (CPU-bound
    # numpy work of up to tens of seconds): kept off the provider-call workers.
    SCORING = "scoring"
    # Applying and testing patches in a sandbox: the slowest work, isolated from scoring.
    VALIDATION = "validation"
    # Housekeeping (stuck-run recovery): short, and it must run even when the others are busy.
    DEFAULT = "celery"


# Task name -> queue. A task not listed goes to DEFAULT.
ROUTES: dict[str, Queue] = {
    "experiments.attempts_execute": Queue.PROVIDER_CALLS,
    "experiments.attempts_score_slow": Queue.SCORING,
    "experiments.evaluator_replay": Queue.SCORING,
    "leaderboards.refresh": Queue.SCORING,
    "experiments.runs_recover": Queue.DEFAULT,
}


def queue_for(task_name: str) -> str:
    """The queue a task is sent to, after the override."""
    return settings.BENCHHUB_QUEUE_OVERRIDE or ROUTES.get(task_name, Queue.DEFAULT).value
