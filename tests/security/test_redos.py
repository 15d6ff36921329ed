"""Members' regular expressions cannot freeze a process: the `regex` engine with a time limit,
over a capped length of text; a match that runs out of time scores 0 with its reason. The same
holds for the `pattern` keywords of a JSON schema."""

from __future__ import annotations

import json

import pytest

from evaluation.scorers import JsonSchemaScorer, RegexScorer, ScoreInput, ScorerConfigError, scorer_build

# Catastrophic backtracking that the `regex` engine, too, cannot shortcut.
REDOS_CORPUS = [
    (r"^(a|a)+$", "a" * 40 + "!"),
    (r"^(a|aa)+$", "a" * 60 + "!"),
    (r"^(\w|\w)+$", "x" * 40 + "!"),
]


@pytest.fixture(autouse=True)
def _short_timeout(settings):  # type: ignore[no-untyped-def]
    settings.BENCHHUB_REGEX_TIMEOUT_S = 0.05


@pytest.mark.parametrize(("pattern", "text"), REDOS_CORPUS)
@pytest.mark.parametrize("full_match", [False, True])
def test_a_runaway_pattern_times_out_and_scores_zero(pattern, text, full_match) -> None:  # type: ignore[no-untyped-def]
    result = RegexScorer(pattern=pattern, full_match=full_match).score(ScoreInput(output=text))
    assert result.value == 0.0 and result.passed is False
    assert result.details["reason"].startswith("timed out")


def test_the_scanned_length_is_capped(settings) -> None:  # type: ignore[no-untyped-def]
    settings.BENCHHUB_REGEX_MAX_SCAN_CHARS = 1000
    scorer = RegexScorer(pattern="NEEDLE")
    assert scorer.score(ScoreInput(output="x" * 999 + "NEEDLE")).passed is False
    assert scorer.score(ScoreInput(output="x" * 994 + "NEEDLE")).passed is True


def test_ordinary_patterns_still_score() -> None:
    assert RegexScorer(pattern=r"\d+", flags="i").score(ScoreInput(output="answer: 42")).details["match"] == "42"
    assert RegexScorer(pattern=r"paris", flags="i", full_match=True).score(ScoreInput(output=" Paris ")).passed


def test_invalid_and_oversized_patterns_are_refused(settings) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ScorerConfigError, match="invalid pattern"):
        scorer_build({"type": "regex", "pattern": "(unclosed"})
    with pytest.raises(ScorerConfigError, match="longer than"):
        scorer_build({"type": "regex", "pattern": "a" * (settings.BENCHHUB_REGEX_MAX_PATTERN_CHARS + 1)})


@pytest.mark.parametrize(("pattern", "text"), REDOS_CORPUS)
def test_schema_patterns_are_bounded_too(pattern, text) -> None:  # type: ignore[no-untyped-def]
    scorer = JsonSchemaScorer(schema={"type": "object", "properties": {"a": {"type": "string", "pattern": pattern}},
                                      "patternProperties": {pattern: {"type": "string"}}})
    result = scorer.score(ScoreInput(output=json.dumps({"a": text, text: "v"})))
    assert result.details["schema_valid"] is False
    assert any("took longer" in e for e in result.details["schema_errors"])
