"""Crashes, redeliveries and stuck runs: every attempt ends exactly once, nothing finished is re-billed.

The first two tests kill real things (a Celery worker with SIGKILL; the worker's database
connection) and need Postgres + Redis. The rest drive the same code paths in-process on any database.
"""

from __future__ import annotations

import uuid
from collections import Counter

import pytest
from django.db import connection
from django.utils import timezone

from benchhub.dispatch import background_wait
from experiments import lifecycle
from experiments.lifecycle import runs_recover
from experiments.models import Attempt, AttemptStatus, ChunkStatus, Run, RunChunk, RunStatus
from experiments.pipeline import executor
from experiments.pipeline.leases import LeaseLost
from experiments.runs import run_start
from tests.experiments.conftest import database_url, point_local_at, start_worker
from tests.experiments.factories import make_experiment, mock_arm, wait_for
from tests.fakes.openai_server import FakeOpenAI
from tests.support.services import require_postgres, require_redis

pytestmark = pytest.mark.django_db(transaction=True)


def _request_key(seen) -> tuple:  # type: ignore[no-untyped-def]
    body = seen.body
    return body["model"], body["messages"][-1]["content"]


def test_sigkill_mid_run_then_restart_counts_every_attempt_once(settings, org_world):
    require_redis()
    require_postgres()
    server = FakeOpenAI(latency_ms=120).start()
    worker = start_worker(BENCHHUB_RUN_LEASE_SECONDS="3", BENCHHUB_RUN_CHUNK_SIZE="60")
    try:
        settings.CELERY_TASK_ALWAYS_EAGER = False
        settings.BENCHHUB_QUEUE_OVERRIDE = worker.queue
        settings.BENCHHUB_RUN_CHUNK_SIZE = 60
        org = org_world.a.org
        point_local_at(org, server)
        experiment = make_experiment(
            org, cases=100, concurrency=8,
            arms=[{"provider": "local", "model": "m1", "config": {}}, {"provider": "local", "model": "m2", "config": {}}],
        )
        run = run_start(experiment=experiment)
        run = wait_for(run, until=lambda r: r.done >= 40)
        worker.kill()  # SIGKILL: no shutdown, no ack, results in flight are lost
        finished_before = {
            a.pk: (a.responded_at, a.output, a.provider_request_id)
            for a in Attempt.objects.filter(run=run, status=AttemptStatus.SUCCEEDED)
        }
        assert 40 <= len(finished_before) < 200
        assert RunChunk.objects.filter(run=run, status=ChunkStatus.RUNNING).exists()
        # The dead worker's lease has to run out before anyone may take its chunk over.
        wait_for(run, timeout=60, until=lambda r: not RunChunk.objects.filter(
            run=r, status=ChunkStatus.RUNNING, lease_expires_at__gt=timezone.now()).exists())
        worker.start()  # the restarted worker recovers the stuck run when it comes up
        run = wait_for(run, timeout=120)
    finally:
        worker.stop()
        server.stop()

    assert run.status == RunStatus.COMPLETED
    assert (run.total, run.done, run.failed, run.running) == (200, 200, 0, 0)
    attempts = Attempt.objects.filter(run=run)
    assert attempts.count() == 200
    assert attempts.filter(status=AttemptStatus.SUCCEEDED).count() == 200
    assert attempts.values("task_instance", "arm", "sample").distinct().count() == 200
    # No finished attempt was executed (billed) again: its stored result is the one from before.
    after = {a.pk: (a.responded_at, a.output, a.provider_request_id) for a in attempts.filter(pk__in=finished_before)}
    assert after == finished_before
    calls = Counter(_request_key(s) for s in server.seen)
    by_attempt = {
        (a.arm.model, f"What is {int(a.task_instance.case.case_id.split('-')[1])} + 1?"): a.pk
        for a in attempts.select_related("arm", "task_instance__case")
    }
    assert set(calls) == set(by_attempt)
    assert all(calls[key] == 1 for key, pk in by_attempt.items() if pk in finished_before)
    # Only attempts that were in flight when the worker died were called twice.
    assert sum(calls.values()) - 200 <= 8 * 2
    assert RunChunk.objects.filter(run=run, deliveries__gte=2).exists()


def test_database_drop_mid_chunk_is_retried_by_celery_not_failed(settings, org_world):
    """Trap: no terminal error state may be written before the queue's own retry; the retry completes."""
    require_redis()
    require_postgres()
    app_name = f"bh-trap-{uuid.uuid4().hex[:8]}"
    worker = start_worker(DATABASE_URL=f"{database_url()}?application_name={app_name}")
    try:
        settings.CELERY_TASK_ALWAYS_EAGER = False
        settings.BENCHHUB_QUEUE_OVERRIDE = worker.queue
        experiment = make_experiment(org_world.a.org, cases=100, concurrency=6,
                                     arms=[mock_arm("a", mock_latency_ms=60), mock_arm("b", mock_latency_ms=60)])
        run = wait_for(run_start(experiment=experiment), until=lambda r: r.done >= 20)
        with connection.cursor() as cursor:
            # Only the executor's own connection (its last statement touched a run table), so
            # that the failure lands in the middle of a chunk's writes.
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = %s AND query LIKE %s",
                [app_name, '%"experiments_%'],
            )
            killed = [row[0] for row in cursor.fetchall()]
        assert killed and all(killed)
        run = wait_for(run, timeout=120)
        log = worker.log()
    finally:
        worker.stop()
    assert run.status == RunStatus.COMPLETED, log[-3000:]
    assert (run.done, run.failed) == (200, 0)
    assert Attempt.objects.filter(run=run, status=AttemptStatus.SUCCEEDED).count() == 200
    assert "Retry in" in log  # Celery's own retry of the chunk task did the rest


# --- in-process: the same recovery paths on any database -------------------------------------


def _queued_run(settings, org, **fields) -> Run:  # type: ignore[no-untyped-def]
    """A started run whose chunk messages go to the in-memory broker (`memory_broker`) nobody consumes."""
    return run_start(experiment=make_experiment(org, **fields))


def test_redelivered_chunk_skips_what_is_done(settings, org_world, memory_broker):
    run = _queued_run(settings, org_world.a.org, cases=6)
    assert executor.chunk_execute(run_id=run.pk, index=0, token="first") == "done"
    before = list(Attempt.objects.filter(run=run).values_list("pk", "status", "responded_at"))
    # The same message delivered again (acks_late after a lost ack): nothing runs twice.
    assert executor.chunk_execute(run_id=run.pk, index=0, token="first") == "skipped"
    assert executor.chunk_execute(run_id=run.pk, index=0, token="another") == "skipped"
    assert list(Attempt.objects.filter(run=run).values_list("pk", "status", "responded_at")) == before
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED and run.done == 12


def test_expired_lease_is_recovered_and_only_unfinished_attempts_run(settings, org_world, memory_broker):
    run = _queued_run(settings, org_world.a.org, cases=6)
    attempts = list(Attempt.objects.filter(run=run).order_by("pk"))
    # What a killed executor leaves behind: its chunk leased to it, four results stored, two
    # attempts marked running, the rest queued.
    past = timezone.now() - timezone.timedelta(minutes=5)
    RunChunk.objects.filter(run=run, index=0).update(status=ChunkStatus.RUNNING, lease_owner="dead", lease_expires_at=past)
    Run.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, started_at=past, done=4, running=2)
    for attempt in attempts[:4]:
        Attempt.objects.filter(pk=attempt.pk).update(
            status=AttemptStatus.SUCCEEDED, output="kept", responded_at=past, started_at=past
        )
    Attempt.objects.filter(pk__in=[a.pk for a in attempts[4:6]]).update(status=AttemptStatus.RUNNING, started_at=past)
    assert executor.chunk_execute(run_id=run.pk, index=0, token="live") == "done"  # claimable: lease expired
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED
    assert (run.done, run.failed, run.running) == (12, 0, 0)
    kept = Attempt.objects.filter(pk__in=[a.pk for a in attempts[:4]])
    assert set(kept.values_list("output", flat=True)) == {"kept"}
    assert all(r == past for r in kept.values_list("responded_at", flat=True))
    interrupted = Attempt.objects.filter(pk__in=[a.pk for a in attempts[4:6]])
    assert all(a.status == AttemptStatus.SUCCEEDED for a in interrupted)
    assert all(a.errors and a.errors[0]["type"] == "interrupted" for a in interrupted)


def test_runs_recover_requeues_expired_leases_and_finalizes_forgotten_runs(settings, org_world, memory_broker):
    run = _queued_run(settings, org_world.a.org, cases=3)
    past = timezone.now() - timezone.timedelta(minutes=5)
    RunChunk.objects.filter(run=run).update(status=ChunkStatus.RUNNING, lease_owner="dead", lease_expires_at=past)
    stats = runs_recover()
    assert stats["requeued"] == 1
    assert RunChunk.objects.get(run=run).status == ChunkStatus.ENQUEUED
    # A live lease is left alone.
    RunChunk.objects.filter(run=run).update(status=ChunkStatus.RUNNING, lease_owner="alive",
                                            lease_expires_at=timezone.now() + timezone.timedelta(minutes=5))
    assert runs_recover()["requeued"] == 0
    # All chunks done but the run never ended (its executor died between the two): finalized.
    RunChunk.objects.filter(run=run).update(status=ChunkStatus.DONE)
    Attempt.objects.filter(run=run).update(status=AttemptStatus.SUCCEEDED)
    assert runs_recover()["finalized"] == 1
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED and run.done == 6


def test_an_executor_whose_lease_was_taken_over_writes_nothing(settings, org_world, memory_broker):
    run = _queued_run(settings, org_world.a.org, cases=3)
    assert lifecycle.chunk_claim(run_id=run.pk, index=0, token="old")
    lane = executor.ChunkExecutor(run_id=run.pk, index=0, token="old")
    # Meanwhile the lease was presumed dead and another executor took the chunk.
    RunChunk.objects.filter(run=run, index=0).update(lease_owner="new")
    with pytest.raises(LeaseLost):
        lane.execute()
    assert set(Attempt.objects.filter(run=run).values_list("status", flat=True)) == {AttemptStatus.QUEUED}
    assert Run.objects.get(pk=run.pk).done == 0


def test_embedded_default_returns_at_once_and_runs_in_the_background(settings, org_world, api_client):
    from tests.conftest import bearer

    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.BENCHHUB_RUNS_INLINE = "thread"
    experiment = make_experiment(org_world.a.org, cases=20, concurrency=2, arms=[mock_arm("a", mock_latency_ms=100)])
    client = bearer(api_client, org_world.a.keys["member"])
    body = client.post(f"/api/v1/experiments/{experiment.pk}/runs/").json()
    # The answer came before the work: 20 calls of 100 ms, two at a time, cannot have finished.
    assert body["status"] in {"queued", "running"} and body["progress"]["done"] < 20
    run = Run.objects.get(pk=body["id"])
    partial = wait_for(run, until=lambda r: 0 < r.done < r.total)
    assert client.get(f"/api/v1/runs/{run.pk}/").json()["progress"]["done"] >= partial.done
    run = wait_for(run)
    background_wait(timeout=30)
    assert run.status == RunStatus.COMPLETED and run.done == 20


def test_local_arm_with_point_local_at_is_used(org_world, settings, openai_server):
    settings.CELERY_TASK_ALWAYS_EAGER, settings.BENCHHUB_RUNS_INLINE = True, "sync"
    point_local_at(org_world.a.org, openai_server)
    run = wait_for(run_start(experiment=make_experiment(
        org_world.a.org, cases=3, arms=[{"provider": "local", "model": "tiny", "config": {}}])))
    assert run.status == RunStatus.COMPLETED
    assert len(openai_server.seen) == 3
    assert Attempt.objects.filter(run=run, output__startswith="Echo: What is").count() == 3


def test_embedded_run_left_by_a_dead_server_is_recovered_at_server_start_not_by_a_read(
    settings, org_world, api_client
):
    import threading

    from benchhub.dispatch import embedded_beat_start
    from tests.conftest import bearer
    from tests.experiments.factories import make_unstarted_run

    settings.CELERY_TASK_ALWAYS_EAGER, settings.BENCHHUB_RUNS_INLINE = True, "sync"
    run = make_unstarted_run(org_world.a.org)
    # The server process died mid-run: its chunk is leased to an executor that no longer exists.
    Run.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, started_at=timezone.now())
    RunChunk.objects.create(run=run, index=0, size=run.total, status=ChunkStatus.RUNNING, lease_owner="inline-dead",
                            lease_expires_at=timezone.now() - timezone.timedelta(minutes=2))
    client = bearer(api_client, org_world.a.keys["viewer"])
    # A read only reads: the run is left as it is.
    assert client.get(f"/api/v1/runs/{run.pk}/").json()["status"] == "running"
    assert RunChunk.objects.get(run=run).lease_owner == "inline-dead"
    # What a starting server (benchhub/wsgi.py, asgi.py) does without a broker: recovery at once.
    stop = threading.Event()
    beat = embedded_beat_start(stop=stop)
    assert beat is not None
    try:
        run = wait_for(run, timeout=30)
    finally:
        stop.set()
        beat.join(10)
    body = client.get(f"/api/v1/runs/{run.pk}/").json()
    assert body["status"] == "completed"
    assert body["progress"] == {"total": 4, "done": 4, "failed": 0, "running": 0}


# --- lanes going on into the next chunk ----------------------------------------------------------


def _chunks(run: Run) -> dict[int, tuple[str, str, int]]:
    return {c.index: (c.status, c.lease_owner, c.deliveries) for c in RunChunk.objects.filter(run=run)}


def test_a_lane_goes_on_into_pending_chunks_but_not_enqueued_ones(settings, org_world, memory_broker):
    settings.BENCHHUB_RUN_CHUNK_SIZE = 4
    run = _queued_run(settings, org_world.a.org, cases=6)  # 12 attempts: chunks 0-2, two lanes
    assert _chunks(run) == {0: ("enqueued", "", 0), 1: ("enqueued", "", 0), 2: ("pending", "", 0)}
    assert executor.chunk_execute(run_id=run.pk, index=0, token="lane-a") == "done"
    # Chunk 2 was claimed and executed by the same task; chunk 1 keeps its own message.
    assert _chunks(run) == {0: ("done", "lane-a", 1), 1: ("enqueued", "", 0), 2: ("done", "lane-a", 1)}
    assert set(Attempt.objects.filter(run=run, chunk__in=[0, 2]).values_list("status", flat=True)) == {"succeeded"}
    assert executor.chunk_execute(run_id=run.pk, index=1, token="lane-b") == "done"
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED and (run.done, run.failed, run.running) == (12, 0, 0)


def test_a_lane_past_its_slice_hands_the_next_chunk_to_the_queue(settings, org_world, memory_broker):
    settings.BENCHHUB_RUN_CHUNK_SIZE = 4
    settings.BENCHHUB_RUN_LANE_SLICE_SECONDS = 0
    run = _queued_run(settings, org_world.a.org, cases=6)
    assert executor.chunk_execute(run_id=run.pk, index=0, token="lane-a") == "done"
    assert _chunks(run) == {0: ("done", "lane-a", 1), 1: ("enqueued", "", 0), 2: ("enqueued", "", 0)}


def test_a_redelivered_lane_takes_back_every_chunk_it_had_gone_on_to(settings, org_world, memory_broker):
    from experiments.lifecycle import lanes_busy

    settings.BENCHHUB_RUN_CHUNK_SIZE = 4
    run = _queued_run(settings, org_world.a.org, cases=6)
    # What a killed lane leaves behind: chunk 0 and the chunk 2 it had gone on to, both leased to
    # its task id (the lease still live), one attempt of chunk 2 already stored.
    live = timezone.now() + timezone.timedelta(minutes=5)
    RunChunk.objects.filter(run=run, index__in=[0, 2]).update(
        status=ChunkStatus.RUNNING, lease_owner="task-1", lease_expires_at=live, deliveries=1
    )
    assert lanes_busy(run_id=run.pk) == 2  # that lane, and chunk 1's message
    done_before = Attempt.objects.filter(run=run, chunk=2).order_by("pk").first()
    Attempt.objects.filter(pk=done_before.pk).update(status=AttemptStatus.SUCCEEDED, output="kept")
    Run.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, done=1)
    # The same message again (the task id is the lease owner): both chunks are finished by it.
    assert executor.chunk_execute(run_id=run.pk, index=0, token="task-1") == "done"
    assert _chunks(run)[0][0] == _chunks(run)[2][0] == "done"
    assert Attempt.objects.get(pk=done_before.pk).output == "kept"
    assert Attempt.objects.filter(run=run, chunk=2, status=AttemptStatus.SUCCEEDED).count() == 4
    # Another task id gets nothing of that lane.
    assert executor.chunk_execute(run_id=run.pk, index=2, token="task-2") == "skipped"
