"""Must show: two real Celery worker processes share one provider limit through Redis.

The local fake server counts concurrent requests: it never sees more than the configured
concurrency, and calls beyond the per-minute budget wait (and succeed) instead of failing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from django.db import connection

from tests.providers.conftest import allow_everything, connect
from tests.support.celery_worker import CeleryWorker
from tests.support.services import require_postgres, require_redis

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def two_workers(django_db_setup, django_db_blocker) -> Iterator[list[CeleryWorker]]:  # type: ignore[no-untyped-def]
    redis_url = require_redis()
    require_postgres()
    with django_db_blocker.unblock():
        db = connection.settings_dict
    # The workers read and write the test database the test process set up.
    database_url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    queue = f"test-limits-{uuid.uuid4().hex[:8]}"
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "BENCHHUB_PROVIDER_KEY_PREFIX": f"bh:providers:test:{uuid.uuid4().hex[:10]}",
    }
    workers = [CeleryWorker(queue=queue, include=("tests.providers.worker_tasks",), env=env) for _ in range(2)]
    try:
        for worker in workers:
            worker.start()
        yield workers
    finally:
        for worker in workers:
            worker.stop()


@pytest.fixture
def limited_org(org_world):  # type: ignore[no-untyped-def]
    org = org_world.a.org
    allow_everything(org)
    return org


def run_on_both(workers: list[CeleryWorker], org, calls: int) -> list[dict]:  # type: ignore[no-untyped-def]
    from tests.providers.worker_tasks import gateway_burst

    pending = [
        gateway_burst.apply_async(args=[org.pk, "openai", "gpt-4o-mini", calls, f"w{i}"], queue=workers[0].queue)
        for i in range(2)
    ]
    results = [p.get(timeout=180) for p in pending]
    assert len({r["pid"] for r in results}) == 2, "both worker processes must take part"
    return results


def test_two_workers_never_exceed_the_shared_concurrency_cap(two_workers, limited_org, fake_openai) -> None:  # type: ignore[no-untyped-def]
    connect(limited_org, "openai", fake_openai.url, max_concurrency=3)
    fake_openai.latency_s = 0.3
    results = run_on_both(two_workers, limited_org, calls=8)
    outcomes = [o for r in results for o in r["outcomes"]]
    assert all(o.startswith("Echo:") for o in outcomes), outcomes
    assert len(fake_openai.seen) == 16
    # 16 calls from two processes, 8 each at once: the server saw the cap, shared, and never more.
    assert fake_openai.max_in_flight == 3


def test_two_workers_share_one_per_minute_budget_and_wait_for_it(two_workers, limited_org, fake_openai) -> None:  # type: ignore[no-untyped-def]
    connect(limited_org, "openai", fake_openai.url, rpm=30)  # 30 at once, then one every 2 seconds
    results = run_on_both(two_workers, limited_org, calls=16)
    outcomes = [o for r in results for o in r["outcomes"]]
    assert all(o.startswith("Echo:") for o in outcomes), outcomes  # waited, never failed
    arrivals = sorted(seen.at for seen in fake_openai.seen)
    assert len(arrivals) == 32
    # Two per-worker budgets would have let all 32 through at once; one shared budget made the
    # last two wait for the refill.
    assert arrivals[-1] - arrivals[0] >= 3.0
    assert sum(1 for at in arrivals if at - arrivals[0] < 1.0) <= 31
