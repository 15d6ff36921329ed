"""The `json_schema` scorer reads no file and fetches no URL: only local `#...` references,
a registry that refuses every retrieval, and a capped size and depth, refused when the
experiment is created (a `validation_error`), not when the attempts are scored."""

from __future__ import annotations

import pytest

from evaluation.scorers import JsonSchemaScorer, ScoreInput, ScorerConfigError, scorers_validate
from tests.conftest import bearer
from tests.experiments.factories import allow, make_dataset, mock_arm

pytestmark = pytest.mark.django_db

REF_CORPUS = [
    "file:///etc/passwd",
    "file:///etc/hostname#/definitions/x",
    "http://169.254.169.254/latest/meta-data/",
    "http://127.0.0.1:6379/",
    "https://example.com/schema.json",
    "//internal.example/schema.json",        # scheme-relative
    "other.json",                              # relative to the schema's own (unset or remote) id
    "../../etc/passwd",
    "/etc/passwd",
    "urn:uuid:deadbeef-1234-5678-9abc-def012345678",
]


def schema_with_ref(ref: str, keyword: str = "$ref") -> dict:
    return {"type": "object", "properties": {"a": {keyword: ref}}}


@pytest.mark.parametrize("ref", REF_CORPUS)
@pytest.mark.parametrize("keyword", ["$ref", "$dynamicRef", "$recursiveRef"])
def test_non_local_references_are_refused(ref, keyword) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ScorerConfigError, match="only local references"):
        scorers_validate([{"type": "json_schema", "schema": schema_with_ref(ref, keyword)}])


def test_a_file_is_never_read_through_a_reference(tmp_path) -> None:  # type: ignore[no-untyped-def]
    secret = tmp_path / "secret.json"
    secret.write_text('{"const": "TOP-SECRET-FILE-CONTENT"}')
    with pytest.raises(ScorerConfigError):
        JsonSchemaScorer(schema=schema_with_ref(secret.as_uri()))


def test_local_references_still_work() -> None:
    schema = {"$defs": {"n": {"type": "integer"}}, "type": "object", "properties": {"a": {"$ref": "#/$defs/n"}},
              "required": ["a"]}
    scorer = JsonSchemaScorer(schema=schema)
    assert scorer.score(ScoreInput(output='{"a": 3}')).details["schema_valid"] is True
    assert scorer.score(ScoreInput(output='{"a": "x"}')).details["schema_valid"] is False


def test_a_remote_id_does_not_make_a_local_reference_fetch() -> None:
    """`$id` moves the base URI; a `#` reference then names the schema itself, never a download."""
    schema = {"$id": "http://127.0.0.1:1/base.json", "$defs": {"n": {"type": "integer"}},
              "properties": {"a": {"$ref": "#/$defs/n"}}}
    result = JsonSchemaScorer(schema=schema).score(ScoreInput(output='{"a": 1}'))
    assert result.details["schema_valid"] is True


def test_a_dangling_local_reference_scores_zero_instead_of_crashing() -> None:
    scorer = JsonSchemaScorer(schema={"properties": {"a": {"$ref": "#/$defs/missing"}}})
    result = scorer.score(ScoreInput(output='{"a": 1}'))
    assert result.details["schema_valid"] is False and "unresolvable" in result.details["schema_errors"][0]


def test_schema_size_and_depth_are_capped(settings) -> None:  # type: ignore[no-untyped-def]
    deep: dict = {"type": "object"}
    for _ in range(settings.BENCHHUB_SCHEMA_MAX_DEPTH + 5):
        deep = {"type": "object", "properties": {"x": deep}}
    with pytest.raises(ScorerConfigError, match="deeper"):
        JsonSchemaScorer(schema=deep)
    big = {"enum": ["x" * 1000] * (settings.BENCHHUB_SCHEMA_MAX_CHARS // 1000 + 1)}
    with pytest.raises(ScorerConfigError, match="characters"):
        JsonSchemaScorer(schema=big)


def test_experiment_creation_refuses_a_remote_reference(api_client, org_world) -> None:  # type: ignore[no-untyped-def]
    allow(org_world.a.org, "mock")
    dataset = make_dataset(org_world.a.org, 2)
    client = bearer(api_client, org_world.a.keys["member"])
    body = {"name": "e", "dataset": dataset.pk, "arms": [mock_arm("a")],
            "scorers": [{"type": "json_schema", "schema": schema_with_ref("file:///etc/passwd")}]}
    response = client.post("/api/v1/experiments/", body, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "validation_error" and "only local references" in error["message"]
