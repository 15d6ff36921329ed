"""The request id travels from the request that enqueued a task into the worker's logs."""

from __future__ import annotations

import json

from benchhub.request_context import reset_request_id, set_request_id
from tests.support.celery_worker import CeleryWorker
from tests.support.services import require_redis


def test_request_id_reaches_worker_logs():
    require_redis()
    from tests.support.tasks import echo_request_id

    worker = CeleryWorker(include=("tests.support.tasks",)).start()
    try:
        token = set_request_id("celery-trace-42")
        try:
            result = echo_request_id.apply_async(queue=worker.queue)
        finally:
            reset_request_id(token)
        assert result.get(timeout=30) == "celery-trace-42"
    finally:
        worker.stop()
    lines = [json.loads(line) for line in worker.log().splitlines() if line.startswith("{")]
    ran = [line for line in lines if line.get("message") == "echo task ran"]
    assert ran and ran[0]["request_id"] == "celery-trace-42"

