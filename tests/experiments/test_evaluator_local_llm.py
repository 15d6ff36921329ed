"""The real local model (Gemma 3 270M on llama-cpp-python) as the judge of a small PR run.

Ground truth is real: four cases of the fixture repo (tests/fixtures/pr_repo), a fake provider whose
`fixer` model answers each case's right patch and `breaker` a wrong one, and the `pr_tests` scorer
validating every patch in the sandbox. What the test shows is the judge's report against those
tests, whatever κ the model reaches: the product tells users how far to trust a judge, and a 270M
model is not a good one.
"""

from __future__ import annotations

import json

import pytest

from evaluation.evaluator import evaluator_profile_create
from experiments.judging import evaluator_calibrate, evaluator_position_bias, evaluator_replay
from experiments.models import Attempt, AttemptEvaluation, PairwiseEvaluation, RunStatus
from experiments.runs import run_start
from experiments.services import dataset_create, experiment_create
from tests.evaluation.test_pr_end_to_end import PatchingModels
from tests.experiments.conftest import point_local_at
from tests.experiments.factories import allow, wait_for
from tests.fixtures.pr_repo.dataset import pr_rows
from tests.providers.llama_server import MODEL_ALIAS, llama  # noqa: F401 (fixture)
from tests.support.services import require_sandbox

pytestmark = [pytest.mark.local_llm, pytest.mark.django_db(transaction=True)]

CASES = 4


@pytest.fixture
def patching_models():  # type: ignore[no-untyped-def]
    server = PatchingModels().start()
    yield server
    server.stop()


def test_gemma_as_the_judge_of_a_small_pr_run_reports_its_kappa_against_the_tests(
    org_world, settings, llama, patching_models,  # noqa: F811
):
    require_sandbox()
    settings.CELERY_TASK_ALWAYS_EAGER, settings.BENCHHUB_RUNS_INLINE = True, "sync"
    org = org_world.a.org
    allow(org, "local")
    point_local_at(org, patching_models)
    rows = pr_rows()[:CASES]
    dataset, _ = dataset_create(org=org, name="mathkit", kind="pr", filename="pr.jsonl",
                                content="".join(json.dumps(row) + "\n" for row in rows).encode())
    experiment = experiment_create(
        org=org, name="fix mathkit", dataset=dataset, scorers=[{"type": "pr_tests", "timeout_seconds": 60}],
        arms=[{"provider": "local", "model": m, "config": {"max_retries": 0}} for m in ("fixer", "breaker")],
    )
    run = wait_for(run_start(experiment=experiment))
    assert run.status == RunStatus.COMPLETED
    # Ground truth from the sandbox: every right patch passes its tests, every wrong one fails them.
    truth = {(a.arm.model, a.task_instance.case.case_id): a.scores["pr_tests"]["passed"]
             for a in Attempt.objects.filter(run=run).select_related("arm", "task_instance__case")}
    assert len(truth) == 2 * CASES and all(truth[k] == (k[0] == "fixer") for k in truth), truth

    profile = evaluator_profile_create(
        name="gemma-judge", provider="local", model=MODEL_ALIAS, base_url=llama.url,
        # Scores only, no rationale: on this shared 2-core machine the model generated 0.25-2 tokens a
        # second while other model servers ran, and a verdict of ~30 tokens is what we can afford.
        # llama.cpp builds a grammar from the rubric's schema (`json_object` + schema), so it answers JSON.
        sampling={"max_tokens": 64, "rationale_chars": 0}, config={"max_concurrency": 1, "timeout": 600},
    )
    result = evaluator_replay(run=run, profile=profile)
    evaluations = AttemptEvaluation.objects.filter(run=run, profile=profile)
    assert evaluations.count() == 2 * CASES and result.scored + result.invalid == 2 * CASES
    assert PairwiseEvaluation.objects.filter(run=run, profile=profile).count() == CASES
    invalid = [e.reason for e in evaluations if e.status == "invalid"]

    report = evaluator_calibrate(run_id=run.pk, profile_id=profile.pk)
    bias = evaluator_position_bias(profile_id=profile.pk)
    print("\nGEMMA-JUDGE", json.dumps({"calibration": report, "position_bias": bias, "invalid": invalid,
                                       "overall": sorted(evaluations.values_list("overall", "passed",
                                                                                 "attempt__arm__model"))}))
    confusion = report["confusion"]
    assert report["n"] == result.scored == sum(confusion.values())
    assert report["kappa"] is None or -1.0 <= report["kappa"] <= 1.0
    if report["n"]:
        assert report["recorded"]["kappa"] == report["kappa"] and report["drift"] is False
