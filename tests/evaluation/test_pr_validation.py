"""PR validation on the fixture repo (ten buggy functions): right patches pass, wrong ones fail
their tests, malformed ones fail to apply; every step runs in the real bubblewrap sandbox."""

from __future__ import annotations

import pytest

from evaluation import sandbox
from evaluation.pr_validation import PrTestsScorer, pr_validate
from evaluation.scorers import ScoreInput, ScorerConfigError, scorer_build, scorers_validate
from tests.fixtures.pr_repo.dataset import (
    FUNCTIONS,
    case_tests,
    pr_rows,
    repo_files,
    right_patch,
    wrong_patch,
)
from tests.support.services import require_sandbox


@pytest.fixture(autouse=True)
def _sandbox() -> None:
    require_sandbox()


def _validate(name: str, patch: str, **kwargs):  # type: ignore[no-untyped-def]
    return pr_validate(patch=patch, files=repo_files(), tests=case_tests(name), test_command="pytest -q", **kwargs)


def _statuses(validation) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {step.name: step.status for step in validation.steps}


@pytest.mark.parametrize("name", FUNCTIONS)
def test_right_patch_passes_its_tests(name):
    validation = _validate(name, right_patch(name))
    assert _statuses(validation) == {"apply": "passed", "lint": "passed", "build": "passed", "test": "passed"}
    assert validation.passed and validation.value == 1.0 and validation.apply_mode == "strict"
    assert validation.tests == {"passed": 3, "failed": 0, "errors": 0, "skipped": 0, "total": 3}
    assert "3 passed" in validation.step("test").log


@pytest.mark.parametrize("name", FUNCTIONS)
def test_wrong_patch_applies_but_fails_its_tests_with_partial_credit(name):
    validation = _validate(name, wrong_patch(name))
    assert _statuses(validation) == {"apply": "passed", "lint": "passed", "build": "passed", "test": "failed"}
    assert not validation.passed
    tests = validation.tests
    assert tests["failed"] >= 1 and tests["total"] == 3
    assert validation.value == tests["passed"] / 3 < 1
    assert validation.as_dict()["steps"][3]["exit_code"] == 1


def test_buggy_repo_fails_without_a_patch_that_fixes_it():
    # The fixture's bugs are real: a patch touching only the README leaves every function's tests red.
    readme = "--- a/README.md\n+++ b/README.md\n@@ -1,1 +1,1 @@\n-# mathkit\n+# mathkit (patched)\n"
    for name in FUNCTIONS:
        validation = _validate(name, readme)
        assert validation.step("apply").status == "passed" and validation.step("test").status == "failed", name
        assert _statuses(validation)["lint"] == "skipped"  # no Python file touched


MALFORMED = {
    "context that is not in the file": (
        "--- a/mathkit/numbers.py\n+++ b/mathkit/numbers.py\n@@ -1,3 +1,3 @@\n this line\n-is not\n+in the file\n"
        " at all\n"),
    "a file the repo does not have": "--- a/mathkit/nope.py\n+++ b/mathkit/nope.py\n@@ -1,1 +1,1 @@\n-x = 1\n+x = 2\n",
    "a new file that already exists": "--- /dev/null\n+++ b/mathkit/text.py\n@@ -0,0 +1,1 @@\n+x = 1\n",
    "no patch at all": "",
}


@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_malformed_patch_fails_to_apply_and_runs_nothing(kind):
    validation = _validate("gcd", MALFORMED[kind])
    assert _statuses(validation) == {"apply": "failed", "lint": "skipped", "build": "skipped", "test": "skipped"}
    assert not validation.passed and validation.value == 0.0 and validation.apply_mode is None
    assert validation.step("apply").log


def test_patch_off_by_some_lines_applies_with_fuzz_and_says_so():
    patch = right_patch("gcd").replace("@@ -37,4 +37,4 @@", "@@ -30,4 +30,4 @@").replace(
        '    """The greatest common divisor of two non-negative integers."""', '    """GCD."""')
    validation = _validate("gcd", patch)
    assert validation.apply_mode == "fuzz" and validation.step("apply").extra["mode"] == "fuzz"
    assert "git apply (strict)" in validation.step("apply").log
    assert validation.passed and validation.value == 1.0


def test_lint_reports_errors_only_in_the_touched_files():
    files = {**repo_files(), "mathkit/untouched.py": "def broken():\n    return undefined_elsewhere\n"}
    patch = right_patch("gcd").replace("+    return a\n", "+    return a + undefined_here\n")
    validation = pr_validate(patch=patch, files=files, tests=case_tests("gcd"), test_command="pytest -q")
    lint = validation.step("lint")
    assert lint.status == "failed" and "F821" in lint.log and "undefined_here" in lint.log
    assert "undefined_elsewhere" not in lint.log
    assert validation.step("test").status == "failed" and not validation.passed


def test_syntax_error_fails_the_build_and_skips_the_tests():
    patch = right_patch("gcd").replace("+    return a\n", "+    return a +\n")
    validation = _validate("gcd", patch)
    assert _statuses(validation) == {"apply": "passed", "lint": "failed", "build": "failed", "test": "skipped"}
    assert "SyntaxError" in validation.step("build").log and validation.value == 0.0


def test_the_cases_tests_replace_what_the_patch_did_to_them():
    cheat = right_patch("fibonacci") + (
        "--- /dev/null\n+++ b/tests/test_gcd.py\n@@ -0,0 +1,2 @@\n+def test_nothing():\n+    assert True\n")
    validation = _validate("gcd", cheat)
    assert validation.step("apply").status == "passed"
    assert validation.step("test").status == "failed" and validation.tests["total"] == 3


def test_sandbox_unavailable_fails_the_validation_and_runs_nothing(monkeypatch):
    monkeypatch.setattr(sandbox, "bwrap_path", lambda: None)
    sandbox._probe.cache_clear()
    try:
        validation = _validate("gcd", right_patch("gcd"))
    finally:
        sandbox._probe.cache_clear()
    apply = validation.step("apply")
    assert apply.status == "error" and apply.extra["reason"] == "sandbox_unavailable"
    assert "bubblewrap" in apply.log
    assert _statuses(validation)["test"] == "skipped" and validation.value == 0.0 and not validation.passed
    assert validation.reason == "sandbox_unavailable"


def test_scorer_is_slow_and_scores_a_fenced_answer_with_its_artifacts():
    scorer = scorer_build({"type": "pr_tests", "timeout_seconds": 60})
    assert isinstance(scorer, PrTestsScorer) and scorer.slow
    row = next(r for r in pr_rows() if r["id"] == "slugify")
    answer = f"The slug was not lower-cased.\n\n```diff\n{right_patch('slugify')}```\nDone."
    score = scorer.score(ScoreInput(output=answer, reference=row["reference_patch"], case=row))
    assert score.value == 1.0 and score.passed
    assert score.details == {"apply_mode": "strict", "reason": None,
                             "tests": {"passed": 3, "failed": 0, "errors": 0, "skipped": 0, "total": 3}}
    validation = score.artifacts["validation"]
    assert validation["passed"] and [s["name"] for s in validation["steps"]] == ["apply", "lint", "build", "test"]
    assert set(validation["steps"][0]) >= {"name", "status", "exit_code", "duration_ms", "log"}
    assert validation["sandbox"]["wall_seconds"] == 60
    assert score.artifacts["patch"].startswith("--- a/mathkit/text.py\n+++ b/mathkit/text.py\n")


def test_scorer_whole_file_answer_and_a_wrong_one():
    row = next(r for r in pr_rows() if r["id"] == "reverse_words")
    fixed = row["repo"]["files"]["mathkit/text.py"].replace(
        "    return text[::-1]", '    return " ".join(reversed(text.split()))')
    scorer = scorer_build({"type": "pr_tests"})
    score = scorer.score(ScoreInput(output=f"```python mathkit/text.py\n{fixed}```", case=row))
    assert score.value == 1.0 and score.passed
    wrong = scorer.score(ScoreInput(output=wrong_patch("reverse_words"), case=row))
    assert not wrong.passed and wrong.value == pytest.approx(2 / 3) and wrong.details["reason"] == "test_failed"
    # Stored normalised: git's `diff --git` and `index` lines dropped, the hunks as git wrote them.
    assert wrong.artifacts["patch"] == wrong_patch("reverse_words").split("\n--- ", 1)[1].join(["--- ", ""])


def test_experiments_may_name_pr_tests_and_bad_options_are_refused():
    assert scorers_validate([{"type": "pr_tests"}, {"type": "pr_tests", "timeout_seconds": 30}])
    for bad in ({"type": "pr_tests", "timeout_seconds": 0}, {"type": "pr_tests", "memory_mb": 1},
                {"type": "pr_tests", "unknown": 1}):
        with pytest.raises(ScorerConfigError):
            scorers_validate([bad])


@pytest.mark.django_db
def test_the_api_accepts_an_experiment_scored_by_pr_tests(org_world, api_client):
    from experiments.services import dataset_create
    from tests.conftest import bearer
    from tests.experiments.factories import allow
    from tests.fixtures.pr_repo.dataset import pr_jsonl

    org = org_world.a.org
    allow(org, "mock")
    dataset, _ = dataset_create(org=org, name="mathkit", kind="pr", content=pr_jsonl(), filename="pr.jsonl")
    client = bearer(api_client, org_world.a.keys["member"])
    body = {"name": "fix", "dataset": dataset.pk, "arms": [{"provider": "mock", "model": "m", "config": {}}]}
    created = client.post("/api/v1/experiments/", {**body, "scorers": [{"type": "pr_tests"}]}, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["scorers"] == [{"type": "pr_tests"}]
    refused = client.post("/api/v1/experiments/", {**body, "scorers": [{"type": "pr_tests", "timeout_seconds": -1}]},
                          format="json")
    assert refused.status_code == 400 and "timeout_seconds" in refused.json()["error"]["message"]
