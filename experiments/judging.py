"""What the evaluator judged: a run's attempts scored by an evaluator profile, and arm pairs compared.

The slow scoring task calls `attempts_judge` for the attempts it scored (a run whose snapshot names
an evaluator profile); `evaluator_replay` re-scores a run's stored attempts with any profile
without calling an arm. Both go the same way:

1. each attempt (and each pair of arms' attempts on one task instance and sample, once every
   attempt of that instance has ended) becomes a blinded judge request (`evaluation.judge`);
2. requests whose verdict the cache holds (same profile version, same input hash) are not asked
   again; the others go to the judge through the gateway, a few at a time, within the run's
   evaluator budget;
3. verdicts, evaluations, pairwise judgements and the attempts' `evaluator_score` are written in
   one transaction, so a run never looks scored while its pairwise judgements are missing.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import combinations
from typing import Any

from django.db import transaction
from django.db.models import Count, F, QuerySet

from benchhub.dispatch import task_send_on_commit
from evaluation.agreement import calibration_report, drift_alarm, shadow_report
from evaluation.blinding import Redactor, redactor_for
from evaluation.evaluator import evaluator_profile_spec, rubric_for
from evaluation.inputs import artifact_of, judge_input, judge_task
from evaluation.judge import (
    SCORED,
    JudgeRequest,
    ProfileSpec,
    RubricSpec,
    Verdict,
    pairwise_outcome,
    pairwise_request,
    single_request,
)
from evaluation.models import EvaluatorProfile
from evaluation.verdicts import Budget, verdicts_get
from experiments.bulk import update_rows
from experiments.models import (
    ATTEMPT_ENDED,
    Attempt,
    AttemptEvaluation,
    AttemptStatus,
    EvaluationStatus,
    PairwiseEvaluation,
    Run,
)

logger = logging.getLogger("benchhub.evaluator")



# --- which profile, which attempts -----------------------------------------------------------------


def run_profile_id(snapshot: dict[str, Any]) -> int | None:
    """The evaluator profile a run's snapshot froze (an id, or `{"id", "version", ...}`)."""
    profile = (snapshot or {}).get("evaluator_profile")
    if isinstance(profile, dict):
        profile = profile.get("id")
    return int(profile) if profile not in (None, "") else None


def attempts_awaiting_evaluation(*, run: Run) -> QuerySet[Attempt]:
    """Succeeded attempts of the run its own evaluator profile has not judged yet."""
    profile_id = run_profile_id(run.snapshot)
    if profile_id is None:
        return Attempt.objects.none()
    return Attempt.objects.filter(run=run, status=AttemptStatus.SUCCEEDED).exclude(evaluations__profile_id=profile_id)


def run_evaluator_spent(*, run_id: int) -> Decimal:
    """What the evaluator has spent on a run (every profile), reported apart from the arms' spend."""
    return Run.objects.filter(pk=run_id).values_list("evaluator_spent_usd", flat=True).get()


# --- judging -----------------------------------------------------------------------------------


@dataclass
class JudgeStats:
    scored: int = 0
    invalid: int = 0
    pairs: int = 0
    calls: int = 0  # verdicts asked of the judge (not from the cache)
    extra: dict[str, int] = field(default_factory=dict)


@dataclass
class _Plan:
    """One run's work for one profile: the attempts and pairs to judge and their requests."""

    run: Run
    profile: EvaluatorProfile
    spec: ProfileSpec
    singles: list[tuple[Attempt, RubricSpec, JudgeRequest]] = field(default_factory=list)
    pairs: list[tuple[Attempt, Attempt, JudgeRequest, JudgeRequest]] = field(default_factory=list)

    def requests(self) -> list[JudgeRequest]:
        return [r for _, _, r in self.singles] + [r for p in self.pairs for r in p[2:]]


def _plan(*, run: Run, profile: EvaluatorProfile, attempt_ids: list[int] | None, redo_retryable: bool) -> _Plan:
    spec = evaluator_profile_spec(profile)
    redact: Redactor = redactor_for(arms=run.snapshot.get("arms") or [])
    plan = _Plan(run=run, profile=profile, spec=spec)
    rubrics: dict[str, RubricSpec] = {}

    def rubric(kind: str) -> RubricSpec:
        if kind not in rubrics:
            rubrics[kind] = rubric_for(version=profile.rubric_version, kind=kind)
        return rubrics[kind]

    attempts = Attempt.objects.filter(run=run, status=AttemptStatus.SUCCEEDED).select_related(
        "arm", "task_instance__case")
    if attempt_ids is not None:
        attempts = attempts.filter(pk__in=attempt_ids)
    done = AttemptEvaluation.objects.filter(run=run, profile=profile)
    if redo_retryable:
        done = done.filter(retryable=False)
    judged = set(done.values_list("attempt_id", flat=True))
    touched: set[int] = set()
    for attempt in attempts:
        touched.add(attempt.task_instance_id)
        if attempt.pk in judged:
            continue
        case = attempt.task_instance.case
        item = judge_input(kind=case.kind, payload=case.payload, output=attempt.output, patch=attempt.patch,
                           validation=attempt.validation).blinded(redact)
        plan.singles.append((attempt, rubric(case.kind), single_request(profile=spec, rubric=rubric(case.kind),
                                                                         item=item)))
    _plan_pairs(plan, task_instance_ids=touched, redact=redact, rubric=rubric, redo_retryable=redo_retryable)
    return plan


def _plan_pairs(plan: _Plan, *, task_instance_ids: set[int], redact: Redactor, rubric: Any,
                redo_retryable: bool) -> None:
    """Pairs of arms on the same task instance and sample, for instances whose attempts have all ended."""
    if not task_instance_ids:
        return
    rows = list(
        Attempt.objects.filter(task_instance_id__in=task_instance_ids).select_related("arm", "task_instance__case")
        .order_by("task_instance_id", "sample", "arm__position")
    )
    by_instance: dict[int, list[Attempt]] = defaultdict(list)
    for attempt in rows:
        by_instance[attempt.task_instance_id].append(attempt)
    existing = PairwiseEvaluation.objects.filter(profile=plan.profile, task_instance_id__in=task_instance_ids)
    if redo_retryable:
        existing = existing.exclude(outcome__isnull=True)
    seen = set(existing.values_list("attempt_a_id", "attempt_b_id"))
    for attempts in by_instance.values():
        if any(a.status not in ATTEMPT_ENDED for a in attempts):
            continue  # the last attempt to end brings its instance's pairs
        by_sample: dict[int, list[Attempt]] = defaultdict(list)
        for a in attempts:
            if a.status == AttemptStatus.SUCCEEDED:
                by_sample[a.sample].append(a)
        case = attempts[0].task_instance.case
        task = judge_task(kind=case.kind, payload=case.payload).blinded(redact)
        for group in by_sample.values():
            for a, b in combinations(group, 2):
                if (a.pk, b.pk) in seen:
                    continue
                first = redact(artifact_of(kind=case.kind, output=a.output, patch=a.patch))
                second = redact(artifact_of(kind=case.kind, output=b.output, patch=b.patch))
                spec, rub = plan.spec, rubric(case.kind)
                plan.pairs.append((a, b, pairwise_request(profile=spec, rubric=rub, item=task, first=first, second=second),
                                   pairwise_request(profile=spec, rubric=rub, item=task, first=second, second=first)))


def _winner(verdict: Verdict) -> str:
    return str((verdict.answer or {}).get("winner", "")) if verdict.status == SCORED else ""


def _paid(verdict: Verdict) -> Decimal | None:
    return Decimal(0) if verdict.cache_hit else verdict.cost_usd


def _store(plan: _Plan, verdicts: dict[str, Verdict], *, own_profile: bool) -> JudgeStats:
    stats = JudgeStats()
    stats.calls = sum(1 for v in verdicts.values() if not v.cache_hit)
    evaluations: list[AttemptEvaluation] = []
    scored_attempts: list[Attempt] = []
    for attempt, rubric, request in plan.singles:
        verdict = verdicts[request.input_hash]
        evaluation = AttemptEvaluation(
            run=plan.run, attempt=attempt, profile=plan.profile, profile_version=plan.profile.version,
            status=EvaluationStatus.INVALID, reason=verdict.reason, rationale=verdict.rationale[:4000],
            raw_response=list(verdict.raw), input_hash=request.input_hash, cache_hit=verdict.cache_hit,
            retryable=not verdict.cacheable, input_tokens=verdict.input_tokens, output_tokens=verdict.output_tokens,
            cost_usd=_paid(verdict), latency_ms=verdict.latency_ms,
        )
        if verdict.status == SCORED and verdict.answer is not None:
            evaluation.criteria, evaluation.overall, evaluation.passed = rubric.score(verdict.answer)
            evaluation.status = EvaluationStatus.SCORED
            stats.scored += 1
            attempt.evaluator_score = evaluation.overall
            scored_attempts.append(attempt)
        else:
            stats.invalid += 1
        evaluations.append(evaluation)
    pairs: list[PairwiseEvaluation] = []
    for a, b, ab, ba in plan.pairs:
        first, second = verdicts[ab.input_hash], verdicts[ba.input_hash]
        outcome = pairwise_outcome(_winner(first), _winner(second))
        costs = [_paid(first), _paid(second)]
        pairs.append(PairwiseEvaluation(
            run=plan.run, task_instance_id=a.task_instance_id, profile=plan.profile, attempt_a=a, attempt_b=b,
            winner_ab=_winner(first), winner_ba=_winner(second), outcome=outcome,
            reason="; ".join(v.reason for v in (first, second) if v.reason),
            rationale="\n".join(v.rationale for v in (first, second))[:4000],
            raw_response=[*first.raw, *second.raw], input_tokens=first.input_tokens + second.input_tokens,
            output_tokens=first.output_tokens + second.output_tokens,
            cost_usd=None if None in costs else sum(costs, Decimal(0)),
            latency_ms=first.latency_ms + second.latency_ms,
        ))
    stats.pairs = len(pairs)
    with transaction.atomic():
        # A replay replaces the retryable rows it asked again; judged rows are never touched.
        AttemptEvaluation.objects.filter(profile=plan.profile, attempt__in=[e.attempt for e in evaluations]).delete()
        AttemptEvaluation.objects.bulk_create(evaluations)
        PairwiseEvaluation.objects.filter(
            profile=plan.profile, outcome__isnull=True,
            attempt_a__in=[p.attempt_a for p in pairs], attempt_b__in=[p.attempt_b for p in pairs],
        ).delete()
        PairwiseEvaluation.objects.bulk_create(pairs, ignore_conflicts=True)
        if own_profile and scored_attempts:
            update_rows(Attempt, scored_attempts, ["evaluator_score"])
        paid = sum((row.cost_usd or Decimal(0) for row in [*evaluations, *pairs]), Decimal(0))
        if paid:
            Run.objects.filter(pk=plan.run.pk).update(evaluator_spent_usd=F("evaluator_spent_usd") + paid)
    return stats


def _judge_run(*, run: Run, profile: EvaluatorProfile, attempt_ids: list[int] | None, redo_retryable: bool,
               budgeted: bool) -> JudgeStats:
    plan = _plan(run=run, profile=profile, attempt_ids=attempt_ids, redo_retryable=redo_retryable)
    requests = plan.requests()
    if not requests:
        return JudgeStats()
    cap = run.snapshot.get("experiment", {}).get("evaluator_budget_usd") if budgeted else None
    budget = Budget(limit=Decimal(str(cap)) if cap is not None else None, spent=run_evaluator_spent(run_id=run.pk))
    verdicts = verdicts_get(spec=plan.spec, requests=requests, budget=budget)
    own = run_profile_id(run.snapshot) == profile.pk
    stats = _store(plan, verdicts, own_profile=own)
    logger.info("evaluator judged", extra={"run_id": run.pk, "profile_id": profile.pk, "scored": stats.scored,
                                           "invalid": stats.invalid, "pairs": stats.pairs, "calls": stats.calls})
    return stats


def _store_failure(*, run: Run, profile: EvaluatorProfile, attempt_ids: list[int], reason: str) -> JudgeStats:
    pending = attempts_awaiting_evaluation(run=run).filter(pk__in=attempt_ids).values_list("pk", flat=True)
    rows = [AttemptEvaluation(run=run, attempt_id=pk, profile=profile, profile_version=profile.version,
                              status=EvaluationStatus.INVALID, reason=reason, retryable=True) for pk in pending]
    AttemptEvaluation.objects.bulk_create(rows, ignore_conflicts=True)
    return JudgeStats(invalid=len(rows))


def attempts_judge(*, attempt_ids: list[int]) -> JudgeStats:
    """The slow-scoring step: judge these attempts (and their instances' arm pairs) with their run's
    own evaluator profile, within the run's evaluator budget. Idempotent: judged ones are skipped."""
    total = JudgeStats()
    runs = Run.objects.filter(attempts__pk__in=attempt_ids).distinct()
    for run in runs:
        profile_id = run_profile_id(run.snapshot)
        if profile_id is None:
            continue
        profile = EvaluatorProfile.objects.get(pk=profile_id)
        try:
            stats = _judge_run(run=run, profile=profile, attempt_ids=attempt_ids, redo_retryable=False, budgeted=True)
        except Exception as exc:  # noqa: BLE001
            # As a slow scorer that raises: never hold the run open for ever. The attempts get an
            # invalid, retryable evaluation saying why (a replay asks again); never a score.
            logger.exception("evaluator failed", extra={"run_id": run.pk, "profile_id": profile_id})
            stats = _store_failure(run=run, profile=profile, attempt_ids=attempt_ids,
                                   reason=f"evaluator error: {type(exc).__name__}: {exc}"[:500])
        total.scored, total.invalid = total.scored + stats.scored, total.invalid + stats.invalid
        total.pairs, total.calls = total.pairs + stats.pairs, total.calls + stats.calls
    return total


@dataclass(frozen=True)
class ReplayResult:
    run: int
    profile: int
    scored: int  # the run's attempts with a scored verdict of this profile, after the replay
    invalid: int
    calls: int  # judge calls this replay made (cache hits and arms: none)

    def as_dict(self) -> dict[str, int]:
        return {"run": self.run, "profile": self.profile, "scored": self.scored, "invalid": self.invalid}


def evaluator_replay_send(*, run_id: int, profile_id: int) -> None:
    """Replay on the scoring queue (in this process without a broker), for the admin action."""
    task_send_on_commit("experiments.evaluator_replay", run_id, profile_id)


def evaluator_replay(*, run: Run, profile: EvaluatorProfile) -> ReplayResult:
    """Re-score a run's stored attempts with `profile`: calls the evaluator only, never an arm.

    Scores of other profiles stay as they are; verdicts already stored for this profile are kept
    (those that failed for want of an answer are asked again). A replay of the run's own profile
    refreshes its evaluator board.
    """
    stats = _judge_run(run=run, profile=profile, attempt_ids=None, redo_retryable=True, budgeted=False)
    counts = dict(
        AttemptEvaluation.objects.filter(run=run, profile=profile).values_list("status")
        .annotate(n=Count("pk")).values_list("status", "n")
    )
    if run_profile_id(run.snapshot) == profile.pk and run.is_terminal:
        # Its boards again (the leaderboards app's task, sent by name: that app sits above this one).
        task_send_on_commit("leaderboards.refresh", run.pk)
    return ReplayResult(run=run.pk, profile=profile.pk, scored=counts.get(EvaluationStatus.SCORED, 0),
                        invalid=counts.get(EvaluationStatus.INVALID, 0), calls=stats.calls)


# --- how far to trust a profile ----------------------------------------------------------------


def evaluator_shadow(*, run_id: int, profile_a: int, profile_b: int) -> dict[str, Any]:
    """Two profiles compared on the run's attempts both scored (`evaluation.agreement.shadow_report`)."""
    rows = AttemptEvaluation.objects.filter(run_id=run_id, status=EvaluationStatus.SCORED,
                                            profile_id__in=[profile_a, profile_b])
    by_attempt: dict[int, dict[int, tuple[float, bool]]] = defaultdict(dict)
    for attempt_id, profile_id, overall, passed in rows.values_list("attempt_id", "profile_id", "overall", "passed"):
        by_attempt[attempt_id][profile_id] = (overall, passed)
    both = [v for v in by_attempt.values() if len(v) == 2]
    report = shadow_report([v[profile_a][0] for v in both], [v[profile_b][0] for v in both],
                           [v[profile_a][1] for v in both], [v[profile_b][1] for v in both])
    return {"run": run_id, "profile_a": profile_a, "profile_b": profile_b, **report}


PR_TESTS = "pr_tests"


def evaluator_calibration(*, run_id: int, profile_id: int) -> dict[str, Any]:
    """The profile's pass against the tests' pass on the run's scored attempts: κ and confusion matrix.

    Ground truth is the `pr_tests` scorer's pass where the attempt has one; `truth` says which was
    used, and attempts without any ground truth are left out."""
    rows = (
        AttemptEvaluation.objects.filter(run_id=run_id, profile_id=profile_id, status=EvaluationStatus.SCORED)
        .values_list("passed", "attempt__scores")
    )
    judge, truth = [], []
    for passed, scores in rows:
        test = (scores or {}).get(PR_TESTS)
        if test and test.get("passed") is not None:
            judge.append(bool(passed))
            truth.append(bool(test["passed"]))
    return {"run": run_id, "profile": profile_id, "truth": PR_TESTS, **calibration_report(judge, truth)}


def evaluator_position_bias(*, profile_id: int) -> dict[str, Any]:
    """How a profile leans on answer order, over all its pairwise judgements: the share of decided
    single-order verdicts that picked the answer shown first (0.5 = no lean), and the share of
    pairs whose two orders disagreed (and so count as ties)."""
    rows = list(
        PairwiseEvaluation.objects.filter(profile_id=profile_id, outcome__isnull=False)
        .values_list("winner_ab", "winner_ba")
    )
    decided = [w for pair in rows for w in pair if w in ("A", "B")]
    disagreed = sum(1 for ab, ba in rows if pairwise_outcome(ab, ba) == 0.5 and ab != "tie" and ba != "tie")
    return {
        "profile": profile_id, "pairs": len(rows),
        "first_position_rate": round(decided.count("A") / len(decided), 6) if decided else None,
        "order_disagreement_rate": round(disagreed / len(rows), 6) if rows else None,
    }


def evaluator_calibrate(*, run_id: int, profile_id: int) -> dict[str, Any]:
    """Calibration of a profile on a run used as its fixed calibration set. The first calibration is
    recorded on the profile; later ones raise `drift` when κ fell below the recorded value."""
    report = evaluator_calibration(run_id=run_id, profile_id=profile_id)
    profile = EvaluatorProfile.objects.get(pk=profile_id)
    recorded = profile.calibration or {}
    if not recorded and report["n"]:
        recorded = {"run": run_id, "kappa": report["kappa"], "agreement": report["agreement"], "n": report["n"]}
        EvaluatorProfile.objects.filter(pk=profile_id).update(calibration=recorded)
    return {**report, "recorded": recorded, "drift": drift_alarm(recorded=recorded, current=report)}
