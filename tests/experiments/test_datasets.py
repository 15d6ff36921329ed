"""Dataset uploads through the API: versions, checksums, every bad-upload case, limits, roles."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from experiments.models import Case, Dataset
from tests.conftest import bearer
from tests.experiments.factories import jsonl, qa_rows

pytestmark = pytest.mark.django_db


def upload(client, content: bytes, *, name: str = "qa", kind: str = "qa", filename: str = "d.jsonl"):  # type: ignore[no-untyped-def]
    return client.post(
        "/api/v1/datasets/",
        {"file": SimpleUploadedFile(filename, content), "name": name, "kind": kind},
        format="multipart",
    )


@pytest.fixture
def member(api_client, org_world):  # type: ignore[no-untyped-def]
    return bearer(api_client, org_world.a.keys["member"])


def test_jsonl_upload_creates_a_version_with_checksum(member, org_world):
    response = upload(member, jsonl(qa_rows(3)))
    assert response.status_code == 201, response.json()
    body = response.json()
    assert {k: body[k] for k in ("name", "version", "kind", "rows")} == {"name": "qa", "version": 1, "kind": "qa", "rows": 3}
    assert len(body["checksum"]) == 64
    assert list(Case.objects.filter(dataset_id=body["id"]).values_list("case_id", flat=True)) == ["case-0", "case-1", "case-2"]
    assert member.get(f"/api/v1/datasets/{body['id']}/").json()["checksum"] == body["checksum"]


def test_same_content_is_the_same_version_and_new_content_a_new_one(member):
    first = upload(member, jsonl(qa_rows(3))).json()
    # Same rows, different formatting and key order: still the same content.
    reformatted = b"\n".join(
        b'{"reference": "%d", "input": "What is %d + 1?",   "id": "case-%d"}' % (i + 1, i, i) for i in range(3)
    )
    again = upload(member, reformatted)
    assert again.status_code == 200
    assert again.json()["id"] == first["id"] and again.json()["version"] == 1
    second = upload(member, jsonl(qa_rows(4)))
    assert second.status_code == 201 and second.json()["version"] == 2
    assert Dataset.objects.filter(name="qa").count() == 2


def test_csv_upload(member):
    content = b"id,input,reference,tags\nq1,What is 2+2?,4,\"[\"\"math\"\"]\"\nq2,Capital of Peru?,Lima,\n"
    response = upload(member, content, filename="d.csv")
    assert response.status_code == 201, response.json()
    assert response.json()["rows"] == 2
    case = Case.objects.get(dataset_id=response.json()["id"], case_id="q1")
    assert case.payload == {"id": "q1", "input": "What is 2+2?", "reference": "4", "tags": ["math"]}


def _errors(response) -> list[dict]:  # type: ignore[no-untyped-def]
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["type"] == "validation_error"
    assert Dataset.objects.count() == 0 and Case.objects.count() == 0, "a rejected file must store nothing"
    return error["details"]


def test_wrong_columns_csv(member):
    details = _errors(upload(member, b"id,question,answer\n1,a,b\n", filename="d.csv"))
    assert {"line": 1, "field": "input", "message": "column is missing"} in details
    assert {"line": 1, "field": "reference", "message": "column is missing"} in details
    assert {"line": 1, "field": "question", "message": "is not a column of a qa dataset"} in details


def test_wrong_fields_jsonl_reports_every_row(member):
    rows = jsonl([{"id": "a", "input": "x", "reference": "y"}, {"id": "b", "prompt": "x"}, {"input": "x", "reference": ""}])
    details = _errors(upload(member, rows))
    assert {"line": 2, "field": "input", "message": "is required"} in details
    assert {"line": 2, "field": "prompt", "message": "is not a field of a qa case"} in details
    assert {"line": 3, "field": "id", "message": "is required"} in details
    assert {"line": 3, "field": "reference", "message": "must not be empty"} in details


def test_bad_json_on_line_n(member):
    content = jsonl(qa_rows(2)) + b'{"id": "x", "input": "oops"\n' + jsonl(qa_rows(1, prefix="late"))
    details = _errors(upload(member, content))
    assert len(details) == 1
    assert details[0]["line"] == 3 and details[0]["message"].startswith("invalid JSON")


def test_empty_file(member):
    details = _errors(upload(member, b""))
    assert details == [{"line": 1, "field": "", "message": "the file is empty"}]
    assert _errors(upload(member, b"\n  \n"))[0]["message"] == "the file is empty"


def test_duplicate_ids(member):
    rows = [*qa_rows(2), {"id": "case-0", "input": "again", "reference": "1"}]
    details = _errors(upload(member, jsonl(rows)))
    assert details == [{"line": 3, "field": "id", "message": "duplicate id 'case-0' (first on line 1)"}]


def test_too_large_by_bytes_and_by_rows(member, settings):
    settings.BENCHHUB_DATASET_MAX_BYTES = 200
    response = upload(member, jsonl(qa_rows(20)))
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "payload_too_large"
    settings.BENCHHUB_DATASET_MAX_BYTES = 10_000_000
    settings.BENCHHUB_DATASET_MAX_ROWS = 5
    response = upload(member, jsonl(qa_rows(6)))
    assert response.status_code == 413
    assert Dataset.objects.count() == 0


def test_not_utf8_and_unknown_kind(member):
    assert _errors(upload(member, b"\xff\xfe\x00bad"))[0]["message"].startswith("the file is not UTF-8")
    response = upload(member, jsonl(qa_rows(1)), kind="poetry")
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("kind", "row"),
    [
        ("pr", {"id": "p1", "instruction": "Fix the bug", "repo": {"files": {"a.py": "x = 1\n"}},
                "tests": {"test_a.py": "def test(): pass\n"}, "reference_patch": "--- a/a.py\n+++ b/a.py\n"}),
        ("data_cleaning", {"id": "d1", "dirty": "a,b\n1,\n", "clean": "a,b\n1,2\n",
                           "errors": [{"row": 0, "column": "b", "dimension": "completeness"}]}),
        ("rag", {"id": "r1", "question": "Who?", "reference": "Ada", "index": 3, "evidence": ["doc-1"]}),
    ],
)
def test_other_kinds(member, kind, row):
    response = upload(member, jsonl([row]), kind=kind, name=kind)
    assert response.status_code == 201, response.json()


def test_kind_specific_checks(member):
    rows = [{"id": "d1", "dirty": "a,b\n1,\n", "clean": "x,y\n1,2\n", "errors": [{"row": 0}]}]
    details = _errors(upload(member, jsonl(rows), kind="data_cleaning"))
    assert {(d["field"], d["line"]) for d in details} == {("dirty", 1), ("errors", 1)}


def test_viewer_cannot_upload_and_other_org_cannot_see(api_client, org_world):
    viewer = bearer(api_client, org_world.a.keys["viewer"])
    assert upload(viewer, jsonl(qa_rows(1))).status_code == 403
    member = bearer(api_client, org_world.a.keys["member"])
    dataset_id = upload(member, jsonl(qa_rows(1))).json()["id"]
    other = bearer(api_client, org_world.b.keys["owner"])
    assert other.get(f"/api/v1/datasets/{dataset_id}/").status_code == 404
    assert other.get("/api/v1/datasets/").json()["count"] == 0


def test_dashboard_upload_page_shows_line_errors(client, org_world):
    client.force_login(org_world.a.users["member"])
    assert client.get("/datasets/").status_code == 200
    bad = client.post("/datasets/", {"name": "qa", "kind": "qa", "file": SimpleUploadedFile("d.jsonl", b'{"id": 1}\n{bad\n')})
    assert bad.status_code == 400
    assert b"invalid JSON" in bad.content and Dataset.objects.count() == 0
    good = client.post("/datasets/", {"name": "qa", "kind": "qa", "file": SimpleUploadedFile("d.jsonl", jsonl(qa_rows(2)))})
    assert good.status_code == 302
    assert b"qa" in client.get("/datasets/").content and Dataset.objects.count() == 1
