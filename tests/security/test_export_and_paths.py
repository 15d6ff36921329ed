"""CSV export cells cannot become spreadsheet formulas; `pr` rows cannot name files outside their
repository."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from experiments.models import Case, Dataset
from tests.conftest import bearer
from tests.leaderboards.factories import make_run, scored

pytestmark = pytest.mark.django_db

FORMULAS = ["=HYPERLINK(\"http://evil.test\",\"click\")", "+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0",
            "@SUM(1+1)*cmd|' /C calc'!A0", "\t=1+1", "\r=1+1"]


def test_csv_export_defuses_formula_cells(api_client, org_world) -> None:  # type: ignore[no-untyped-def]
    world = make_run(org_world.a.org, arms=["mock:a"], n_cases=len(FORMULAS) + 1, outcome=lambda a, c, s: scored(1.0))
    for case, formula in zip(world.cases, FORMULAS, strict=False):
        Case.objects.filter(pk=case.pk).update(case_id=formula)
    response = bearer(api_client, org_world.a.keys["viewer"]).get(f"/api/v1/runs/{world.run.pk}/export/?format=csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    exported = sorted(row["case"] for row in rows)
    assert sorted(["'" + f for f in FORMULAS] + [world.cases[-1].case_id]) == exported
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "@", "\t", "\r")), value
            assert not value.startswith("-") or value.lstrip("-").replace(".", "", 1).isdigit(), value
    # JSON keeps the text as it is: only spreadsheets read formulas.
    data = json.loads(b"".join(bearer(api_client, org_world.a.keys["viewer"]).get(
        f"/api/v1/runs/{world.run.pk}/export/?format=json").streaming_content))
    assert FORMULAS[0] in {row["case"] for row in data}


def pr_row(case_id: str, files: dict, tests: dict | None = None) -> dict:
    row = {"id": case_id, "instruction": "fix it", "repo": {"files": files}}
    if tests is not None:
        row["tests"] = tests
    return row


@pytest.mark.parametrize("path", ["../../x", "../x", "a/../../x", "/etc/passwd", "/tmp/x", "~/x", "C:\\x",
                                  "a\\..\\x", "a/\x00b", "", "  "])
def test_pr_rows_refuse_paths_outside_the_repository(api_client, org_world, path) -> None:  # type: ignore[no-untyped-def]
    rows = [pr_row("ok", {"src/a.py": "x = 1\n"}, {"tests/test_a.py": "def test(): pass\n"}),
            pr_row("bad-files", {path: "x"}),
            pr_row("bad-tests", {"src/a.py": "x"}, {path: "x"})]
    content = "\n".join(json.dumps(r) for r in rows).encode()
    response = bearer(api_client, org_world.a.keys["member"]).post(
        "/api/v1/datasets/", {"file": SimpleUploadedFile("pr.jsonl", content), "name": "pr", "kind": "pr"},
        format="multipart")
    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert error["type"] == "validation_error"
    assert {(d["line"], d["field"]) for d in error["details"]} == {(2, "repo.files"), (3, "tests")}
    assert not Dataset.objects.exists()


def test_pr_rows_with_nested_relative_paths_are_accepted(api_client, org_world) -> None:  # type: ignore[no-untyped-def]
    content = json.dumps(pr_row("ok", {"pkg/sub/mod.py": "x", "./README.md": "r", "a..b/c": "y"},
                                {"tests/unit/test_mod.py": "t"})).encode()
    response = bearer(api_client, org_world.a.keys["member"]).post(
        "/api/v1/datasets/", {"file": SimpleUploadedFile("pr.jsonl", content), "name": "pr", "kind": "pr"},
        format="multipart")
    assert response.status_code == 201, response.json()
