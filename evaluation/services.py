"""Scoring of attempts: the rule scorers inline, the slow ones queued."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from benchhub.tracing import span
from evaluation.scorers import Score, ScoreInput, Scorer, scorer_build, scorer_key


@dataclass(frozen=True)
class ScoringPlan:
    """An experiment's scorers built once per chunk: `(key, scorer)` pairs split by speed."""

    fast: tuple[tuple[str, Scorer], ...]
    slow: tuple[tuple[str, Scorer], ...]

    @property
    def has_slow(self) -> bool:
        return bool(self.slow)


def scoring_plan_build(*, specs: list[dict[str, Any]]) -> ScoringPlan:
    fast, slow = [], []
    for index, spec in enumerate(specs):
        pair = (scorer_key(spec, index, specs), scorer_build(spec))
        (slow if pair[1].slow else fast).append(pair)
    return ScoringPlan(fast=tuple(fast), slow=tuple(slow))


def case_reference(case_kind: str, payload: dict[str, Any]) -> Any:
    if case_kind == "data_cleaning":
        return payload.get("clean")
    if case_kind == "pr":
        return payload.get("reference_patch")
    return payload.get("reference")


@dataclass(frozen=True)
class ScoreSummary:
    scores: dict[str, dict[str, Any]]
    score_value: float | None
    passed: bool | None


def scores_summarize(scores: dict[str, dict[str, Any]]) -> ScoreSummary:
    """`score_value` is the mean of the values; `passed` is true only when every scorer passed."""
    if not scores:
        return ScoreSummary(scores, None, None)
    values = [s["value"] for s in scores.values() if s.get("value") is not None]
    passed_flags = [s["passed"] for s in scores.values() if s.get("passed") is not None]
    return ScoreSummary(
        scores,
        sum(values) / len(values) if values else None,
        all(passed_flags) if passed_flags else None,
    )


def attempt_score_rules(
    *, plan: ScoringPlan, output: str, case_kind: str, payload: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """Run the fast scorers on one output."""
    return scores_compute(plan.fast, output=output, case_kind=case_kind, payload=payload)


def scores_compute(
    scorers: tuple[tuple[str, Scorer], ...], *, output: str, case_kind: str, payload: dict[str, Any],
    skip: frozenset[str] | set[str] = frozenset(),
) -> dict[str, dict[str, Any]]:
    """`{key: score as stored}` of each scorer not in `skip` (see `scores_run`)."""
    return {
        key: score.as_dict()
        for key, score in scores_run(scorers, output=output, case_kind=case_kind, payload=payload, skip=skip).items()
    }


def scores_run(
    scorers: tuple[tuple[str, Scorer], ...], *, output: str, case_kind: str, payload: dict[str, Any],
    skip: frozenset[str] | set[str] = frozenset(),
) -> dict[str, Score]:
    """`{key: Score}` of each scorer not in `skip`, artifacts included. A scorer that raises yields
    value 0 with the error: a bad output (or a broken scorer) must never take a chunk or a scoring
    task down, nor leave the attempt unscored for ever (which would hold its run open)."""
    item = ScoreInput(output=output, reference=case_reference(case_kind, payload), case=payload)
    results: dict[str, Score] = {}
    for key, scorer in scorers:
        if key in skip:
            continue
        with span("score", **{"benchhub.scorer": key}):
            try:
                results[key] = scorer.score(item)
            except Exception as exc:  # noqa: BLE001
                results[key] = Score(0.0, False, {"error": f"{type(exc).__name__}: {exc}"})
    return results


def slow_score_keys(*, specs: list[dict[str, Any]]) -> list[str]:
    """The score keys the slow scorers of an experiment's scorer specs write."""
    return [key for key, _ in scoring_plan_build(specs=specs).slow]
