"""The real local model (Gemma 3 270M on llama-cpp-python) as the judge of a small PR run.

Ground truth: the sandboxed PR test scorer is not on main yet, so the attempts are fixtures whose
patches are known to pass or fail their tests (`pr_tests` pass labels set by hand, with the
validation steps the judge is shown). What the test shows is the report, whatever κ the model
reaches: the product tells users how far to trust a judge, and a 270M model is not a good one.
"""

from __future__ import annotations

import json

import pytest

from evaluation.evaluator import evaluator_profile_create
from experiments.judging import evaluator_calibrate, evaluator_position_bias, evaluator_replay
from experiments.models import Attempt, AttemptEvaluation, PairwiseEvaluation
from experiments.runs import run_start
from experiments.services import dataset_create, experiment_create
from tests.experiments.factories import allow, jsonl, mock_arm, wait_for
from tests.providers.llama_server import MODEL_ALIAS, llama  # noqa: F401 (fixture)

pytestmark = [pytest.mark.local_llm, pytest.mark.django_db(transaction=True)]

# (id, instruction, file, buggy line, good replacement, bad replacement)
CASES = [
    ("add", "Fix add() so that it returns the sum of a and b.", "calc.py", "    return a - b", "    return a + b",
     "    return a * b"),
    ("even", "Fix is_even() so that it is True for even numbers.", "num.py", "    return n % 2 == 1",
     "    return n % 2 == 0", "    return n % 3 == 0"),
    ("max", "Fix largest() so that it returns the largest item.", "seq.py", "    return min(xs)", "    return max(xs)",
     "    return sorted(xs)[0]"),
    ("greet", "Fix greet() so that greet('Ada') == 'Hello, Ada!'.", "text.py", "    return 'Hello' + name",
     "    return f'Hello, {name}!'", "    return 'Hello ' + name"),
]
HEADERS = {"calc.py": "def add(a, b):", "num.py": "def is_even(n):", "seq.py": "def largest(xs):",
           "text.py": "def greet(name):"}


def pr_rows() -> list[dict]:
    return [{"id": cid, "instruction": instruction, "repo": {"files": {path: f"{HEADERS[path]}\n{buggy}\n"}},
             "tests": {f"test_{path}": "# hidden tests"}} for cid, instruction, path, buggy, _, _ in CASES]


def patch(path: str, header: str, old: str, new: str) -> str:
    return f"--- a/{path}\n+++ b/{path}\n@@ -1,2 +1,2 @@\n {header}\n-{old}\n+{new}\n"


def validation(passed: bool) -> dict:
    return {"passed": passed, "steps": [
        {"name": "apply", "status": "passed", "exit_code": 0, "duration_ms": 5, "log": ""},
        {"name": "test", "status": "passed" if passed else "failed", "exit_code": 0 if passed else 1,
         "duration_ms": 120, "log": "1 passed" if passed else "FAILED test - AssertionError\n1 failed"},
    ]}



def test_gemma_as_the_judge_of_a_small_pr_run_reports_its_kappa_against_the_tests(org_world, settings, llama):  # noqa: F811
    settings.CELERY_TASK_ALWAYS_EAGER, settings.BENCHHUB_RUNS_INLINE = True, "sync"
    org = org_world.a.org
    allow(org, "mock")
    dataset, _ = dataset_create(org=org, name="prs", kind="pr", content=jsonl(pr_rows()), filename="prs.jsonl")
    experiment = experiment_create(org=org, name="pr", dataset=dataset,
                                   arms=[mock_arm("fixer"), mock_arm("breaker")], scorers=[])
    run = wait_for(run_start(experiment=experiment))
    # Fixture attempts: the fixer's patches pass their tests, the breaker's fail (ground truth).
    by_id = {c[0]: c for c in CASES}
    for attempt in Attempt.objects.filter(run=run).select_related("arm", "task_instance__case"):
        cid, _, path, buggy, good, bad = by_id[attempt.task_instance.case.case_id]
        passed = attempt.arm.model == "fixer"
        attempt.patch = attempt.output = patch(path, HEADERS[path], buggy, good if passed else bad)
        attempt.validation = validation(passed)
        attempt.scores = {"pr_tests": {"value": float(passed), "passed": passed, "details": {}}}
        attempt.save(update_fields=["patch", "output", "validation", "scores"])

    profile = evaluator_profile_create(
        name="gemma-judge", provider="local", model=MODEL_ALIAS, base_url=llama.url,
        # Scores only, no rationale: on this shared 2-core machine the model generated 0.25-2 tokens a
        # second while other model servers ran, and a verdict of ~30 tokens is what we can afford.
        # llama.cpp builds a grammar from the rubric's schema (`json_object` + schema), so it answers JSON.
        sampling={"max_tokens": 64, "rationale_chars": 0}, config={"max_concurrency": 1, "timeout": 600},
    )
    result = evaluator_replay(run=run, profile=profile)
    evaluations = AttemptEvaluation.objects.filter(run=run, profile=profile)
    assert evaluations.count() == 8 and result.scored + result.invalid == 8
    assert PairwiseEvaluation.objects.filter(run=run, profile=profile).count() == 4
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
