"""Datasets and run execution (the `experiments` app): limits, chunking, leases, queues."""

from __future__ import annotations

import environ
from kombu import Queue

env = environ.Env()

# Uploads above these get 413 payload_too_large.
BENCHHUB_DATASET_MAX_BYTES = env.int("BENCHHUB_DATASET_MAX_BYTES", default=25 * 1024 * 1024)
BENCHHUB_DATASET_MAX_ROWS = env.int("BENCHHUB_DATASET_MAX_ROWS", default=100_000)

# Attempts per Celery task, and how many chunks of one run may execute at once (its "lanes"); the
# run's concurrency is split over its lanes, so it holds across any number of workers.
BENCHHUB_RUN_CHUNK_SIZE = env.int("BENCHHUB_RUN_CHUNK_SIZE", default=500)
BENCHHUB_RUN_LANES = env.int("BENCHHUB_RUN_LANES", default=2)
# A lane's task goes on into the run's next pending chunk (claimed before the current one runs dry,
# so its calls never pause) for this long, then hands the lane on through the queue, where other
# runs' chunks get their turn.
BENCHHUB_RUN_LANE_SLICE_SECONDS = env.float("BENCHHUB_RUN_LANE_SLICE_SECONDS", default=30)
# Results are written in batches: every this many seconds or this many results, whichever first.
BENCHHUB_RUN_FLUSH_SECONDS = env.float("BENCHHUB_RUN_FLUSH_SECONDS", default=0.5)
BENCHHUB_RUN_FLUSH_BATCH = env.int("BENCHHUB_RUN_FLUSH_BATCH", default=500)
# An executor renews its chunk's lease at every flush; a lease this old means the executor died
# (e.g. SIGKILL) and the chunk is handed to another one. Keep it well above the flush interval.
BENCHHUB_RUN_LEASE_SECONDS = env.int("BENCHHUB_RUN_LEASE_SECONDS", default=60)
# A chunk enqueued this long ago and never claimed is sent again (a lost message); duplicates are
# harmless because claiming a chunk is a conditional update.
BENCHHUB_RUN_REQUEUE_AFTER_SECONDS = env.int("BENCHHUB_RUN_REQUEUE_AFTER_SECONDS", default=900)
BENCHHUB_RUN_RECOVER_INTERVAL_SECONDS = env.int("BENCHHUB_RUN_RECOVER_INTERVAL_SECONDS", default=30)
# The provider calls' event loop uses uvloop when it is installed (the default install has it).
BENCHHUB_RUN_UVLOOP = env.bool("BENCHHUB_RUN_UVLOOP", default=True)
# Without a broker (CELERY_TASK_ALWAYS_EAGER) runs execute in the server process: "thread" returns
# at once and proceeds in a background thread; "sync" executes before returning (tests, scripts).
BENCHHUB_RUNS_INLINE = env.str("BENCHHUB_RUNS_INLINE", default="thread")
# Send every experiments task to this one queue instead of the routing below (test workers, which
# listen on a private queue so that they only see their own test's tasks).
BENCHHUB_QUEUE_OVERRIDE = env.str("BENCHHUB_QUEUE_OVERRIDE", default="")

# Queues (benchhub.queues.Queue): provider calls are I/O-bound and long; scoring may be slow
# (sandboxes, evaluator calls) and must not hold up provider calls; "celery" is Celery's default
# for everything else. A worker started without -Q consumes all of them.
CELERY_TASK_QUEUES = [Queue("celery"), Queue("provider_calls"), Queue("scoring"), Queue("validation")]
CELERY_BEAT_SCHEDULE = {
    "runs-recover": {
        "task": "experiments.runs_recover",
        "schedule": float(BENCHHUB_RUN_RECOVER_INTERVAL_SECONDS),
    },
}
