"""Loaded into the benchmark's Celery worker with `--include benchmarks.worker_probe`.

Counts every SQL statement each worker process sends (all threads, the gateway's included) and
writes the count and the process's peak RSS to `$BENCH_PROBE_DIR/<pid>.json` after each task.
"""

from __future__ import annotations

import json
import os
import resource
import threading
from pathlib import Path

from celery.signals import task_postrun, worker_process_init
from django.db.backends.signals import connection_created

_lock = threading.Lock()
_queries = [0]


def _count(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
    with _lock:
        _queries[0] += 1
    return execute(sql, params, many, context)


def _install(sender=None, connection=None, **_: object) -> None:  # type: ignore[no-untyped-def]
    if connection is not None and _count not in connection.execute_wrappers:
        connection.execute_wrappers.append(_count)


connection_created.connect(_install, dispatch_uid="bench-probe")


def _dump(**_: object) -> None:
    directory = os.environ.get("BENCH_PROBE_DIR")
    if not directory:
        return
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    Path(directory, f"{os.getpid()}.json").write_text(json.dumps({"queries": _queries[0], "peak_rss_kb": peak_kb}))


task_postrun.connect(_dump, weak=False)
worker_process_init.connect(lambda **_: _queries.__setitem__(0, 0), weak=False)

