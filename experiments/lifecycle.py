"""A run's life and its chunks': the only module that writes their transitions, and the only finalize.

    run:    queued -> running -> (awaiting slow scores) -> completed | completed_with_errors | failed
                                                          | cancelled;  ended -> queued (retry-failed)
    chunk:  pending -> enqueued -> running (leased) -> done;  running (lease expired) -> enqueued

A chunk is *leased* to the task that executes it (its id is the lease owner); the lease is renewed
inside each of the executor's writes (`chunks_renew`, a fence: an executor whose lease was taken
over writes nothing). Work is sent by task name through `benchhub.dispatch`, once the transaction
that made it visible commits. When a run ends, `run_finished` is sent on commit (the leaderboards
app computes the final boards from it).
"""

from __future__ import annotations

import functools
import logging
from collections import Counter
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Max, Q, QuerySet, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from benchhub.api.errors import Conflict
from benchhub.dispatch import parallel_limit, task_send_on_commit
from evaluation.services import slow_score_keys
from experiments.judging import attempts_awaiting_evaluation
from experiments.models import (
    Attempt,
    AttemptErrorType,
    AttemptStatus,
    ChunkStatus,
    Run,
    RunChunk,
    RunStatus,
    StopReason,
)
from experiments.signals import run_finished

logger = logging.getLogger("benchhub.runs")

CHUNK_TASK = "experiments.attempts_execute"
SLOW_SCORING_TASK = "experiments.attempts_score_slow"
SCORING_MESSAGE = "Scoring:"


def lease_deadline(now: datetime) -> datetime:
    return now + timezone.timedelta(seconds=settings.BENCHHUB_RUN_LEASE_SECONDS)


def stop_error(reason: str) -> tuple[AttemptErrorType, str]:
    """The error type and message of an attempt that a stopping run never issued."""
    if reason == StopReason.BUDGET:
        return AttemptErrorType.BUDGET_EXHAUSTED, "The run's budget was reached."
    return AttemptErrorType.CANCELLED, "The run was cancelled."


# --- chunks ------------------------------------------------------------------------------------


def chunk_claim(*, run_id: int, index: int, token: str) -> bool:
    """Lease chunk `index` to `token`: pending or enqueued, running with an expired lease, or already
    ours (a Celery retry or redelivery of the same task id). The run becomes running."""
    now = timezone.now()
    claimable = (
        Q(status__in=[ChunkStatus.PENDING, ChunkStatus.ENQUEUED])
        | Q(status=ChunkStatus.RUNNING, lease_expires_at__lt=now)
        | Q(status=ChunkStatus.RUNNING, lease_owner=token)
    )
    claimed = (
        RunChunk.objects.filter(claimable, run_id=run_id, index=index).update(
            status=ChunkStatus.RUNNING, lease_owner=token, lease_expires_at=lease_deadline(now),
            started_at=Coalesce(F("started_at"), Value(now)), deliveries=F("deliveries") + 1,
        )
        == 1
    )
    if claimed:
        Run.objects.filter(pk=run_id, status=RunStatus.QUEUED).update(
            status=RunStatus.RUNNING, started_at=Coalesce(F("started_at"), Value(now))
        )
    return claimed


def chunk_claim_next(*, run_id: int, token: str) -> int | None:
    """Lease the run's lowest pending chunk to `token` (a lane going on); None when none is left.

    Only pending chunks: an enqueued one has its own message on the way."""
    now = timezone.now()
    with transaction.atomic():
        # SKIP LOCKED: two lanes going on at once take two different chunks.
        index = (
            RunChunk.objects.select_for_update(skip_locked=True)
            .filter(run_id=run_id, status=ChunkStatus.PENDING)
            .order_by("index").values_list("index", flat=True).first()
        )
        if index is None:
            return None
        claimed = RunChunk.objects.filter(run_id=run_id, index=index, status=ChunkStatus.PENDING).update(
            status=ChunkStatus.RUNNING, lease_owner=token, lease_expires_at=lease_deadline(now), started_at=now,
            deliveries=F("deliveries") + 1,
        )
    return index if claimed else None


def chunks_held(*, run_id: int, token: str, exclude: int) -> list[int]:
    """Indexes of the other chunks leased to `token` (a redelivered lane takes them all back)."""
    return list(
        RunChunk.objects.filter(run_id=run_id, status=ChunkStatus.RUNNING, lease_owner=token)
        .exclude(index=exclude).order_by("index").values_list("index", flat=True)
    )


def chunks_renew(*, pks: list[int], token: str, now: datetime) -> bool:
    """Renew the leases of the chunks `token` holds; False if any was taken over (write nothing then).
    Call inside the transaction of the write it fences."""
    fence = RunChunk.objects.filter(pk__in=pks, lease_owner=token, status=ChunkStatus.RUNNING)
    return fence.update(lease_expires_at=lease_deadline(now)) == len(pks)


def chunks_finish(*, pks: list[int], now: datetime) -> None:
    """Every attempt of these chunks has ended, in the same transaction."""
    RunChunk.objects.filter(pk__in=pks).update(status=ChunkStatus.DONE, finished_at=now)


def chunk_enqueue_next(*, run_id: int) -> int | None:
    """Give the next pending chunk of the run to the queue; the message goes once this commits."""
    with transaction.atomic():
        # SKIP LOCKED: two lanes finishing together take two different chunks, never the same one.
        chunk = (
            RunChunk.objects.select_for_update(skip_locked=True)
            .filter(run_id=run_id, status=ChunkStatus.PENDING)
            .order_by("index")
            .first()
        )
        if chunk is None:
            return None
        RunChunk.objects.filter(pk=chunk.pk).update(status=ChunkStatus.ENQUEUED, enqueued_at=timezone.now())
        task_send_on_commit(CHUNK_TASK, run_id, chunk.index)
        return chunk.index


def chunk_requeue(*, run_id: int, index: int) -> bool:
    """Hand a stuck chunk (expired lease, or a message that never arrived) to the queue again."""
    now = timezone.now()
    stuck = Q(status=ChunkStatus.RUNNING, lease_expires_at__lt=now) | Q(status=ChunkStatus.ENQUEUED)
    with transaction.atomic():
        moved = RunChunk.objects.filter(stuck, run_id=run_id, index=index).update(
            status=ChunkStatus.ENQUEUED, enqueued_at=now, lease_owner="", lease_expires_at=None
        )
        if moved:
            task_send_on_commit(CHUNK_TASK, run_id, index)
    return bool(moved)


UNCLAIMED = (ChunkStatus.PENDING, ChunkStatus.ENQUEUED)


def chunks_close_unclaimed(*, run_id: int, reason: str, statuses: tuple[str, ...] = UNCLAIMED) -> int:
    """A stopping run: end its chunks no executor holds, their queued attempts as never issued.

    `statuses`: which unclaimed chunks. Cancelling leaves enqueued ones to their message (the
    executor that claims one sees the stop and ends its attempts the same way)."""
    error_type, message = stop_error(reason)
    with transaction.atomic():
        indexes = list(
            RunChunk.objects.select_for_update()
            .filter(run_id=run_id, status__in=statuses)
            .values_list("index", flat=True)
        )
        if not indexes:
            return 0
        cancelled = Attempt.objects.filter(run_id=run_id, chunk__in=indexes, status=AttemptStatus.QUEUED).update(
            status=AttemptStatus.CANCELLED, error_type=error_type, error_message=message
        )
        RunChunk.objects.filter(run_id=run_id, index__in=indexes).update(
            status=ChunkStatus.DONE, finished_at=timezone.now()
        )
        Run.objects.filter(pk=run_id).update(done=F("done") + cancelled)
    return cancelled


# --- lanes -------------------------------------------------------------------------------------


def run_lanes(*, chunks: int, concurrency: int, budgeted: bool) -> int:
    """Chunks of one run that may execute at once."""
    if budgeted:
        # One lane, so that a single executor sees all spent + in-flight cost and stops at the cap.
        return 1
    return parallel_limit(min(settings.BENCHHUB_RUN_LANES, chunks, concurrency))


def lanes_busy(*, run_id: int) -> int:
    """Lanes of the run at work: a chunk message on its way, or an executor (which may hold the
    chunk it drains and the next one it has gone on to, under one lease owner)."""
    chunks = RunChunk.objects.filter(run_id=run_id)
    enqueued = chunks.filter(status=ChunkStatus.ENQUEUED).count()
    executors = chunks.filter(status=ChunkStatus.RUNNING).values("lease_owner").distinct().count()
    return enqueued + executors


def run_dispatch(*, run_id: int) -> None:
    """Fill the run's free lanes with pending chunks; the messages go once the transaction commits."""
    run = Run.objects.only("lanes").get(pk=run_id)
    for _ in range(max(0, run.lanes - lanes_busy(run_id=run_id))):
        if chunk_enqueue_next(run_id=run_id) is None:
            break


# --- runs --------------------------------------------------------------------------------------


def run_stop_reason(*, run_id: int) -> str:
    """"" while the run goes on; else why it stops (a cancel wins over the budget)."""
    cancel_requested_at, stop_reason = Run.objects.filter(pk=run_id).values_list(
        "cancel_requested_at", "stop_reason"
    ).get()
    if cancel_requested_at is not None:
        return StopReason.CANCELLED
    return StopReason.BUDGET if stop_reason == StopReason.BUDGET else ""


def run_progress(*, run_id: int, changes: dict[str, Any], budget_stop: str = "") -> None:
    """Move the run's counters (`F()` deltas in `changes`) and, with `budget_stop` (the message),
    record that the budget stopped it. Inside the executor's write transaction."""
    changes = dict(changes)
    if budget_stop:
        changes.update(stop_reason=StopReason.BUDGET, message=budget_stop)
    if changes:
        Run.objects.filter(pk=run_id).update(**changes)


def run_cancel_request(*, run_id: int) -> Run:
    """Ask a live run to stop (row-locked: serialises with finalize and retry). Inside a transaction.
    An ended run is a `Conflict`."""
    run = Run.objects.select_for_update().get(pk=run_id)
    if run.is_terminal:
        raise Conflict(f"The run has already ended ({run.status}).")
    if run.cancel_requested_at is None:
        run.cancel_requested_at = timezone.now()
        run.stop_reason = StopReason.CANCELLED
        run.save(update_fields=["cancel_requested_at", "stop_reason", "updated_at"])
    # Pending chunks have no executor and no message: nobody else can touch their attempts.
    chunks_close_unclaimed(run_id=run_id, reason=StopReason.CANCELLED, statuses=(ChunkStatus.PENDING,))
    if not RunChunk.objects.filter(run_id=run_id).exclude(status=ChunkStatus.DONE).exists():
        transaction.on_commit(functools.partial(run_finalize, run_id=run_id))
    return run


def run_requeue_attempts(*, run_id: int, attempt_ids: list[int]) -> None:
    """An ended run again: these failed attempts queued in new chunks, the run queued. In a transaction
    holding the run's row lock."""
    chunk_size = max(1, settings.BENCHHUB_RUN_CHUNK_SIZE)
    first = (RunChunk.objects.filter(run_id=run_id).aggregate(m=Max("index"))["m"] or 0) + 1
    now = timezone.now()
    new_chunks = []
    for offset in range(0, len(attempt_ids), chunk_size):
        index = first + offset // chunk_size
        ids = attempt_ids[offset : offset + chunk_size]
        # The status guard (status=FAILED) keeps a succeeded attempt out even if ids were stale.
        moved = Attempt.objects.filter(pk__in=ids, status=AttemptStatus.FAILED).update(
            status=AttemptStatus.QUEUED, chunk=index, queued_at=now, started_at=None, responded_at=None,
            scored_at=None, validated_at=None, error_type="", error_message="",
        )
        new_chunks.append(RunChunk(run_id=run_id, index=index, size=moved))
    RunChunk.objects.bulk_create(new_chunks)
    Run.objects.filter(pk=run_id).update(
        status=RunStatus.QUEUED, finished_at=None, stop_reason=StopReason.NONE, message="",
        cancel_requested_at=None, done=F("done") - len(attempt_ids), failed=F("failed") - len(attempt_ids),
        running=0,
    )
    run_dispatch(run_id=run_id)


def chunk_after(*, run_id: int) -> None:
    """A chunk ended: stop the run's remaining chunks if it is stopping, hand the lane on, maybe finalize."""
    reason = run_stop_reason(run_id=run_id)
    if reason:
        chunks_close_unclaimed(run_id=run_id, reason=reason)
    else:
        chunk_enqueue_next(run_id=run_id)
    if not RunChunk.objects.filter(run_id=run_id).exclude(status=ChunkStatus.DONE).exists():
        run_finalize(run_id=run_id)


def slow_scoring_send(attempt_ids: list[int]) -> None:
    """Score these stored attempts with the run's slow scorers, once the transaction commits."""
    task_send_on_commit(SLOW_SCORING_TASK, attempt_ids)


def attempts_awaiting_slow_scores(*, run: Run) -> QuerySet[Attempt]:
    """Succeeded attempts of the run still missing a score of one of its slow scorers."""
    keys = slow_score_keys(specs=run.snapshot["experiment"].get("scorers") or [])
    awaiting = attempts_awaiting_evaluation(run=run)  # the evaluator is a slow scorer too
    if not keys:
        return awaiting
    return Attempt.objects.filter(run=run, status=AttemptStatus.SUCCEEDED).exclude(scores__has_keys=keys) | awaiting


def run_finalize(*, run_id: int) -> Run:
    """End a run whose chunks are all done: exact counters, the final status, `finished_at`; then
    `run_finished` on commit.

    Idempotent: two executors finishing the last two chunks at once both call it; the row lock
    makes the second see a terminal run and return it unchanged.
    """
    with transaction.atomic():
        run = Run.objects.select_for_update().get(pk=run_id)
        if run.is_terminal:
            return run
        if RunChunk.objects.filter(run=run).exclude(status=ChunkStatus.DONE).exists():
            return run
        awaiting = attempts_awaiting_slow_scores(run=run).count()
        if awaiting:
            # Ended means scored: the slow scoring task finalizes the run once its last score lands.
            message = f"{SCORING_MESSAGE} slow scores pending for {awaiting} attempt{'s' if awaiting != 1 else ''}."
            if not run.message or run.message.startswith(SCORING_MESSAGE):
                Run.objects.filter(pk=run.pk).update(message=message)
            return run
        if run.message.startswith(SCORING_MESSAGE):
            run.message = ""
        counts = dict(
            Attempt.objects.filter(run=run).values_list("status").annotate(n=Count("pk")).values_list("status", "n")
        )
        succeeded = counts.get(AttemptStatus.SUCCEEDED, 0)
        failed = counts.get(AttemptStatus.FAILED, 0)
        cancelled = counts.get(AttemptStatus.CANCELLED, 0)
        run.done = succeeded + failed + cancelled
        run.failed = failed
        run.running = 0
        if run.cancel_requested_at is not None:
            run.status = RunStatus.CANCELLED
        elif succeeded == 0 and failed > 0:
            run.status = RunStatus.FAILED
        elif failed or cancelled or run.done < run.total:
            run.status = RunStatus.COMPLETED_WITH_ERRORS
        else:
            run.status = RunStatus.COMPLETED
        run.finished_at = timezone.now()
        run.started_at = run.started_at or run.finished_at
        run.save(update_fields=["done", "failed", "running", "status", "finished_at", "started_at", "message",
                                "updated_at"])
        transaction.on_commit(functools.partial(run_finished.send, sender=Run, run_id=run.pk))
    logger.info("run finalized", extra={"run_id": run.pk, "status": run.status, "done": run.done})
    return run


# --- recovery ----------------------------------------------------------------------------------


def runs_recover(*, now: datetime | None = None, run_ids: list[int] | None = None) -> dict[str, int]:
    """Find stuck runs and resume them. Safe to run anywhere, any number of times.

    - a RUNNING chunk whose lease expired (its executor died, e.g. SIGKILL) is enqueued again;
    - an ENQUEUED chunk nobody claimed for long (a lost message) is enqueued again;
    - a run with free lanes and pending chunks (a lost hand-over) gets its lanes filled;
    - a run whose chunks are all done but which never ended is finalized, or, while it awaits slow
      scores whose scoring message was lost long ago, those attempts are sent to scoring again.
    """
    now = now or timezone.now()
    stats = {"requeued": 0, "dispatched": 0, "finalized": 0, "rescored": 0}
    live = Run.objects.filter(status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).values_list("pk", flat=True)
    if run_ids is not None:
        live = live.filter(pk__in=run_ids)
    requeue_before = now - timezone.timedelta(seconds=settings.BENCHHUB_RUN_REQUEUE_AFTER_SECONDS)
    for run_id in list(live):
        stale = list(
            RunChunk.objects.filter(run_id=run_id, status=ChunkStatus.RUNNING, lease_expires_at__lt=now).values_list(
                "index", flat=True
            )
        ) + list(
            RunChunk.objects.filter(run_id=run_id, status=ChunkStatus.ENQUEUED, enqueued_at__lt=requeue_before)
            .values_list("index", flat=True)
        )
        for index in stale:
            chunk_requeue(run_id=run_id, index=index)
            stats["requeued"] += 1
        chunks = Counter(RunChunk.objects.filter(run_id=run_id).values_list("status", flat=True))
        if chunks and set(chunks) == {ChunkStatus.DONE}:
            run = Run.objects.only("snapshot").get(pk=run_id)
            # Slow scores whose message was lost long ago (their scoring task never ran): again.
            lost = list(
                attempts_awaiting_slow_scores(run=run).filter(responded_at__lt=requeue_before)
                .values_list("pk", flat=True)
            )
            if lost:
                slow_scoring_send(lost)
                stats["rescored"] += len(lost)
            elif run_finalize(run_id=run_id).is_terminal:
                stats["finalized"] += 1
        elif chunks.get(ChunkStatus.PENDING):
            with transaction.atomic():
                before = lanes_busy(run_id=run_id)
                run_dispatch(run_id=run_id)
                stats["dispatched"] += int(before < Run.objects.get(pk=run_id).lanes)
    if any(stats.values()):
        logger.warning("stuck runs recovered", extra=stats)
    return stats
