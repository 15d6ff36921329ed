"""Tasks that exist only for tests; a test worker loads them with `--include tests.support.tasks`."""

from __future__ import annotations

import logging

from celery import shared_task

from benchhub.request_context import get_request_id

logger = logging.getLogger("benchhub.tests")


@shared_task(name="tests.echo_request_id")
def echo_request_id() -> str | None:
    logger.warning("echo task ran")
    return get_request_id()
