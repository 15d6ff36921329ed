"""Sending work: the one place that knows whether a broker carries it or this process does.

With `REDIS_URL` set, `task_send` publishes the task by name to its queue (`benchhub.queues`) and a
Celery worker runs it. Without a broker (the embedded default: `CELERY_TASK_ALWAYS_EAGER`), this
process is the worker: a task on the provider-calls queue (a chunk of a run: long) runs in a
background thread so that the request that started a run returns at once (`BENCHHUB_RUNS_INLINE`
= "thread"; "sync" runs it before returning, for tests and scripts), and every other task runs here
and now. Domain code never asks which of the two it is: it sends by name, and reads
`parallel_limit` where the number of tasks running at once matters.

No module imports a `tasks.py` to send work: a task is named, so the sender needs nothing of the
receiving app (and the layers stay one-directional).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
import uuid
from typing import Any

from celery import current_app
from celery.exceptions import Retry
from django.conf import settings
from django.db import DatabaseError, connection, transaction

from benchhub.queues import ROUTES, Queue, queue_for

logger = logging.getLogger("benchhub.dispatch")

# In process, a task that hits a database error (SQLite answering "locked" while a request writes)
# is run again here the way Celery's autoretry does it on a worker: same task id, with a backoff.
IN_PROCESS_RETRIES = 20


def in_process() -> bool:
    """True without a broker. The one reading of it; everything else calls `task_send`."""
    return bool(settings.CELERY_TASK_ALWAYS_EAGER)


def parallel_limit(wanted: int) -> int:
    """How many tasks of one kind may usefully run at once: `wanted` on workers; one in process,
    where one thread drives them (and SQLite has one writer)."""
    return 1 if in_process() else max(1, wanted)


def task_send(name: str, *args: Any) -> None:
    """Send the task `name` with positional `args` (ids, never model instances) now.

    Call it once the transaction that made the work visible has committed (`task_send_on_commit`).
    """
    if not in_process():
        current_app.send_task(name, args=args, queue=queue_for(name))
        return
    if ROUTES.get(name) == Queue.PROVIDER_CALLS and settings.BENCHHUB_RUNS_INLINE != "sync":
        _background(name, args)
    else:
        _run_here(name, args)


def task_send_on_commit(name: str, *args: Any) -> None:
    """`task_send` once the current transaction commits (at once outside a transaction)."""
    transaction.on_commit(functools.partial(task_send, name, *args))


@functools.cache
def _tasks_loaded() -> None:
    # A worker imports every app's tasks.py at start (autodiscovery); in process, do it once here.
    current_app.loader.import_default_modules()


def _run_here(name: str, args: tuple[Any, ...]) -> None:
    _tasks_loaded()
    task = current_app.tasks[name]
    task_id = uuid.uuid4().hex  # kept across retries: a run's chunk is leased to it
    failures = 0
    while True:
        try:
            task.apply(args=args, task_id=task_id, throw=True)
            return
        except (DatabaseError, Retry):  # Retry: the task's own autoretry, raised (not waited) when eager
            failures += 1
            if failures > IN_PROCESS_RETRIES:
                raise
            logger.warning("in-process task hit a database error; retrying", extra={"task": name}, exc_info=True)
            connection.close()
            time.sleep(min(2.0, 0.1 * failures))


_threads: set[threading.Thread] = set()
_threads_lock = threading.Lock()


def _background(name: str, args: tuple[Any, ...]) -> None:
    def main() -> None:
        try:
            _run_here(name, args)
        except Exception:
            logger.exception("in-process task failed", extra={"task": name})
        finally:
            connection.close()
            with _threads_lock:
                _threads.discard(threading.current_thread())

    thread = threading.Thread(target=main, name=f"benchhub-{name}", daemon=True)
    with _threads_lock:
        _threads.add(thread)
    thread.start()


def background_wait(timeout: float | None = None) -> bool:
    """Wait until this process's background tasks (and those they sent) have ended; False on timeout.

    Without a broker a daemon thread dies with its process: a command that started a run waits here
    before it exits. With a broker there is nothing to wait for here.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        with _threads_lock:
            alive = [t for t in _threads if t.is_alive()]
        if not alive:
            return True
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            return False
        alive[0].join(remaining)


_beat_started = False


def embedded_beat_start(*, stop: threading.Event | None = None) -> threading.Thread | None:
    """In process only: send the periodic tasks of `CELERY_BEAT_SCHEDULE` from a daemon thread, the
    first time at once (so a server that starts again recovers the runs its predecessor left), then
    on their schedule, until `stop` is set. With a broker, `celery beat` does this. Once per process."""
    global _beat_started
    if not in_process() or _beat_started:
        return None
    _beat_started = True
    stop = stop or threading.Event()
    schedule = [(entry["task"], float(entry["schedule"])) for entry in settings.CELERY_BEAT_SCHEDULE.values()]

    def main() -> None:
        global _beat_started
        due = {name: 0.0 for name, _ in schedule}
        while not stop.is_set():
            now = time.monotonic()
            for name, every in schedule:
                if now >= due[name]:
                    due[name] = now + every
                    try:
                        task_send(name)
                    except Exception:
                        logger.exception("in-process periodic task failed", extra={"task": name})
                    finally:
                        connection.close()
            stop.wait(max(0.5, min(due.values()) - time.monotonic()))
        _beat_started = False

    thread = threading.Thread(target=main, name="benchhub-beat", daemon=True)
    thread.start()
    return thread
