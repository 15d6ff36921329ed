"""Fixtures for run tests: execution modes (in-process or a real Celery worker) and fake providers."""

from __future__ import annotations

import time

import pytest
from django.db import connection

from tests.fakes.base import Reply
from tests.fakes.openai_server import OPENAI_ERRORS, FakeOpenAI
from tests.support.celery_worker import CeleryWorker
from tests.support.services import require_postgres, require_redis


def database_url() -> str:
    """The URL of the database this test session uses (pytest-django's test database)."""
    s = connection.settings_dict
    return f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def start_worker(queue: str | None = None, **env: str) -> CeleryWorker:
    worker = CeleryWorker(queue=queue)
    worker.env = {
        "DATABASE_URL": database_url(),
        "BENCHHUB_QUEUE_OVERRIDE": worker.queue,
        "BENCHHUB_RUN_FLUSH_SECONDS": "0.2",
        **env,
    }
    return worker.start()


@pytest.fixture(scope="module")
def celery_worker(django_db_setup, django_db_blocker):  # type: ignore[no-untyped-def]
    """One real `celery -A benchhub worker` on a private queue, against the test database."""
    require_redis()
    require_postgres()
    with django_db_blocker.unblock():
        worker = start_worker()
    yield worker
    worker.stop()


class Mode:
    INLINE = "inline"
    CELERY = "celery"


@pytest.fixture(params=[Mode.INLINE, Mode.CELERY])
def execution(request, settings):  # type: ignore[no-untyped-def]
    """Run the test once with runs executed in this process and once on a real Celery worker."""
    if request.param == Mode.INLINE:
        settings.CELERY_TASK_ALWAYS_EAGER = True
        settings.BENCHHUB_RUNS_INLINE = "sync"
        yield Mode.INLINE
        return
    worker = request.getfixturevalue("celery_worker")
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.BENCHHUB_QUEUE_OVERRIDE = worker.queue
    yield Mode.CELERY
    # A run is "ended" a moment before its last task returns (the hand-over and after-run hooks):
    # let the worker go idle before the test database is truncated under it.
    wait_idle(worker)


def wait_idle(worker: CeleryWorker, timeout: float = 30) -> None:
    from benchhub.celery import app

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        replies = app.control.inspect(timeout=1).active() or {}
        mine = [tasks for name, tasks in replies.items() if name.startswith(worker.queue)]
        if mine and not any(mine):
            return
        time.sleep(0.2)


class AlwaysFailing(FakeOpenAI):
    """An OpenAI-compatible server that answers every request with the given canned error."""

    def __init__(self, error: str = "unavailable", **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(**kwargs)
        self.error = error

    def next_reply(self) -> Reply:
        status, body = OPENAI_ERRORS[self.error]
        return Reply.error(status, body)


@pytest.fixture
def failing_server():  # type: ignore[no-untyped-def]
    server = AlwaysFailing("unavailable").start()
    yield server
    server.stop()


@pytest.fixture
def openai_server():  # type: ignore[no-untyped-def]
    server = FakeOpenAI().start()
    yield server
    server.stop()


def point_local_at(org, server) -> None:  # type: ignore[no-untyped-def]
    from providers.services import credential_set

    credential_set(org=org, provider="local", api_key=None, base_url=server.url + "/v1", name="fake")




@pytest.fixture(scope="session", autouse=True)
def _close_gateway_thread_connection():  # type: ignore[no-untyped-def]
    """The gateway reads its settings through `sync_to_async`, whose one worker thread keeps a
    database connection open; close it so that the test database can be dropped at the end."""
    yield
    from asgiref.sync import SyncToAsync
    from django.db import connections

    SyncToAsync.single_thread_executor.submit(connections.close_all).result(timeout=10)
