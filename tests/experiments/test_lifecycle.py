"""`experiments.lifecycle`: the one finalize and its `run_finished` signal, and stopping unclaimed chunks."""

from __future__ import annotations

import pytest
from django.db import transaction

from experiments import lifecycle
from experiments.models import (
    Attempt,
    AttemptErrorType,
    AttemptStatus,
    ChunkStatus,
    Run,
    RunChunk,
    StopReason,
)
from experiments.runs import run_start
from experiments.signals import run_finished
from tests.experiments.factories import make_experiment

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def finished_runs():  # type: ignore[no-untyped-def]
    seen: list[int] = []

    def receiver(sender, *, run_id: int, **_):  # type: ignore[no-untyped-def]
        seen.append(run_id)

    run_finished.connect(receiver, dispatch_uid="test-lifecycle")
    yield seen
    run_finished.disconnect(dispatch_uid="test-lifecycle")


def test_run_finished_is_sent_once_and_only_after_the_commit(org_world, memory_broker, finished_runs):
    run = run_start(experiment=make_experiment(org_world.a.org, cases=2))
    RunChunk.objects.filter(run=run).update(status=ChunkStatus.DONE)
    Attempt.objects.filter(run=run).update(status=AttemptStatus.SUCCEEDED)
    with transaction.atomic():
        assert lifecycle.run_finalize(run_id=run.pk).status == "completed"
        assert finished_runs == []  # the receivers send tasks: never for a run that may roll back
    assert finished_runs == [run.pk]
    lifecycle.run_finalize(run_id=run.pk)  # a second finalize (two last chunks at once) changes nothing
    assert finished_runs == [run.pk]


def test_a_run_that_rolls_back_its_end_sends_nothing(org_world, memory_broker, finished_runs):
    run = run_start(experiment=make_experiment(org_world.a.org, cases=1))
    RunChunk.objects.filter(run=run).update(status=ChunkStatus.DONE)
    Attempt.objects.filter(run=run).update(status=AttemptStatus.SUCCEEDED)
    with pytest.raises(RuntimeError), transaction.atomic():
        lifecycle.run_finalize(run_id=run.pk)
        raise RuntimeError("rolled back")
    assert finished_runs == []
    assert Run.objects.get(pk=run.pk).status == "queued"


def test_a_run_awaiting_slow_scores_is_not_finished(org_world, memory_broker, finished_runs, scorer_registry):
    from evaluation.scorers import Score, Scorer, register

    @register
    class Slow(Scorer):
        type = "test_lifecycle_slow"
        slow = True

        def score(self, item):  # type: ignore[no-untyped-def]
            return Score(1.0, True)

    run = run_start(experiment=make_experiment(org_world.a.org, cases=1, scorers=[{"type": "test_lifecycle_slow"}]))
    RunChunk.objects.filter(run=run).update(status=ChunkStatus.DONE)
    Attempt.objects.filter(run=run).update(status=AttemptStatus.SUCCEEDED)
    run = lifecycle.run_finalize(run_id=run.pk)
    assert not run.is_terminal and finished_runs == []
    assert Run.objects.get(pk=run.pk).message == "Scoring: slow scores pending for 2 attempts."


def test_a_budget_stop_ends_unclaimed_chunks_with_the_one_budget_error_type(settings, org_world, memory_broker):
    settings.BENCHHUB_RUN_CHUNK_SIZE = 2
    run = run_start(experiment=make_experiment(org_world.a.org, cases=3))  # 6 attempts, chunks 0-2
    statuses = dict(RunChunk.objects.filter(run=run).values_list("index", "status"))
    assert statuses == {0: "enqueued", 1: "enqueued", 2: "pending"}
    assert lifecycle.chunks_close_unclaimed(run_id=run.pk, reason=StopReason.BUDGET) == 6
    stopped = Attempt.objects.filter(run=run)
    assert set(stopped.values_list("status", "error_type")) == {(AttemptStatus.CANCELLED, "budget_exhausted")}
    assert AttemptErrorType.BUDGET_EXHAUSTED == StopReason.BUDGET
    assert Run.objects.get(pk=run.pk).done == 6
    assert set(RunChunk.objects.filter(run=run).values_list("status", flat=True)) == {ChunkStatus.DONE}


def test_cancelling_leaves_enqueued_chunks_to_their_message(settings, org_world, memory_broker):
    from experiments.runs import run_cancel

    settings.BENCHHUB_RUN_CHUNK_SIZE = 2
    run = run_start(experiment=make_experiment(org_world.a.org, cases=3))
    run = run_cancel(run=run)
    statuses = dict(RunChunk.objects.filter(run=run).values_list("index", "status"))
    assert statuses == {0: "enqueued", 1: "enqueued", 2: "done"}
    assert set(Attempt.objects.filter(run=run, chunk=2).values_list("error_type", flat=True)) == {"cancelled"}
    assert (run.done, run.status) == (2, "queued")
