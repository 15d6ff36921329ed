"""Score one sample now (`POST /api/v1/evaluate/`): the rule scorers, and a verdict when a profile is named.

The same judge as for runs (blinded, structured, repaired once, cached by profile version and input
hash), with no attempt to store: the verdict cache is the only write.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from evaluation.blinding import redactor_for
from evaluation.evaluator import evaluator_profile_spec, rubric_for
from evaluation.inputs import judge_input
from evaluation.judge import SCORED, single_request
from evaluation.models import EvaluatorProfile
from evaluation.scorers import ScorerConfigError, scorers_validate
from evaluation.services import scores_compute, scoring_plan_build
from evaluation.verdicts import verdicts_get


def evaluator_score(*, profile_id: int, version: int, status: str, overall: float | None, passed: bool | None,
                    criteria: dict[str, int]) -> dict[str, Any]:
    """The org-facing shape of a verdict (API.md `evaluator_score`): scores only, never the rationale."""
    return {"profile": profile_id, "version": version, "overall": overall, "passed": passed, "criteria": criteria,
            "status": status}


@dataclass(frozen=True)
class SampleScores:
    scores: dict[str, dict[str, Any]]
    evaluator_score: dict[str, Any] | None


def sample_evaluate(
    *, input: Any, output: str, reference: Any = None, context: str | None = None, kind: str = "qa",
    scorers: list[dict[str, Any]] | None = None, profile: EvaluatorProfile | None = None,
) -> SampleScores:
    """Raises `ScorerConfigError` for a bad or slow scorer spec (slow ones need a run)."""
    specs = scorers_validate(scorers or [])
    plan = scoring_plan_build(specs=specs)
    if plan.slow:
        slow = ", ".join(key for key, _ in plan.slow)
        raise ScorerConfigError(f"{slow}: needs a run (sandboxed or slow scorers are not run one-off)")
    payload: dict[str, Any] = {"input": input, "question": input, "reference": reference, "context": context}
    scores = scores_compute(plan.fast, output=output, case_kind=kind, payload=payload)
    if profile is None:
        return SampleScores(scores=scores, evaluator_score=None)
    spec = evaluator_profile_spec(profile)
    rubric = rubric_for(version=profile.rubric_version, kind=kind)
    item = judge_input(kind=kind, payload=payload, output=output).blinded(redactor_for())
    request = single_request(profile=spec, rubric=rubric, item=item)
    verdict = verdicts_get(spec=spec, requests=[request])[request.input_hash]
    if verdict.status == SCORED and verdict.answer is not None:
        criteria, overall, passed = rubric.score(verdict.answer)
        result = evaluator_score(profile_id=profile.pk, version=profile.version, status=SCORED, overall=overall,
                                 passed=passed, criteria=criteria)
    else:
        result = evaluator_score(profile_id=profile.pk, version=profile.version, status=verdict.status,
                                 overall=None, passed=None, criteria={})
    return SampleScores(scores=scores, evaluator_score=result)
