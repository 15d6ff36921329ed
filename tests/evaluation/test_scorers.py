"""The rule scorers: value in 0..1, pass/fail, details; the registry; bad specs rejected."""

from __future__ import annotations

import pytest

from evaluation.scorers import (
    Score,
    ScoreInput,
    Scorer,
    ScorerConfigError,
    normalize_text,
    register,
    scorer_build,
    scorer_key,
    scorer_types,
    scorers_validate,
)
from evaluation.services import attempt_score_rules, scores_summarize, scoring_plan_build


def score(spec: dict, output: str, reference=None) -> Score:  # type: ignore[no-untyped-def]
    return scorer_build(spec).score(ScoreInput(output=output, reference=reference))


def test_registry_knows_the_rule_scorers():
    assert {"exact", "normalized", "contains", "regex", "numeric", "json_schema"} <= set(scorer_types())


def test_exact():
    assert score({"type": "exact"}, " Paris \n", "Paris").passed
    result = score({"type": "exact"}, "paris", "Paris")
    assert (result.value, result.passed) == (0.0, False)
    assert score({"type": "exact"}, "Lyon", ["Paris", "Lyon"]).value == 1.0


@pytest.mark.parametrize(
    ("output", "reference"),
    [("  The ANSWER is: 1,000.", "the answer is 1000"), ("Paris!", "paris"), ("3.50", "3.5"), ("a\tb\n c", "A B C")],
)
def test_normalized_folds_case_whitespace_punctuation_numbers(output, reference):
    assert score({"type": "normalized"}, output, reference).passed


def test_normalized_keeps_different_numbers_apart():
    assert not score({"type": "normalized"}, "3.51", "3.5").passed
    assert normalize_text("1,000.0 Apples!") == "1000 apples"


def test_contains_case_insensitive_by_default_and_explicit_value():
    assert score({"type": "contains"}, "The capital is PARIS.", "Paris").passed
    assert not score({"type": "contains", "case_sensitive": True}, "PARIS", "Paris").passed
    assert score({"type": "contains", "value": "ok"}, "all ok here").passed


def test_regex_search_fullmatch_flags_and_bad_pattern():
    assert score({"type": "regex", "pattern": r"\d{3}-\d{4}"}, "call 555-1234 now").details["match"] == "555-1234"
    assert not score({"type": "regex", "pattern": r"\d+", "full_match": True}, "12a").passed
    assert score({"type": "regex", "pattern": "yes", "flags": "i"}, "YES").passed
    with pytest.raises(ScorerConfigError):
        scorer_build({"type": "regex", "pattern": "(unclosed"})
    with pytest.raises(ScorerConfigError):
        scorer_build({"type": "regex"})


def test_numeric_with_tolerance():
    assert score({"type": "numeric", "tolerance": 0.01}, "The total is 3.141", "3.14").passed
    assert not score({"type": "numeric", "tolerance": 0.0001}, "3.141", "3.14").passed
    assert score({"type": "numeric", "tolerance": 0.1, "relative": True}, "about 105", 100).passed
    assert score({"type": "numeric"}, "1,234", "1234").passed
    missing = score({"type": "numeric"}, "no idea", "4")
    assert (missing.value, missing.passed, missing.details["reason"]) == (0.0, False, "no number")
    with pytest.raises(ScorerConfigError):
        scorer_build({"type": "numeric", "tolerance": -1})


SCHEMA = {"type": "object", "required": ["name", "age"], "properties": {"age": {"type": "integer"}}}


def test_json_schema_validity_schema_and_fields():
    full = score({"type": "json_schema", "schema": SCHEMA}, '```json\n{"name": "Ada", "age": 36}\n```',
                 {"name": "Ada", "age": 36})
    assert (full.value, full.passed) == (1.0, True)
    wrong_field = score({"type": "json_schema", "schema": SCHEMA}, '{"name": "Bob", "age": 36}', {"name": "Ada", "age": 36})
    assert wrong_field.details["field_match"] == 0.5 and not wrong_field.passed
    assert 0 < wrong_field.value < 1
    bad_schema = score({"type": "json_schema", "schema": SCHEMA}, 'Sure: {"name": "Ada", "age": "old"}')
    assert bad_schema.details["valid_json"] and not bad_schema.details["schema_valid"]
    assert bad_schema.value == 0.5
    not_json = score({"type": "json_schema", "schema": SCHEMA}, "no json here")
    assert (not_json.value, not_json.passed, not_json.details["valid_json"]) == (0.0, False, False)
    with pytest.raises(ScorerConfigError):
        scorer_build({"type": "json_schema", "schema": {"type": "nonsense"}})


def test_unknown_type_and_validate_names_the_index():
    with pytest.raises(ScorerConfigError, match=r"scorers\[1\]"):
        scorers_validate([{"type": "exact"}, {"type": "telepathy"}])


def test_scorer_keys_disambiguate_repeats():
    specs = [{"type": "regex", "pattern": "a"}, {"type": "exact"}, {"type": "regex", "pattern": "b"}]
    assert [scorer_key(s, i, specs) for i, s in enumerate(specs)] == ["regex#1", "exact", "regex#2"]


def test_adding_a_scorer_is_one_class_and_slow_ones_are_kept_apart(scorer_registry):
    @register
    class LengthScorer(Scorer):
        type = "test_length"

        def __init__(self, *, limit: int = 10) -> None:
            super().__init__(limit=limit)
            self.limit = limit

        def score(self, item: ScoreInput) -> Score:
            ok = len(item.output) <= self.limit
            return Score(1.0 if ok else 0.0, ok)

    @register
    class SlowScorer(LengthScorer):
        type = "test_slow"
        slow = True

    plan = scoring_plan_build(specs=[{"type": "test_length", "limit": 3}, {"type": "exact"}, {"type": "test_slow"}])
    assert [k for k, _ in plan.fast] == ["test_length", "exact"] and [k for k, _ in plan.slow] == ["test_slow"]
    scores = attempt_score_rules(plan=plan, output="abc", case_kind="qa", payload={"reference": "abc"})
    summary = scores_summarize(scores)
    assert (summary.score_value, summary.passed) == (1.0, True)
    assert scores_summarize({}).score_value is None


def test_summary_mean_and_all_passed():
    summary = scores_summarize({"a": {"value": 1.0, "passed": True}, "b": {"value": 0.5, "passed": False}})
    assert (summary.score_value, summary.passed) == (0.75, False)


@pytest.fixture
def slow_scorers(scorer_registry):  # type: ignore[no-untyped-def]
    """Stand-ins for sandboxed or evaluator scorers: marked slow, so they run queued."""

    @register
    class SlowUpper(Scorer):
        type = "test_slow_upper"
        slow = True

        def score(self, item: ScoreInput) -> Score:
            ok = item.output.isupper()
            return Score(1.0 if ok else 0.0, ok, {"scored_by": "queue"})

    @register
    class SlowBroken(Scorer):
        type = "test_slow_broken"
        slow = True

        def score(self, item: ScoreInput) -> Score:
            raise RuntimeError("sandbox unavailable")

    @register
    class SlowValidator(Scorer):
        """What the PR sandbox scorer returns: a score plus the attempt's patch and validation."""

        type = "test_slow_validator"
        slow = True

        def score(self, item: ScoreInput) -> Score:
            return Score(1.0, True, {"steps": 2}, artifacts={
                "patch": f"--- a/x\n+++ b/x\n@@ -1 +1 @@\n-{item.reference}\n+{item.output}\n",
                "validation": {"apply": {"status": "ok", "exit_code": 0}, "test": {"status": "ok", "exit_code": 0}},
                "unknown_field": "ignored",
            })


@pytest.mark.django_db(transaction=True)
def test_slow_scorers_are_left_to_the_scoring_task_and_land_on_the_attempt(org_world, settings, slow_scorers):
    from experiments.models import Attempt
    from experiments.runs import run_start
    from tests.experiments.factories import make_experiment, mock_arm, wait_for

    settings.CELERY_TASK_ALWAYS_EAGER, settings.BENCHHUB_RUNS_INLINE = True, "sync"
    experiment = make_experiment(
        org_world.a.org, cases=3, arms=[mock_arm("a", mock_response="YES")],
        scorers=[{"type": "contains", "value": "YES"}, {"type": "test_slow_upper"}],
    )
    run = wait_for(run_start(experiment=experiment))
    assert run.status == "completed" and run.message == ""
    for attempt in Attempt.objects.filter(run=run):
        assert set(attempt.scores) == {"contains", "test_slow_upper"}
        assert attempt.scores["test_slow_upper"]["details"] == {"scored_by": "queue"}
        assert (attempt.score_value, attempt.passed) == (1.0, True)


@pytest.fixture
def queued_slow_scoring(org_world, memory_broker, slow_scorers):  # type: ignore[no-untyped-def]
    """A run executed by a chunk task, its slow scoring sent to an in-memory broker nobody consumes."""
    from experiments.models import Run
    from experiments.pipeline import executor
    from experiments.runs import run_start
    from tests.experiments.factories import make_experiment, mock_arm

    experiment = make_experiment(
        org_world.a.org, cases=3, arms=[mock_arm("a", mock_response="YES")],
        scorers=[{"type": "contains", "value": "YES"}, {"type": "test_slow_upper"}, {"type": "test_slow_broken"}],
    )
    run = run_start(experiment=experiment)
    assert executor.chunk_execute(run_id=run.pk, index=0, token="lane") == "done"
    return Run.objects.get(pk=run.pk)


@pytest.mark.django_db(transaction=True)
def test_a_run_ends_only_once_its_slow_scores_have_landed(queued_slow_scoring):
    from experiments.models import Attempt, Run
    from experiments.scoring import attempts_score_slow

    run = queued_slow_scoring
    # Every call has ended, but "completed" would be a lie while the slow scores are missing.
    assert (run.status, run.done, run.total) == ("running", 3, 3)
    assert run.message == "Scoring: slow scores pending for 3 attempts."
    ids = list(Attempt.objects.filter(run=run).values_list("pk", flat=True))
    assert attempts_score_slow(attempt_ids=ids[:2]) == 2
    assert Run.objects.get(pk=run.pk).message == "Scoring: slow scores pending for 1 attempt."
    assert attempts_score_slow(attempt_ids=ids) == 1  # the two scored already are not scored again
    run = Run.objects.get(pk=run.pk)
    assert (run.status, run.message) == ("completed", "")
    attempt = Attempt.objects.get(pk=ids[0])
    # A scorer that raises scores 0 with its error rather than leaving the attempt (and run) unscored.
    assert attempt.scores["test_slow_broken"] == {
        "value": 0.0, "passed": False, "details": {"error": "RuntimeError: sandbox unavailable"}
    }
    assert attempt.scores["test_slow_upper"]["passed"] is True and attempt.passed is False


@pytest.mark.django_db(transaction=True)
def test_runs_recover_sends_lost_slow_scoring_again(queued_slow_scoring, settings):
    from django.utils import timezone

    from experiments.lifecycle import runs_recover
    from experiments.models import Attempt, Run

    run = queued_slow_scoring
    assert runs_recover(run_ids=[run.pk])["rescored"] == 0  # just sent: not lost yet
    long_ago = timezone.now() - timezone.timedelta(seconds=settings.BENCHHUB_RUN_REQUEUE_AFTER_SECONDS + 60)
    Attempt.objects.filter(run=run).update(responded_at=long_ago)
    settings.CELERY_TASK_ALWAYS_EAGER = True  # the resent scoring runs here and now
    assert runs_recover(run_ids=[run.pk])["rescored"] == 3
    assert Run.objects.get(pk=run.pk).status == "completed"


@pytest.mark.django_db(transaction=True)
def test_a_slow_scorers_artifacts_land_on_the_attempt(org_world, settings, slow_scorers):
    from experiments.models import Attempt
    from experiments.runs import run_start
    from tests.experiments.factories import make_experiment, mock_arm, wait_for

    settings.CELERY_TASK_ALWAYS_EAGER, settings.BENCHHUB_RUNS_INLINE = True, "sync"
    experiment = make_experiment(org_world.a.org, cases=2, arms=[mock_arm("a", mock_response="NEW")],
                                 scorers=[{"type": "test_slow_validator"}])
    run = wait_for(run_start(experiment=experiment))
    assert run.status == "completed"
    attempts = list(Attempt.objects.filter(run=run).select_related("task_instance__case"))
    assert len(attempts) == 2
    for attempt in attempts:
        reference = attempt.task_instance.case.payload["reference"]
        assert attempt.patch == f"--- a/x\n+++ b/x\n@@ -1 +1 @@\n-{reference}\n+NEW\n"
        assert attempt.validation == {"apply": {"status": "ok", "exit_code": 0}, "test": {"status": "ok", "exit_code": 0}}
        assert attempt.validated_at is not None and attempt.responded_at <= attempt.validated_at
        assert attempt.scores["test_slow_validator"] == {"value": 1.0, "passed": True, "details": {"steps": 2}}


def test_test_scorers_are_unregistered_after_their_test():
    # The scorers the tests above registered (through `scorer_registry`) are gone again.
    assert not [t for t in scorer_types() if t.startswith("test_")]
