"""Runs end to end, each once in-process and once on a real Celery worker (Postgres + Redis).

The Celery variants need DATABASE_URL (Postgres) and REDIS_URL; without them they skip locally
and fail in CI (CI=true).
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from experiments.models import Attempt, AttemptStatus, RunStatus, TaskInstance
from experiments.runs import run_start
from tests.conftest import bearer
from tests.experiments.conftest import point_local_at
from tests.experiments.factories import make_experiment, mock_arm, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_full_run_three_arms_fifty_cases_two_samples(execution, api_client, org_world):
    org = org_world.a.org
    experiment = make_experiment(
        org, cases=50, samples_per_case=2, concurrency=50,
        arms=[mock_arm("a", mock_latency_ms=5), mock_arm("b", mock_response="7"), mock_arm("c", mock_mode="echo")],
        scorers=[{"type": "numeric"}, {"type": "contains"}],
    )
    client = bearer(api_client, org_world.a.keys["member"])
    started = client.post(f"/api/v1/experiments/{experiment.pk}/runs/")
    assert started.status_code == 202, started.json()
    run = wait_for(Attempt.objects.none().model.run.field.related_model.objects.get(pk=started.json()["id"]))
    assert run.status == RunStatus.COMPLETED
    body = client.get(f"/api/v1/runs/{run.pk}/").json()
    assert body["status"] == "completed"
    assert body["progress"] == {"total": 300, "done": 300, "failed": 0, "running": 0}
    assert body["html_url"].endswith(f"/runs/{run.pk}/")
    assert body["started_at"] and body["finished_at"]
    assert TaskInstance.objects.filter(run=run).count() == 50
    attempts = Attempt.objects.filter(run=run)
    assert attempts.count() == 300
    assert attempts.filter(status=AttemptStatus.SUCCEEDED).count() == 300
    # Exactly once per (case, arm, sample): the unique constraint holds and nothing is missing.
    assert attempts.values("task_instance", "arm", "sample").distinct().count() == 300
    assert not attempts.filter(scored_at__isnull=True).exists()
    assert not attempts.filter(cost_usd__isnull=True).exists()  # mock calls are priced
    sample = attempts.filter(arm__model="b").first()
    assert set(sample.scores) == {"numeric", "contains"}
    assert sample.queued_at <= sample.started_at <= sample.responded_at <= sample.scored_at


def test_failure_isolation_one_arm_on_a_503_server(execution, org_world, failing_server):
    org = org_world.a.org
    point_local_at(org, failing_server)
    experiment = make_experiment(
        org, cases=10, concurrency=8,
        arms=[mock_arm("a"), {"provider": "local", "model": "down", "config": {"max_retries": 0}}, mock_arm("b")],
    )
    run = wait_for(run_start(experiment=experiment))
    assert run.status == RunStatus.COMPLETED_WITH_ERRORS
    assert (run.done, run.failed) == (30, 10)
    failed = Attempt.objects.filter(run=run, status=AttemptStatus.FAILED)
    assert set(failed.values_list("arm__label", flat=True)) == {"local:down"}
    assert set(failed.values_list("error_type", flat=True)) == {"unavailable"}
    assert Attempt.objects.filter(run=run, arm__provider="mock", status=AttemptStatus.SUCCEEDED).count() == 20
    assert all(a.errors for a in failed)  # every error seen is kept


def test_retry_failed_reruns_only_the_failed_attempts(execution, api_client, org_world, openai_server):
    """Trap: a retry of failures must not silently re-run attempts that had already succeeded."""
    from tests.fakes.base import Reply
    from tests.fakes.openai_server import OPENAI_ERRORS

    org = org_world.a.org
    point_local_at(org, openai_server)
    status, body = OPENAI_ERRORS["bad_request"]
    openai_server.script(*[Reply.error(status, body)] * 4)  # the first four local calls fail, no breaker trip
    experiment = make_experiment(
        org, cases=8, concurrency=1,
        arms=[mock_arm("a"), {"provider": "local", "model": "m", "config": {"max_retries": 0}}],
    )
    run = wait_for(run_start(experiment=experiment))
    assert run.status == RunStatus.COMPLETED_WITH_ERRORS and run.failed == 4
    before = {
        a.pk: (a.status, a.responded_at, a.provider_request_id, a.output)
        for a in Attempt.objects.filter(run=run, status=AttemptStatus.SUCCEEDED)
    }
    calls_before = len(openai_server.seen)
    client = bearer(api_client, org_world.a.keys["member"])
    retried = client.post(f"/api/v1/runs/{run.pk}/retry-failed/")
    assert retried.status_code == 202, retried.json()
    run = wait_for(run)
    assert run.status == RunStatus.COMPLETED
    assert (run.done, run.failed) == (16, 0)
    # Only the four failed attempts went to the provider again...
    assert len(openai_server.seen) - calls_before == 4
    # ...and every attempt that had succeeded is untouched.
    after = {a.pk: (a.status, a.responded_at, a.provider_request_id, a.output)
             for a in Attempt.objects.filter(pk__in=before)}
    assert after == before
    rerun = Attempt.objects.filter(run=run, arm__provider="local").exclude(pk__in=before)
    assert rerun.count() == 4 and all(a.status == AttemptStatus.SUCCEEDED for a in rerun)
    # Each keeps the error of its failed first try in its history.
    assert all(any(e["type"] == "bad_request" for e in a.errors) for a in rerun)
    # Nothing left to retry: a conflict, not a silent no-op run.
    assert client.post(f"/api/v1/runs/{run.pk}/retry-failed/").status_code == 409


def test_cancel_stops_new_calls_and_ends_cancelled(execution, api_client, org_world, settings):
    if execution == "inline":
        settings.BENCHHUB_RUNS_INLINE = "thread"  # cancel has to arrive while the run executes
    org = org_world.a.org
    experiment = make_experiment(org, cases=40, concurrency=2, arms=[mock_arm("slow", mock_latency_ms=150)])
    client = bearer(api_client, org_world.a.keys["member"])
    run_id = client.post(f"/api/v1/experiments/{experiment.pk}/runs/").json()["id"]
    run = Attempt.run.field.related_model.objects.get(pk=run_id)
    run = wait_for(run, until=lambda r: r.done >= 2)
    done_at_cancel = run.done
    response = client.post(f"/api/v1/runs/{run_id}/cancel/")
    assert response.status_code == 200
    assert response.json()["cancel_requested"] is True
    run = wait_for(run)
    assert run.status == RunStatus.CANCELLED
    assert run.done == run.total == 40
    attempts = Attempt.objects.filter(run=run)
    cancelled = attempts.filter(status=AttemptStatus.CANCELLED)
    assert cancelled.exists() and set(cancelled.values_list("error_type", flat=True)) == {"cancelled"}
    # Calls already in flight finish; only a bounded few more start before the executor notices.
    assert attempts.filter(status=AttemptStatus.SUCCEEDED).count() <= done_at_cancel + 12
    assert not attempts.filter(status__in=[AttemptStatus.QUEUED, AttemptStatus.RUNNING]).exists()
    assert client.post(f"/api/v1/runs/{run_id}/cancel/").status_code == 409


def test_budget_cap_stops_issuing_calls(execution, api_client, org_world):
    org = org_world.a.org
    # Mock pricing: $0.10 / M input and $0.20 / M output tokens; each call here costs a few 1e-6 USD.
    experiment = make_experiment(
        org, cases=30, concurrency=10, budget_usd=Decimal("0.00002"), arms=[mock_arm("a"), mock_arm("b")],
    )
    run = wait_for(run_start(experiment=experiment))
    attempts = Attempt.objects.filter(run=run)
    spent = sum((a.cost_usd for a in attempts if a.cost_usd is not None), Decimal(0))
    assert spent <= Decimal("0.00002")
    assert run.spent_usd == spent
    stopped = attempts.filter(status=AttemptStatus.CANCELLED)
    assert stopped.exists() and set(stopped.values_list("error_type", flat=True)) == {"budget_exhausted"}
    assert attempts.filter(status=AttemptStatus.SUCCEEDED).exists()
    assert run.status == RunStatus.COMPLETED_WITH_ERRORS
    body = bearer(api_client, org_world.a.keys["viewer"]).get(f"/api/v1/runs/{run.pk}/").json()
    assert body["stop_reason"] == "budget_exhausted" and "budget" in body["message"]
    assert body["progress"]["done"] == body["progress"]["total"] == 60


def test_progress_reads_never_count_attempts(api_client, org_world, settings):
    settings.CELERY_TASK_ALWAYS_EAGER, settings.BENCHHUB_RUNS_INLINE = True, "sync"
    run = wait_for(run_start(experiment=make_experiment(org_world.a.org, cases=5)))
    client = bearer(api_client, org_world.a.keys["viewer"])
    with CaptureQueriesContext(connection) as queries:
        assert client.get(f"/api/v1/runs/{run.pk}/").status_code == 200
    assert not [q for q in queries.captured_queries if "experiments_attempt" in q["sql"]]
    client.force_login(org_world.a.users["viewer"])
    with CaptureQueriesContext(connection) as queries:
        page = client.get(f"/runs/{run.pk}/", HTTP_HX_REQUEST="true")
    assert page.status_code == 200 and b"10 of 10 attempts ended" in page.content
    assert not [q for q in queries.captured_queries if "experiments_attempt" in q["sql"]]
