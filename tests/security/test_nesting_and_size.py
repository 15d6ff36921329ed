"""Odd input is a 400 (or 413) with a clear error, never a 500: the nesting and size corpus.

JSON nested 200,000 deep (a request body, also to the unauthenticated auth/token/; a JSONL line;
a CSV cell), a CSV cell over the csv module's 131,072-character limit, ids past a bigint in the
query string, an unknown `mock_error_type`, and uploads past the size limit (counted while they
stream in). The dashboard shows the same problems as form errors, not an HTML 500.
"""

from __future__ import annotations

import csv
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.files.uploadhandler import FileUploadHandler

from experiments.models import Dataset
from tests.conftest import bearer
from tests.experiments.factories import allow, jsonl, make_dataset, make_unstarted_run, mock_arm, qa_rows

pytestmark = pytest.mark.django_db

DEEP = 200_000


def deep_json(depth: int) -> str:
    return "[" * depth + "]" * depth


def deep_object(depth: int) -> str:
    return '{"a": ' * depth + "1" + "}" * depth


@pytest.fixture
def member(api_client, org_world):  # type: ignore[no-untyped-def]
    allow(org_world.a.org, "mock")
    return bearer(api_client, org_world.a.keys["member"])


def upload(client, content: bytes, filename: str = "d.jsonl", kind: str = "qa"):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/datasets/", {"file": SimpleUploadedFile(filename, content), "name": "n", "kind": kind},
                       format="multipart")


def assert_validation_error(response, *, status: int = 400) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.content[:500]
    error = response.json()["error"]
    assert error["type"] == ("validation_error" if status == 400 else "payload_too_large")
    return error


# --- request bodies ----------------------------------------------------------------------------

@pytest.mark.parametrize("body", [deep_json(DEEP), deep_object(DEEP), deep_json(1000), deep_object(100)])
def test_a_deeply_nested_body_is_a_400(member, body) -> None:  # type: ignore[no-untyped-def]
    response = member.post("/api/v1/experiments/", body, content_type="application/json")
    assert "nested" in assert_validation_error(response)["message"]


@pytest.mark.parametrize("body", [deep_json(DEEP), deep_object(DEEP)])
def test_a_deeply_nested_body_to_the_unauthenticated_token_endpoint_is_a_400(api_client, db, body) -> None:  # type: ignore[no-untyped-def]
    response = api_client.post("/api/v1/auth/token/", body, content_type="application/json")
    assert_validation_error(response)


def test_an_ordinary_body_still_parses(member, org_world) -> None:  # type: ignore[no-untyped-def]
    dataset = make_dataset(org_world.a.org, 2)
    body = {"name": "e", "dataset": dataset.pk, "arms": [mock_arm("a")], "scorers": [{"type": "exact"}]}
    assert member.post("/api/v1/experiments/", body, format="json").status_code == 201


def test_depth_is_counted_without_recursion() -> None:
    from benchhub.api.parsers import json_depth

    assert json_depth(json.loads(deep_json(900))) == 900
    assert json_depth({"a": [1, {"b": []}]}) == 4 and json_depth(7) == 0


# --- dataset files -----------------------------------------------------------------------------

def test_a_jsonl_line_nested_200k_deep_is_a_line_numbered_400(member) -> None:  # type: ignore[no-untyped-def]
    content = jsonl(qa_rows(2)) + deep_json(DEEP).encode() + b"\n"
    error = assert_validation_error(upload(member, content))
    assert error["details"][0]["line"] == 3 and "nested" in error["details"][0]["message"]


def test_a_jsonl_line_nested_past_the_limit_is_refused_too(member) -> None:  # type: ignore[no-untyped-def]
    row = json.dumps({"id": "x", "input": "q", "reference": "r", "metadata": json.loads(deep_object(200))})
    error = assert_validation_error(upload(member, row.encode() + b"\n"))
    assert error["details"][0]["line"] == 1


def _csv(rows: list[list[str]]) -> bytes:
    import io

    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue().encode()


def test_a_csv_cell_over_131072_characters_is_a_line_numbered_400(member) -> None:  # type: ignore[no-untyped-def]
    content = _csv([["id", "input", "reference"], ["1", "q", "r"], ["2", "x" * 131_073, "r"]])
    error = assert_validation_error(upload(member, content, filename="d.csv"))
    assert error["details"][0]["line"] == 3 and "field larger than field limit" in error["details"][0]["message"]


def test_a_csv_json_cell_nested_5000_deep_is_a_400(member) -> None:  # type: ignore[no-untyped-def]
    content = _csv([["id", "input", "reference", "metadata"], ["1", "q", "r", deep_object(5_000)]])
    error = assert_validation_error(upload(member, content, filename="d.csv"))
    assert error["details"][0]["field"] == "metadata"


class Recorder(FileUploadHandler):
    """Sits after the size limit and counts what reached it."""

    received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        Recorder.received += len(raw_data)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None


def test_an_oversized_upload_is_refused_while_it_streams_in(member, settings) -> None:  # type: ignore[no-untyped-def]
    settings.BENCHHUB_DATASET_MAX_BYTES = 100_000
    assert settings.FILE_UPLOAD_HANDLERS[0] == "experiments.limits.UploadSizeLimit"
    settings.FILE_UPLOAD_HANDLERS = [settings.FILE_UPLOAD_HANDLERS[0], f"{__name__}.Recorder",
                                     *settings.FILE_UPLOAD_HANDLERS[1:]]
    Recorder.received = 0
    content = jsonl(qa_rows(1)) * 20_000  # ~1 MB
    assert_validation_error(upload(member, content), status=413)
    # Handlers after the limit saw at most the limit plus one chunk: the file was never held whole.
    assert Recorder.received <= 100_000 + 64 * 1024 < len(content)
    assert not Dataset.objects.exists()


# --- query strings and knobs -------------------------------------------------------------------

@pytest.mark.parametrize("value", ["99999999999999999999999", str(2**63), "²"])
def test_huge_or_odd_ids_in_the_query_string_are_a_400(member, org_world, value) -> None:  # type: ignore[no-untyped-def]
    run = make_unstarted_run(org_world.a.org)
    assert_validation_error(member.get(f"/api/v1/runs/?experiment={value}"))
    assert_validation_error(member.get(f"/api/v1/runs/{run.pk}/attempts/?arm={value}"))
    assert member.get(f"/api/v1/runs/?experiment={run.experiment_id}").json()["count"] == 1


def test_an_unknown_mock_error_type_is_a_400(member, org_world) -> None:  # type: ignore[no-untyped-def]
    chat = member.post("/api/v1/chat/", {"provider": "mock", "model": "m", "messages": [{"role": "user", "content": "x"}],
                                         "config": {"mock_failure_rate": 1, "mock_error_type": "no_such_type"}},
                       format="json")
    assert "mock_error_type" in assert_validation_error(chat)["message"]
    dataset = make_dataset(org_world.a.org, 1)
    body = {"name": "e", "dataset": dataset.pk, "arms": [mock_arm("a", mock_error_type="nope")]}
    assert "mock_error_type" in assert_validation_error(member.post("/api/v1/experiments/", body, format="json"))["message"]


# --- the dashboard -----------------------------------------------------------------------------

@pytest.mark.parametrize(("filename", "content", "status"), [
    ("d.jsonl", deep_json(DEEP).encode() + b"\n", 400),
    ("d.csv", _csv([["id", "input", "reference"], ["1", "x" * 131_073, "r"]]), 400),
    ("d.jsonl", jsonl(qa_rows(1)) * 40_000, 413),
])
def test_the_dashboard_shows_bad_uploads_as_form_errors(client, org_world, settings, filename, content, status) -> None:  # type: ignore[no-untyped-def]
    settings.BENCHHUB_DATASET_MAX_BYTES = 1_000_000
    assert client.login(email="member@org-a.test", password="pw-member")
    response = client.post("/datasets/", {"name": "qa", "kind": "qa", "file": SimpleUploadedFile(filename, content)})
    assert response.status_code == status
    page = response.content.decode()
    assert "<form" in page and ("line" in page.lower() or "limit" in page)
    assert not Dataset.objects.exists()
