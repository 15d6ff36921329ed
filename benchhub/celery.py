"""The Celery app. Configured from Django settings (CELERY_* names); request ids ride along in headers."""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import before_task_publish, task_postrun, task_prerun, worker_init, worker_process_init

# Servers and workers default to production (fails closed: it refuses to start without its
# secrets); only manage.py defaults to the local settings.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchhub.settings.production")

app = Celery("benchhub")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

REQUEST_ID_HEADER = "benchhub_request_id"


@before_task_publish.connect
def _attach_request_id(headers: dict | None = None, **_: object) -> None:
    from benchhub.request_context import get_request_id

    request_id = get_request_id()
    if headers is not None and request_id:
        headers[REQUEST_ID_HEADER] = request_id


@task_prerun.connect
def _restore_request_id(task=None, **_: object) -> None:
    from benchhub.request_context import set_request_id

    if task is None:
        return
    # Protocol 2 exposes custom message headers as attributes of the request context.
    request_id = getattr(task.request, REQUEST_ID_HEADER, None) or (task.request.headers or {}).get(
        REQUEST_ID_HEADER
    )
    set_request_id(request_id or f"task-{task.request.id}")


@task_postrun.connect
def _clear_request_id(**_: object) -> None:
    from benchhub.request_context import set_request_id

    set_request_id(None)


@worker_init.connect
def _preload_before_fork(**_: object) -> None:
    from benchhub.tracing import tracing_setup
    from benchhub.worker_preload import preload_for_fork

    preload_for_fork()
    tracing_setup()  # the solo pool's one process; prefork children set up their own below


@worker_process_init.connect
def _tracing_in_each_process(**_: object) -> None:
    # After the fork: the parent's span-export thread did not come along (off without OTEL_* set).
    from benchhub.tracing import tracing_setup

    tracing_setup(force=True)
