"""One lane of a run: issue its chunks' calls, receive their results, flush them in batches.

See `experiments.pipeline` for the shape of a chunk task.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import enum
import logging
import queue
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import F, Max
from django.utils import timezone

from evaluation.services import ScoringPlan, scoring_plan_build
from experiments import lifecycle, prompts
from experiments.models import ATTEMPT_ENDED, Attempt, AttemptStatus, RunChunk, StopReason
from experiments.pipeline import results
from experiments.pipeline.budget import BudgetGuard, Verdict
from experiments.pipeline.leases import LeaseLost, Leases
from experiments.pipeline.loop import Feed, call_pool
from experiments.pipeline.snapshot import RunPlan, run_plan_load
from providers.interface import ProviderError

logger = logging.getLogger("benchhub.runs")


class ChunkOutcome(enum.StrEnum):
    DONE = "done"  # every chunk the lane held ended (the lane was handed on, or the run finalized)
    SKIPPED = "skipped"  # another executor holds the chunk, or it has ended
    LEASE_LOST = "lease_lost"  # taken over mid-way (this executor was presumed dead): wrote nothing more


def chunk_execute(*, run_id: int, index: int, token: str | None = None) -> ChunkOutcome:
    """Execute one chunk (and those the lane goes on to) if this caller can claim it."""
    token = token or uuid.uuid4().hex
    if not lifecycle.chunk_claim(run_id=run_id, index=index, token=token):
        return ChunkOutcome.SKIPPED
    try:
        ChunkExecutor(run_id=run_id, index=index, token=token).execute()
    except LeaseLost:
        logger.warning("chunk lease lost", extra={"run_id": run_id, "chunk": index})
        return ChunkOutcome.LEASE_LOST
    lifecycle.chunk_after(run_id=run_id)
    return ChunkOutcome.DONE


@dataclass
class _InFlight:
    attempt: Attempt
    was_running: bool


@dataclass
class _Counters:
    """The run's counters' deltas since the last flush."""

    done: int = 0
    failed: int = 0
    running: int = 0
    spent: Decimal = field(default_factory=lambda: Decimal(0))

    def changes(self) -> dict[str, Any]:
        if not (self.done or self.failed or self.running or self.spent):
            return {}
        return {"done": F("done") + self.done, "failed": F("failed") + self.failed,
                "running": F("running") + self.running, "spent_usd": F("spent_usd") + self.spent}


class ChunkExecutor:
    """One lane of a run: the claimed chunk `index`, then the run's next pending chunks (step 4)."""

    def __init__(self, *, run_id: int, index: int, token: str) -> None:
        self.run_id = run_id
        self.token = token
        self.plan: RunPlan = run_plan_load(run_id=run_id)
        self.scoring: ScoringPlan = scoring_plan_build(specs=self.plan.scorers)
        self.pending: list[Attempt] = []  # pop() from the end, in id order
        self.leases = Leases(token=token)
        self._hold(index)
        # Chunks this token took over earlier (a redelivery of the same task after a crash) are ours.
        for other in lifecycle.chunks_held(run_id=run_id, token=token, exclude=index):
            self._hold(other)
        self.slice_ends = time.monotonic() + float(settings.BENCHHUB_RUN_LANE_SLICE_SECONDS)
        self.run_has_pending_chunks = True
        self.inflight: dict[int, _InFlight] = {}  # handed to the loop and not landed: started or prepared
        self.prepared: set[int] = set()  # handed to the loop, not started yet
        self.ended: list[Attempt] = []
        self.started: list[int] = []
        self.counters = _Counters()
        dearest: dict[int, Decimal] = {}
        if self.plan.budget is not None:
            # A conservative price per call for each arm: the dearest attempt of it so far.
            dearest = dict(
                Attempt.objects.filter(run_id=run_id, cost_usd__isnull=False)
                .values_list("arm_id").annotate(m=Max("cost_usd")).values_list("arm_id", "m")
            )
        self.budget = BudgetGuard(budget=self.plan.budget, spent=self.plan.spent, dearest=dearest)
        self.stopping: str = self.plan.stop_reason  # "", "cancelled" or "budget_exhausted"
        self.results: queue.SimpleQueue = queue.SimpleQueue()

    # -- the chunks of this lane ---------------------------------------------------------------

    def _hold(self, index: int) -> None:
        """Take a claimed chunk's unfinished attempts on (after those already pending)."""
        attempts = list(
            Attempt.objects.filter(run_id=self.run_id, chunk=index)
            .exclude(status__in=ATTEMPT_ENDED)
            .select_related("task_instance__case")
            .order_by("pk")
        )
        pk = RunChunk.objects.only("pk").get(run_id=self.run_id, index=index).pk
        self.leases.hold(index, pk=pk, open_attempts=len(attempts))
        self.pending[:0] = reversed(attempts)

    def _continue(self) -> None:
        """Claim the run's next pending chunk before this one runs dry, so that the lane's calls
        go on without a gap (no drain, no queue round trip, no load while slots stand idle).
        Only within the lane's time slice: then the task ends and other runs' chunks get a turn."""
        if (
            len(self.pending) >= self.plan.limit
            or self.stopping
            or not self.run_has_pending_chunks
            or time.monotonic() >= self.slice_ends
        ):
            return
        index = lifecycle.chunk_claim_next(run_id=self.run_id, token=self.token)
        if index is None:
            self.run_has_pending_chunks = False
        else:
            self._hold(index)

    # -- issuing ----------------------------------------------------------------------------

    def _window(self) -> int:
        """Calls handed to the loop at once: the concurrency plus as many prepared to follow them.
        With a budget none are prepared ahead: each call's reserve is taken just before it starts."""
        return self.plan.limit if self.budget.limited else 2 * self.plan.limit

    def _issue(self, feed: Feed) -> None:
        self._continue()
        plan = self.plan
        skipped: list[Attempt] = []
        ready: list[tuple[Any, str, Any]] = []
        window = self._window()
        while self.pending and len(self.inflight) < window and not self.stopping:
            attempt = self.pending.pop()
            verdict = self.budget.verdict(attempt.arm_id)
            if verdict is Verdict.WAIT:
                skipped.append(attempt)  # waiting for this arm's probe; other arms may go on
                continue
            if verdict is Verdict.STOP:
                self.pending.append(attempt)
                self.stopping = StopReason.BUDGET
                break
            arm = plan.arms[attempt.arm_id]
            messages = prompts.render_messages(plan.kind, attempt.task_instance.case.payload, plan.template)
            request = results.build_request(arm=arm, messages=messages, seed=plan.seed + attempt.sample)
            self.inflight[attempt.pk] = _InFlight(attempt, attempt.status == AttemptStatus.RUNNING)
            self.prepared.add(attempt.pk)
            self.budget.reserve(attempt.arm_id)
            ready.append((attempt.pk, arm["provider"], request))
        self.pending.extend(reversed(skipped))
        feed.push(ready)

    def _start(self, attempt_id: int) -> None:
        """The loop started this attempt's call."""
        self.prepared.discard(attempt_id)
        flight = self.inflight[attempt_id]
        attempt = flight.attempt
        if flight.was_running:
            results.interrupted(attempt)
        else:
            self.counters.running += 1
        attempt.started_at = timezone.now()
        self.started.append(attempt_id)

    def _take_back(self, feed: Feed) -> None:
        """Stopping: the prepared calls the loop has not started go back to pending, untouched."""
        taken = set(feed.take_back())
        if not taken:
            return
        back = [self.inflight.pop(pk).attempt for pk in sorted(taken)]
        self.prepared -= taken
        for attempt in back:
            self.budget.release(attempt.arm_id)
        self.pending.extend(reversed(back))  # pop() from the end, in id order

    # -- results ----------------------------------------------------------------------------

    def _land(self, attempt_id: int, future: concurrent.futures.Future | asyncio.Future) -> None:
        attempt = self.inflight.pop(attempt_id).attempt
        self.budget.release(attempt.arm_id)
        self.counters.running -= 1
        self.counters.done += 1
        attempt.responded_at = timezone.now()
        try:
            result = future.result()
        except DatabaseError:
            raise  # the gateway could not read its settings: infrastructure, not the attempt's fault
        except ProviderError as exc:
            results.failed_by_provider(attempt, exc)
            self.counters.failed += 1
            self._ended(attempt)
            return
        except Exception as exc:  # an adapter bug must fail one attempt, not the chunk
            logger.exception("provider call raised", extra={"run_id": self.run_id, "attempt_id": attempt.pk})
            results.failed_by_bug(attempt, exc)
            self.counters.failed += 1
            self._ended(attempt)
            return
        results.succeeded(attempt, result, kind=self.plan.kind, plan=self.scoring)
        self.budget.account(attempt.arm_id, attempt.cost_usd)
        if attempt.cost_usd is not None:
            self.counters.spent += attempt.cost_usd
        self._ended(attempt)

    def _take(self, attempt_id: int, future: asyncio.Future | None) -> None:
        if future is None:
            self._start(attempt_id)
        else:
            self._land(attempt_id, future)

    def _ended(self, attempt: Attempt) -> None:
        self.ended.append(attempt)
        self.leases.attempt_ended(attempt.chunk)

    # -- writing ----------------------------------------------------------------------------

    def _flush(self, *, final: bool = False) -> None:
        now = timezone.now()
        started = [pk for pk in self.started if pk in self.inflight]
        budget_stop = ""
        if self.stopping == StopReason.BUDGET and self.budget.limited:
            budget_stop = self.budget.stop_message()
        with transaction.atomic():
            finished = self.leases.renew(now=now, final=final)
            results.results_write(ended=self.ended, started=started, now=now)
            lifecycle.run_progress(run_id=self.run_id, changes=self.counters.changes(), budget_stop=budget_stop)
            if self.scoring.has_slow or self.plan.judged:
                scored = [a.pk for a in self.ended if a.status == AttemptStatus.SUCCEEDED]
                if scored:
                    lifecycle.slow_scoring_send(scored)
        self.leases.settle(finished)
        self.ended, self.started, self.counters = [], [], _Counters()
        if not final and not self.stopping:
            self.stopping = lifecycle.run_stop_reason(run_id=self.run_id)

    def execute(self) -> None:
        feed = Feed(call_pool(), limit=self.plan.limit, org_id=self.plan.org_id, results=self.results)
        try:
            self._execute(feed)
        finally:
            # On an exception (the database went away) calls still in flight are abandoned: their
            # results are never stored, so the retry or the next executor runs those attempts again.
            # Prepared calls never start.
            feed.close()

    def _execute(self, feed: Feed) -> None:
        flush_every = float(settings.BENCHHUB_RUN_FLUSH_SECONDS)
        flush_batch = int(settings.BENCHHUB_RUN_FLUSH_BATCH)
        last_flush = time.monotonic()
        while True:
            self._issue(feed)
            if self.stopping and self.prepared:
                self._take_back(feed)
            if not self.inflight:
                break
            timeout = max(0.0, flush_every - (time.monotonic() - last_flush))
            try:
                token, future = self.results.get(timeout=timeout)
                self._take(token, future)
                while True:  # take everything that has landed meanwhile
                    token, future = self.results.get_nowait()
                    self._take(token, future)
            except queue.Empty:
                pass
            if len(self.ended) >= flush_batch or time.monotonic() - last_flush >= flush_every:
                self._flush()
                last_flush = time.monotonic()
        # Whatever was not issued ends here: cancelled, or stopped by the budget.
        if self.pending:
            error_type, message = lifecycle.stop_error(self.stopping)
            for attempt in self.pending:
                if attempt.status == AttemptStatus.RUNNING:
                    self.counters.running -= 1  # counted as running by the executor that died
                results.never_issued(attempt, error_type=error_type, message=message)
                self.counters.done += 1
                self._ended(attempt)
            self.pending = []
        self._flush(final=True)
