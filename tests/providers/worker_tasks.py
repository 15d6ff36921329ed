"""A task for the two-worker limiter test; workers load it with `--include tests.providers.worker_tasks`."""

from __future__ import annotations

import asyncio
import os

from celery import shared_task

from providers.gateway import acomplete, run_sync
from providers.interface import ProviderError
from providers.requests import completion_request


@shared_task(name="tests.providers.gateway_burst")
def gateway_burst(org_id: int, provider: str, model: str, calls: int, tag: str) -> dict:
    """Make `calls` gateway calls at once from this worker; report each outcome and the worker pid."""

    async def one(i: int) -> str:
        request = completion_request(model=model, messages=[{"role": "user", "content": f"{tag}-{i}"}])
        try:
            result = await acomplete(org_id=org_id, provider=provider, request=request)
        except ProviderError as exc:
            return f"error:{exc.type}"
        return result.text

    async def run() -> list[str]:
        return list(await asyncio.gather(*[one(i) for i in range(calls)]))

    return {"pid": os.getpid(), "outcomes": run_sync(run)}
