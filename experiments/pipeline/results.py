"""What an attempt's call becomes: its request, and the fields its outcome sets on the attempt."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.utils import timezone

from evaluation.patches import pr_patch
from evaluation.services import ScoringPlan, attempt_score_rules, scores_summarize
from experiments.bulk import update_rows
from experiments.models import Attempt, AttemptErrorType, AttemptStatus
from providers.interface import CompletionResult, ProviderError
from providers.requests import completion_request

# What a flush writes for an ended attempt. One list so that the write stays one statement per batch.
RESULT_FIELDS = [
    "status", "output", "patch", "scores", "score_value", "passed", "input_tokens", "output_tokens",
    "cached_tokens", "cost_usd", "latency_ms", "ttft_ms", "error_type", "error_message", "retries", "errors",
    "raw_response", "provider_request_id", "started_at", "responded_at", "scored_at",
]

def build_request(*, arm: dict[str, Any], messages: list[dict[str, str]], seed: int) -> Any:
    """The gateway request of one attempt; the arm's own seed wins over the run's per-sample seed."""
    return completion_request(model=arm["model"], messages=messages, config={"seed": seed, **(arm.get("config") or {})})


def call_error(error: Any) -> dict[str, Any]:
    return {
        "type": str(getattr(error, "type", AttemptErrorType.UNKNOWN)),
        "message": getattr(error, "message", str(error)),
        "status_code": getattr(error, "status_code", None),
    }


def interrupted(attempt: Attempt) -> None:
    """Its previous executor died before storing a result: say so in the attempt's history."""
    attempt.errors = [
        *attempt.errors, {"type": AttemptErrorType.INTERRUPTED, "message": "executor lost; attempt run again"}
    ]


def succeeded(attempt: Attempt, result: CompletionResult, *, kind: str, plan: ScoringPlan) -> None:
    """The call answered: its output, usage, cost, timings; the rule scores (slow ones come later)."""
    usage = result.usage
    attempt.status = AttemptStatus.SUCCEEDED
    attempt.output = result.text or ""
    attempt.patch = pr_patch(attempt.output, attempt.task_instance.case.payload) if kind == "pr" else ""
    attempt.input_tokens = usage.input_tokens
    attempt.output_tokens = usage.output_tokens
    attempt.cached_tokens = usage.cached_tokens
    attempt.cost_usd = result.cost_usd
    attempt.latency_ms = result.latency_ms
    attempt.ttft_ms = result.ttft_ms
    attempt.retries = result.retries
    attempt.errors = [*attempt.errors, *(call_error(e) for e in result.errors)]
    attempt.raw_response = result.raw
    attempt.provider_request_id = result.provider_request_id or ""
    attempt.error_type = ""
    attempt.error_message = ""
    if plan.fast:
        scores = attempt_score_rules(
            plan=plan, output=attempt.output, case_kind=kind, payload=attempt.task_instance.case.payload
        )
        summary = scores_summarize(scores)
        attempt.scores, attempt.score_value, attempt.passed = summary.scores, summary.score_value, summary.passed
        attempt.scored_at = timezone.now()


def failed(attempt: Attempt, error_type: str, message: str, *, retries: int, errors: list, raw: Any) -> None:
    attempt.status = AttemptStatus.FAILED
    attempt.error_type = error_type
    attempt.error_message = message[:4000]
    attempt.retries = retries
    attempt.errors = [*attempt.errors, *errors]
    attempt.raw_response = raw


def failed_by_provider(attempt: Attempt, exc: ProviderError) -> None:
    failed(attempt, exc.type.value, exc.message, retries=exc.retries,
           errors=[call_error(e) for e in exc.errors] or [{"type": exc.type.value, "message": exc.message}],
           raw=exc.raw)


def failed_by_bug(attempt: Attempt, exc: Exception) -> None:
    """An adapter bug fails one attempt, not the chunk."""
    failed(attempt, AttemptErrorType.UNKNOWN, f"{type(exc).__name__}: {exc}", retries=0,
           errors=[{"type": AttemptErrorType.UNKNOWN, "message": str(exc)}], raw=None)


def never_issued(attempt: Attempt, *, error_type: str, message: str) -> None:
    """The run stopped (cancel or budget) before this attempt's call was issued."""
    attempt.status = AttemptStatus.CANCELLED
    attempt.error_type, attempt.error_message = error_type, message


def results_write(*, ended: list[Attempt], started: Iterable[int], now: Any) -> None:
    """One batch: the ended attempts' results in one statement, the started ones marked running."""
    if ended:
        update_rows(Attempt, ended, RESULT_FIELDS)
    started = list(started)
    if started:
        Attempt.objects.filter(pk__in=started, status=AttemptStatus.QUEUED).update(
            status=AttemptStatus.RUNNING, started_at=now
        )
