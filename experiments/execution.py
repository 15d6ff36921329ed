"""The attempt pipeline: execute a run's attempts, chunk by chunk, with many provider calls in flight.

Shape of one chunk task (`chunk_execute`), one of the run's lanes:

1. **Claim** the chunk with a conditional UPDATE (pending/enqueued, or running with an expired lease,
   or already ours: a Celery retry or redelivery of the same task id, which also takes back every
   other chunk it had gone on to). Anyone else gets "skipped".
2. **Load** the chunk's attempts that have not ended. Ended ones (succeeded/failed/cancelled) are
   never called again: that is what makes a redelivered chunk skip what is already done and keeps
   a finished attempt from being billed twice.
3. **Call**: the provider calls run on one asyncio event loop per process (a daemon thread), up to
   the run's concurrency split over its lanes; this thread owns every database write, so the
   loop never blocks on the ORM and Django's connection handling stays the worker's own. The
   thread prepares requests ahead (up to the limit again, none with a budget) and the loop starts
   the next one the moment a call ends (`_Feed`), so a free slot never waits for this thread; a
   prepared call counts as started only once the loop reports it, and stopping takes the
   unstarted ones back as never issued.
4. **Go on**: before the chunk runs dry the lane claims the run's next pending chunk and feeds its
   attempts behind the current ones, for up to `BENCHHUB_RUN_LANE_SLICE_SECONDS`, so that chunk
   boundaries cost no idle slots. Every chunk held is leased and fenced like the first.
5. **Flush** in batches (every `BENCHHUB_RUN_FLUSH_SECONDS` or `BENCHHUB_RUN_FLUSH_BATCH` results):
   inside one transaction the held chunks' leases are renewed *conditionally* (the fence: an
   executor whose lease was taken over writes nothing), results are written in one statement, a
   chunk whose attempts have all ended is marked done, attempts still in flight are marked running,
   and the run's counters move by `F()` deltas. A flush also reads the run's cancel/budget state.
   That is a handful of queries per batch, far below one per attempt.
6. **Finish**: the last flush marks the last chunk done; the lane then hands itself (through the
   queue) the next pending chunk, or the last chunk finalizes the run (`services.run_finalize`).

Infrastructure failures (the database going away) never write a terminal state: the exception
propagates, the chunks stay leased to the same task id, and Celery's retry (or redelivery) picks it
up again with every unfinished attempt still unfinished.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import concurrent.futures
import contextlib
import functools
import logging
import math
import os
import queue
import threading
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import F, Max, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from evaluation.patches import pr_patch
from evaluation.services import ScoringPlan, attempt_score_rules, scores_summarize, scoring_plan_build
from experiments import prompts
from experiments.bulk import update_rows
from experiments.judging import run_profile_id
from experiments.models import (
    ATTEMPT_ENDED,
    Attempt,
    AttemptStatus,
    ChunkStatus,
    Run,
    RunChunk,
    RunStatus,
    StopReason,
)

logger = logging.getLogger("benchhub.runs")

# What a flush writes for an ended attempt. One list so that bulk_update stays one statement per batch.
RESULT_FIELDS = [
    "status", "output", "patch", "scores", "score_value", "passed", "input_tokens", "output_tokens",
    "cached_tokens", "cost_usd", "latency_ms", "ttft_ms", "error_type", "error_message", "retries", "errors",
    "raw_response", "provider_request_id", "started_at", "responded_at", "scored_at",
]


# Calls of one arm differ in length; a reserve of 1.5x the dearest seen keeps the cap a cap.
BUDGET_HEADROOM = Decimal("1.5")


class LeaseLost(Exception):
    """Another executor took this chunk over (ours was presumed dead); stop without writing."""


# --- the event loop that carries the provider calls --------------------------------------------


def _new_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed and enabled: its socket transports cost a fraction of asyncio's per
    request, which matters when hundreds of calls share one core (see benchmarks/run_throughput.py)."""
    if settings.BENCHHUB_RUN_UVLOOP:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()


class CallPool:
    """One asyncio loop in a daemon thread per process, reused by every chunk.

    Reusing the loop lets the gateway keep its HTTP connection pools warm across chunks (clients
    are bound to the loop they were created on).
    """

    def __init__(self) -> None:
        self.loop = _new_loop()
        self.thread = threading.Thread(target=self._run, name="benchhub-calls", daemon=True)
        self.thread.start()
        atexit.register(self.close)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def close(self, timeout: float = 5.0) -> None:
        """Close the loop's SDK and Redis clients (their connection pools) while the loop still runs:
        at interpreter exit the daemon thread just stops, and aiohttp reports every session left open."""
        from providers import backend
        from providers.adapters.pool import close_loop_clients

        async def close_clients() -> None:
            await close_loop_clients()
            await backend.close_loop_client()

        if self.loop.is_running():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(close_clients(), self.loop).result(timeout)


_pool: CallPool | None = None
_pool_pid: int | None = None
_pool_lock = threading.Lock()


def call_pool() -> CallPool:
    global _pool, _pool_pid
    with _pool_lock:
        # A prefork worker child must not inherit its parent's loop thread: threads do not survive fork.
        if _pool is None or _pool_pid != os.getpid():
            _pool, _pool_pid = CallPool(), os.getpid()
        return _pool


class _Feed:
    """A chunk's calls, started by the loop itself up to the chunk's limit.

    The chunk thread prepares requests ahead (`push`); whenever a call ends, the loop starts the
    next prepared one at once, so a response never waits for the chunk thread (busy flushing, or
    waiting for the GIL) before its slot is used again. Every start and every end is reported on
    `results` in that order: ``(token, None)`` when the call starts, ``(token, task)`` when it ends.
    A prepared call the loop has not started yet can be taken back (`take_back`): it never ran.
    """

    def __init__(self, pool: CallPool, *, limit: int, org_id: int, results: queue.SimpleQueue) -> None:
        self.loop = pool.loop
        self.limit = limit
        self.org_id = org_id
        self.results = results
        self.ready: collections.deque = collections.deque()  # (token, provider, request)
        self.running = 0  # owned by the loop thread
        self.tasks: set[asyncio.Task] = set()  # the loop keeps only weak references to tasks
        self.closed = False

    # chunk thread

    def push(self, items: list[tuple[Any, str, Any]]) -> None:
        if items:
            self.ready.extend(items)
            self.loop.call_soon_threadsafe(self._pump)

    def take_back(self) -> list[Any]:
        """The tokens of the prepared calls not started yet, which now never will be."""
        tokens = []
        while True:
            try:
                token, _provider, _request = self.ready.popleft()
            except IndexError:
                return tokens
            tokens.append(token)

    def close(self) -> None:
        self.closed = True
        self.ready.clear()

    # loop thread

    def _pump(self) -> None:
        while self.running < self.limit and not self.closed:
            try:
                token, provider, request = self.ready.popleft()
            except IndexError:
                return
            self.running += 1
            self.results.put((token, None))
            task = self.loop.create_task(_gateway_call(org_id=self.org_id, provider=provider, request=request))
            self.tasks.add(task)
            task.add_done_callback(functools.partial(self._done, token))

    def _done(self, token: Any, task: asyncio.Task) -> None:
        self.tasks.discard(task)
        self.running -= 1
        self.results.put((token, task))
        self._pump()


async def _gateway_call(*, org_id: int, provider: str, request: Any) -> Any:
    from providers import gateway

    return await gateway.acomplete(org_id=org_id, provider=provider, request=request, purpose="benchmark")


# --- building requests -------------------------------------------------------------------------


def build_request(*, arm: dict[str, Any], messages: list[dict[str, str]], seed: int) -> Any:
    """The gateway request of one attempt; the arm's own seed wins over the run's per-sample seed."""
    from providers.requests import completion_request

    return completion_request(model=arm["model"], messages=messages, config={"seed": seed, **(arm.get("config") or {})})


# --- one chunk ---------------------------------------------------------------------------------


@dataclass
class _InFlight:
    attempt: Attempt
    was_running: bool


@dataclass
class _Counters:
    done: int = 0
    failed: int = 0
    running: int = 0
    spent: Decimal = field(default_factory=lambda: Decimal(0))

    def any(self) -> bool:
        return bool(self.done or self.failed or self.running or self.spent)


@dataclass
class _HeldChunk:
    pk: int
    open: int  # attempts not ended yet
    done: bool = False  # marked done in the database


def chunk_claim(*, run_id: int, index: int, token: str) -> bool:
    now = timezone.now()
    lease = now + timezone.timedelta(seconds=settings.BENCHHUB_RUN_LEASE_SECONDS)
    claimable = (
        Q(status__in=[ChunkStatus.PENDING, ChunkStatus.ENQUEUED])
        | Q(status=ChunkStatus.RUNNING, lease_expires_at__lt=now)
        | Q(status=ChunkStatus.RUNNING, lease_owner=token)
    )
    claimed = (
        RunChunk.objects.filter(claimable, run_id=run_id, index=index).update(
            status=ChunkStatus.RUNNING, lease_owner=token, lease_expires_at=lease,
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
    lease = now + timezone.timedelta(seconds=settings.BENCHHUB_RUN_LEASE_SECONDS)
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
            status=ChunkStatus.RUNNING, lease_owner=token, lease_expires_at=lease, started_at=now,
            deliveries=F("deliveries") + 1,
        )
    return index if claimed else None


def chunk_execute(*, run_id: int, index: int, token: str | None = None) -> str:
    """Execute one chunk if this caller can claim it. Returns "done", "skipped" or "lease_lost"."""
    token = token or uuid.uuid4().hex
    if not chunk_claim(run_id=run_id, index=index, token=token):
        return "skipped"
    try:
        ChunkExecutor(run_id=run_id, index=index, token=token).execute()
    except LeaseLost:
        logger.warning("chunk lease lost", extra={"run_id": run_id, "chunk": index})
        return "lease_lost"
    chunk_after(run_id=run_id)
    return "done"


def chunk_after(*, run_id: int) -> None:
    """A chunk ended: stop the run's remaining chunks if it is stopping, hand the lane on, maybe finalize."""
    from experiments.services import run_finalize

    run = Run.objects.only("cancel_requested_at", "stop_reason").get(pk=run_id)
    if run.cancel_requested_at is not None or run.stop_reason == StopReason.BUDGET:
        chunks_close_pending(run_id=run_id, reason=run.stop_reason or StopReason.CANCELLED)
    elif not settings.CELERY_TASK_ALWAYS_EAGER:
        chunk_enqueue_next(run_id=run_id)
    if not RunChunk.objects.filter(run_id=run_id).exclude(status=ChunkStatus.DONE).exists():
        run_finalize(run_id=run_id)


def chunks_close_pending(*, run_id: int, reason: str) -> int:
    """End the chunks nobody executes yet (pending or enqueued), their attempts as cancelled."""
    message = "The run's budget was reached." if reason == StopReason.BUDGET else "The run was cancelled."
    error_type = "budget_exceeded" if reason == StopReason.BUDGET else "cancelled"
    with transaction.atomic():
        indexes = list(
            RunChunk.objects.select_for_update()
            .filter(run_id=run_id, status__in=[ChunkStatus.PENDING, ChunkStatus.ENQUEUED])
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


def _send(run_id: int, index: int) -> None:
    from experiments.queues import Queue, queue_name
    from experiments.tasks import attempts_execute

    attempts_execute.apply_async((run_id, index), queue=queue_name(Queue.PROVIDER_CALLS))


def slow_scoring_send(attempt_ids: list[int]) -> None:
    from evaluation.tasks import attempts_score_slow
    from experiments.queues import Queue, queue_name

    if settings.CELERY_TASK_ALWAYS_EAGER:
        attempts_score_slow.apply(args=(attempt_ids,))
    else:
        attempts_score_slow.apply_async((attempt_ids,), queue=queue_name(Queue.SCORING))


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
        transaction.on_commit(lambda: _send(run_id, chunk.index))
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
            if settings.CELERY_TASK_ALWAYS_EAGER:
                transaction.on_commit(lambda: inline_start(run_id=run_id))
            else:
                transaction.on_commit(lambda: _send(run_id, index))
    return bool(moved)


class ChunkExecutor:
    """One lane of a run: the claimed chunk `index`, then the run's next pending chunks (step 4)."""

    def __init__(self, *, run_id: int, index: int, token: str) -> None:
        self.run_id = run_id
        self.token = token
        run = Run.objects.only("org_id", "snapshot", "lanes", "spent_usd", "cancel_requested_at", "stop_reason").get(
            pk=run_id
        )
        self.run = run
        snapshot = run.snapshot
        self.kind = snapshot["dataset"]["kind"]
        self.template = {k: v for k, v in snapshot["prompt_template"].items() if k in ("system", "user")}
        self.seed = int(snapshot["experiment"].get("seed") or 0)
        self.arms = {a["id"]: a for a in snapshot["arms"]}
        budget = snapshot["experiment"].get("budget_usd")
        self.budget = Decimal(budget) if budget is not None else None
        self.limit = max(1, math.ceil(int(snapshot["experiment"]["concurrency"]) / max(1, run.lanes)))
        self.plan: ScoringPlan = scoring_plan_build(specs=snapshot["experiment"].get("scorers") or [])
        # A run with an evaluator profile sends every answer to slow scoring, where the judge runs.
        self.judged = run_profile_id(snapshot) is not None
        self.pending: list[Attempt] = []  # pop() from the end, in id order
        self.chunks: dict[int, _HeldChunk] = {}  # what this executor holds the lease of, by index
        self._hold(index)
        # Chunks this token took over earlier (a redelivery of the same task after a crash) are ours.
        for other in (
            RunChunk.objects.filter(run_id=run_id, status=ChunkStatus.RUNNING, lease_owner=token)
            .exclude(index=index).order_by("index").values_list("index", flat=True)
        ):
            self._hold(other)
        self.slice_ends = time.monotonic() + float(settings.BENCHHUB_RUN_LANE_SLICE_SECONDS)
        self.run_has_pending_chunks = True
        self.inflight: dict[int, _InFlight] = {}  # handed to the loop and not landed: started or prepared
        self.prepared: set[int] = set()  # handed to the loop, not started yet
        self.ended: list[Attempt] = []
        self.started: list[int] = []
        self.counters = _Counters()
        self.spent = Decimal(run.spent_usd or 0)
        self.reserved = Decimal(0)
        self.cost_estimate: dict[int, Decimal | None] = {}
        if self.budget is not None:
            # A conservative price per call for each arm: the dearest attempt of it so far.
            for arm_id, most in (
                Attempt.objects.filter(run_id=run_id, cost_usd__isnull=False)
                .values_list("arm_id").annotate(m=Max("cost_usd")).values_list("arm_id", "m")
            ):
                self.cost_estimate[arm_id] = most * BUDGET_HEADROOM
        self.stopping: str = ""  # "", "cancelled" or "budget_exhausted"
        if run.cancel_requested_at is not None:
            self.stopping = StopReason.CANCELLED
        elif run.stop_reason == StopReason.BUDGET:
            self.stopping = StopReason.BUDGET
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
        self.chunks[index] = _HeldChunk(pk=pk, open=len(attempts))
        self.pending[:0] = reversed(attempts)

    def _continue(self) -> None:
        """Claim the run's next pending chunk before this one runs dry, so that the lane's calls
        go on without a gap (no drain, no queue round trip, no load while slots stand idle).
        Only within the lane's time slice: then the task ends and other runs' chunks get a turn."""
        if (
            len(self.pending) >= self.limit
            or self.stopping
            or not self.run_has_pending_chunks
            or time.monotonic() >= self.slice_ends
        ):
            return
        index = chunk_claim_next(run_id=self.run_id, token=self.token)
        if index is None:
            self.run_has_pending_chunks = False
        else:
            self._hold(index)

    # -- issuing ----------------------------------------------------------------------------

    def _budget_allows(self, arm_id: int) -> bool:
        if self.budget is None:
            return True
        estimate = self.cost_estimate.get(arm_id)
        if estimate is None:
            # No price seen for this arm yet: one probing call at a time until one is.
            return not any(f.attempt.arm_id == arm_id for f in self.inflight.values()) and (
                self.spent + self.reserved < self.budget
            )
        return self.spent + self.reserved + estimate <= self.budget

    def _window(self) -> int:
        """Calls handed to the loop at once: the concurrency plus as many prepared to follow them.
        With a budget none are prepared ahead: each call's reserve is taken just before it starts."""
        return self.limit if self.budget is not None else 2 * self.limit

    def _issue(self, feed: _Feed) -> None:
        self._continue()
        skipped: list[Attempt] = []
        ready: list[tuple[Any, str, Any]] = []
        window = self._window()
        while self.pending and len(self.inflight) < window and not self.stopping:
            attempt = self.pending.pop()
            if not self._budget_allows(attempt.arm_id):
                if self.cost_estimate.get(attempt.arm_id) is None and self.spent + self.reserved < self.budget:
                    skipped.append(attempt)  # waiting for this arm's probe; other arms may go on
                    continue
                self.pending.append(attempt)
                self.stopping = StopReason.BUDGET
                break
            arm = self.arms[attempt.arm_id]
            case = attempt.task_instance.case
            messages = prompts.render_messages(self.kind, case.payload, self.template)
            request = build_request(arm=arm, messages=messages, seed=self.seed + attempt.sample)
            self.inflight[attempt.pk] = _InFlight(attempt, attempt.status == AttemptStatus.RUNNING)
            self.prepared.add(attempt.pk)
            self.reserved += self.cost_estimate.get(attempt.arm_id) or Decimal(0)
            ready.append((attempt.pk, arm["provider"], request))
        self.pending.extend(reversed(skipped))
        feed.push(ready)

    def _start(self, attempt_id: int) -> None:
        """The loop started this attempt's call."""
        self.prepared.discard(attempt_id)
        flight = self.inflight[attempt_id]
        attempt = flight.attempt
        if flight.was_running:
            # Its previous executor died before storing a result: say so in the attempt's history.
            attempt.errors = [*attempt.errors, {"type": "interrupted", "message": "executor lost; attempt run again"}]
        else:
            self.counters.running += 1
        attempt.started_at = timezone.now()
        self.started.append(attempt_id)

    def _take_back(self, feed: _Feed) -> None:
        """Stopping: the prepared calls the loop has not started go back to pending, untouched."""
        taken = set(feed.take_back())
        if not taken:
            return
        back = [self.inflight.pop(pk).attempt for pk in sorted(taken)]
        self.prepared -= taken
        for attempt in back:
            self.reserved -= self.cost_estimate.get(attempt.arm_id) or Decimal(0)
        self.pending.extend(reversed(back))  # pop() from the end, in id order

    # -- results ----------------------------------------------------------------------------

    def _land(self, attempt_id: int, future: concurrent.futures.Future | asyncio.Future) -> None:
        from providers.interface import ProviderError

        flight = self.inflight.pop(attempt_id)
        attempt = flight.attempt
        self.reserved -= self.cost_estimate.get(attempt.arm_id) or Decimal(0)
        self.counters.running -= 1
        self.counters.done += 1
        attempt.responded_at = timezone.now()
        try:
            result = future.result()
        except DatabaseError:
            raise  # the gateway could not read its settings: infrastructure, not the attempt's fault
        except ProviderError as exc:
            self._fail(attempt, exc.type.value, exc.message, retries=exc.retries,
                       errors=[_call_error(e) for e in exc.errors] or [{"type": exc.type.value, "message": exc.message}],
                       raw=exc.raw)
            return
        except Exception as exc:  # an adapter bug must fail one attempt, not the chunk
            logger.exception("provider call raised", extra={"run_id": self.run_id, "attempt_id": attempt.pk})
            self._fail(attempt, "unknown", f"{type(exc).__name__}: {exc}", retries=0,
                       errors=[{"type": "unknown", "message": str(exc)}], raw=None)
            return
        usage = result.usage
        attempt.status = AttemptStatus.SUCCEEDED
        attempt.output = result.text or ""
        attempt.patch = pr_patch(attempt.output, attempt.task_instance.case.payload) if self.kind == "pr" else ""
        attempt.input_tokens = usage.input_tokens
        attempt.output_tokens = usage.output_tokens
        attempt.cached_tokens = usage.cached_tokens
        attempt.cost_usd = result.cost_usd
        attempt.latency_ms = result.latency_ms
        attempt.ttft_ms = result.ttft_ms
        attempt.retries = result.retries
        attempt.errors = [*attempt.errors, *(_call_error(e) for e in result.errors)]
        attempt.raw_response = result.raw
        attempt.provider_request_id = result.provider_request_id or ""
        attempt.error_type = ""
        attempt.error_message = ""
        self._account_cost(attempt)
        if self.plan.fast:
            scores = attempt_score_rules(
                plan=self.plan, output=attempt.output, case_kind=self.kind, payload=attempt.task_instance.case.payload
            )
            summary = scores_summarize(scores)
            attempt.scores, attempt.score_value, attempt.passed = summary.scores, summary.score_value, summary.passed
            attempt.scored_at = timezone.now()
        self._ended(attempt)

    def _take(self, attempt_id: int, future: asyncio.Future | None) -> None:
        if future is None:
            self._start(attempt_id)
        else:
            self._land(attempt_id, future)

    def _fail(self, attempt: Attempt, error_type: str, message: str, *, retries: int, errors: list, raw: Any) -> None:
        attempt.status = AttemptStatus.FAILED
        attempt.error_type = error_type
        attempt.error_message = message[:4000]
        attempt.retries = retries
        attempt.errors = [*attempt.errors, *errors]
        attempt.raw_response = raw
        self.counters.failed += 1
        self._ended(attempt)

    def _ended(self, attempt: Attempt) -> None:
        self.ended.append(attempt)
        self.chunks[attempt.chunk].open -= 1

    def _account_cost(self, attempt: Attempt) -> None:
        if attempt.cost_usd is None:
            # Unpriced: it cannot count toward a budget; remember 0 so the arm is not probed forever.
            self.cost_estimate.setdefault(attempt.arm_id, Decimal(0))
            return
        self.spent += attempt.cost_usd
        self.counters.spent += attempt.cost_usd
        # The reserve for a call still in flight: the dearest call of this arm so far, with headroom
        # for a longer prompt or answer, so that spent + in flight stays under the cap.
        reserve = attempt.cost_usd * BUDGET_HEADROOM
        known = self.cost_estimate.get(attempt.arm_id)
        self.cost_estimate[attempt.arm_id] = reserve if known is None else max(known, reserve)

    # -- writing ----------------------------------------------------------------------------

    def _flush(self, *, final: bool = False) -> None:
        now = timezone.now()
        started = [pk for pk in self.started if pk in self.inflight]
        held = [c for c in self.chunks.values() if not c.done]
        # A chunk is done once every attempt of it has ended and those results are in this write.
        finished = [c for c in held if c.open == 0]
        assert not final or len(finished) == len(held), "the last write ends every chunk held"
        with transaction.atomic():
            fence = RunChunk.objects.filter(
                pk__in=[c.pk for c in held], lease_owner=self.token, status=ChunkStatus.RUNNING
            )
            lease = now + timezone.timedelta(seconds=settings.BENCHHUB_RUN_LEASE_SECONDS)
            if fence.update(lease_expires_at=lease) != len(held):
                raise LeaseLost()
            if finished:
                RunChunk.objects.filter(pk__in=[c.pk for c in finished]).update(
                    status=ChunkStatus.DONE, finished_at=now
                )
            if self.ended:
                update_rows(Attempt, self.ended, RESULT_FIELDS)
            if started:
                Attempt.objects.filter(pk__in=started, status=AttemptStatus.QUEUED).update(
                    status=AttemptStatus.RUNNING, started_at=now
                )
            run_changes: dict[str, Any] = {}
            if self.counters.any():
                run_changes.update(
                    done=F("done") + self.counters.done, failed=F("failed") + self.counters.failed,
                    running=F("running") + self.counters.running, spent_usd=F("spent_usd") + self.counters.spent,
                )
            if self.stopping == StopReason.BUDGET and self.budget is not None:
                run_changes.update(
                    stop_reason=StopReason.BUDGET,
                    message=f"Stopped issuing calls at the budget cap of ${self.budget}: "
                    f"spent ${self.spent.quantize(Decimal('0.000001'))}.",
                )
            if run_changes:
                Run.objects.filter(pk=self.run_id).update(**run_changes)
            if self.plan.has_slow or self.judged:
                scored = [a.pk for a in self.ended if a.status == AttemptStatus.SUCCEEDED]
                if scored:
                    transaction.on_commit(lambda: slow_scoring_send(scored))
        for chunk in finished:
            chunk.done = True
        self.ended, self.started, self.counters = [], [], _Counters()
        if not final and not self.stopping:
            cancel_requested_at, stop_reason = Run.objects.filter(pk=self.run_id).values_list(
                "cancel_requested_at", "stop_reason"
            ).get()
            if cancel_requested_at is not None:
                self.stopping = StopReason.CANCELLED
            elif stop_reason == StopReason.BUDGET:
                self.stopping = StopReason.BUDGET

    def execute(self) -> None:
        feed = _Feed(call_pool(), limit=self.limit, org_id=self.run.org_id, results=self.results)
        try:
            self._execute(feed)
        finally:
            # On an exception (the database went away) calls still in flight are abandoned: their
            # results are never stored, so the retry or the next executor runs those attempts again.
            # Prepared calls never start.
            feed.close()

    def _execute(self, feed: _Feed) -> None:
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
        reason = self.stopping
        if self.pending:
            error_type = "budget_exceeded" if reason == StopReason.BUDGET else "cancelled"
            message = "The run's budget was reached." if reason == StopReason.BUDGET else "The run was cancelled."
            for attempt in self.pending:
                if attempt.status == AttemptStatus.RUNNING:
                    self.counters.running -= 1  # counted as running by the executor that died
                attempt.status = AttemptStatus.CANCELLED
                attempt.error_type, attempt.error_message = error_type, message
                self.counters.done += 1
                self._ended(attempt)
            self.pending = []
        self._flush(final=True)


def _call_error(error: Any) -> dict[str, Any]:
    return {
        "type": str(getattr(error, "type", "unknown")),
        "message": getattr(error, "message", str(error)),
        "status_code": getattr(error, "status_code", None),
    }


# --- no broker: the run executes inside this process ----------------------------------------


INLINE_RETRIES = 20


def inline_drive(*, run_id: int) -> None:
    """Execute a run's chunks one after the other in this thread, then finalize it.

    A database error (SQLite answering "locked" while a request writes) is retried here the way
    Celery's autoretry does it for workers: nothing terminal was written, and the same token takes
    its own chunk back.
    """
    from experiments.services import run_finalize

    token = f"inline-{uuid.uuid4().hex}"
    failures = 0
    while True:
        try:
            mine = Q(status=ChunkStatus.RUNNING, lease_owner=token)  # taken back after an error
            index = (
                RunChunk.objects.filter(mine | Q(status__in=[ChunkStatus.PENDING, ChunkStatus.ENQUEUED]), run_id=run_id)
                .order_by("index")
                .values_list("index", flat=True)
                .first()
            )
            if index is None:
                run_finalize(run_id=run_id)
                return
            chunk_execute(run_id=run_id, index=index, token=token)
        except DatabaseError:
            failures += 1
            if failures > INLINE_RETRIES:
                raise
            logger.warning("in-process run hit a database error; retrying", extra={"run_id": run_id}, exc_info=True)
            connection.close()
            time.sleep(min(2.0, 0.1 * failures))


_inline_threads: dict[int, threading.Thread] = {}


def inline_start(*, run_id: int) -> None:
    """Embedded default: return at once; the run proceeds in a background thread of this process."""
    if settings.BENCHHUB_RUNS_INLINE == "sync":
        inline_drive(run_id=run_id)
        return
    # A second driver of the same run (retry-failed while the first is finishing) is harmless:
    # claiming a chunk is conditional, so each chunk still executes once.
    def main() -> None:
        try:
            inline_drive(run_id=run_id)
        except Exception:
            logger.exception("in-process run execution failed", extra={"run_id": run_id})
        finally:
            connection.close()

    thread = threading.Thread(target=main, name=f"benchhub-run-{run_id}", daemon=True)
    _inline_threads[run_id] = thread
    thread.start()


def inline_wait(*, run_id: int, timeout: float | None = None) -> None:
    thread = _inline_threads.get(run_id)
    if thread is not None:
        thread.join(timeout)

