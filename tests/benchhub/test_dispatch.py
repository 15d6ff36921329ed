"""`benchhub.dispatch.task_send`: by name to the routed queue on a broker; in this process without one."""

from __future__ import annotations

import pytest

from benchhub.dispatch import background_wait, parallel_limit, task_send
from benchhub.queues import ROUTES, Queue, queue_for
from experiments.models import Run, RunChunk, RunStatus
from experiments.runs import run_start
from tests.experiments.factories import make_experiment, mock_arm

pytestmark = pytest.mark.django_db(transaction=True)


def _published(queue: str) -> list[dict]:
    """The messages waiting on `queue` of the in-memory broker (taken off it)."""
    from benchhub.celery import app

    messages = []
    with app.connection_for_read() as conn:
        q = conn.SimpleQueue(queue)
        try:
            while True:
                try:
                    message = q.get(block=False)
                except q.Empty:
                    break
                messages.append({"task": message.headers["task"], "args": message.payload[0]})
                message.ack()
        finally:
            q.close()
    return messages


def test_on_a_broker_a_task_is_published_by_name_to_its_routed_queue(settings, memory_broker):
    settings.BENCHHUB_QUEUE_OVERRIDE = ""
    for queue in Queue:  # the in-memory broker is process-wide: earlier tests' messages are still there
        _published(queue)
    task_send("experiments.attempts_score_slow", [1, 2])
    task_send("leaderboards.refresh", 7)
    task_send("experiments.runs_recover")
    assert _published(Queue.SCORING) == [
        {"task": "experiments.attempts_score_slow", "args": [[1, 2]]},
        {"task": "leaderboards.refresh", "args": [7]},
    ]
    assert _published(Queue.DEFAULT) == [{"task": "experiments.runs_recover", "args": []}]
    assert _published(Queue.PROVIDER_CALLS) == []


def test_the_queue_override_takes_every_task(settings):
    settings.BENCHHUB_QUEUE_OVERRIDE = "private-q"
    assert {queue_for(name) for name in ROUTES} == {"private-q"}
    settings.BENCHHUB_QUEUE_OVERRIDE = ""
    assert queue_for("experiments.attempts_execute") == "provider_calls"
    assert queue_for("anything.else") == "celery"


def test_in_process_a_chunk_runs_in_a_background_thread_and_the_sender_returns_at_once(settings, org_world):
    settings.CELERY_TASK_ALWAYS_EAGER, settings.BENCHHUB_RUNS_INLINE = True, "thread"
    assert parallel_limit(4) == 1  # one thread drives a run's chunks in process
    experiment = make_experiment(org_world.a.org, cases=4, concurrency=1, arms=[mock_arm("a", mock_latency_ms=150)])
    run = run_start(experiment=experiment)  # its chunk task was sent on commit, to a thread
    assert Run.objects.get(pk=run.pk).done < 4  # 4 calls of 150 ms one at a time: not done yet
    assert background_wait(timeout=60)
    run = Run.objects.get(pk=run.pk)
    assert (run.status, run.done) == (RunStatus.COMPLETED, 4)
    assert set(RunChunk.objects.filter(run=run).values_list("deliveries", flat=True)) == {1}


def test_in_process_sync_mode_and_other_queues_run_before_task_send_returns(settings, org_world):
    settings.CELERY_TASK_ALWAYS_EAGER, settings.BENCHHUB_RUNS_INLINE = True, "sync"
    experiment = make_experiment(org_world.a.org, cases=2, arms=[mock_arm("a")])
    run = run_start(experiment=experiment)
    assert Run.objects.get(pk=run.pk).status == RunStatus.COMPLETED
    # The final boards were computed by the leaderboards task the run's end sent, here and now.
    from leaderboards.models import RunLeaderboard

    assert RunLeaderboard.objects.get(run=run).state == "final"


def test_on_a_broker_lanes_are_as_configured(settings, memory_broker):
    assert parallel_limit(3) == 3
