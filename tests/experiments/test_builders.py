"""PR cases from a git commit range; data-cleaning cases with injected errors and ground truth."""

from __future__ import annotations

import csv
import io
import subprocess
from pathlib import Path

import pytest

from experiments.builders import CleaningConfig, data_cleaning_rows, pr_rows_from_git
from experiments.models import Case
from experiments.services import dataset_create_cleaning, dataset_create_from_git


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "config", "user.email", "t@example.com")
    git(tmp_path, "config", "user.name", "T")
    (tmp_path / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    (tmp_path / "logo.bin").write_bytes(b"\x00\x01binary")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "Initial")
    (tmp_path / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_calc.py").write_text("from calc import add\n\ndef test_add():\n    assert add(2, 2) == 4\n")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "Fix add\n\nIt subtracted.")
    (tmp_path / "calc.py").write_text("def add(a, b):\n    return a + b\n\n\ndef mul(a, b):\n    return a * b\n")
    git(tmp_path, "commit", "-qam", "Add mul")
    return tmp_path


def test_pr_rows_one_case_per_commit_from_the_parent_tree(repo: Path):
    rows = pr_rows_from_git(repo=repo, rev_range="HEAD~2..HEAD")
    assert [r["instruction"] for r in rows] == ["Fix add\n\nIt subtracted.", "Add mul"]
    fix = rows[0]
    assert fix["repo"]["files"] == {"calc.py": "def add(a, b):\n    return a - b\n"}  # parent tree, binary left out
    assert "-    return a - b" in fix["reference_patch"] and "+    return a + b" in fix["reference_patch"]
    assert fix["tests"] == {"tests/test_calc.py": "from calc import add\n\ndef test_add():\n    assert add(2, 2) == 4\n"}
    assert fix["test_command"] == "pytest -q" and fix["metadata"]["commit"] == git(repo, "rev-parse", "HEAD~1")
    assert rows[1]["tests"] == {}


@pytest.mark.django_db
def test_pr_dataset_is_stored_and_idempotent(repo: Path, org_world):
    dataset, created = dataset_create_from_git(org=org_world.a.org, name="calc", repo=repo, rev_range="HEAD~2..HEAD")
    assert created and dataset.kind == "pr" and dataset.rows == 2 and dataset.source == "git"
    again, created_again = dataset_create_from_git(org=org_world.a.org, name="calc", repo=repo, rev_range="HEAD~2..HEAD")
    assert again.pk == dataset.pk and not created_again
    assert Case.objects.filter(dataset=dataset).count() == 2


CLEAN = "id,name,city,joined,score\n" + "\n".join(
    f"{i},Person {i},{['Oslo', 'Lima', 'Rome'][i % 3]},2024-01-{i % 28 + 1:02d},{i * 10}" for i in range(40)
) + "\n"


def test_cleaning_rows_keep_ground_truth_and_label_every_injected_error():
    config = CleaningConfig(rates={"accuracy": 0.1, "completeness": 0.1, "consistency": 0.1, "uniqueness": 0.1},
                            difficulty="medium", seed=42, rows_per_case=20)
    rows = data_cleaning_rows(clean_csv=CLEAN, config=config)
    assert len(rows) == 2
    assert rows == data_cleaning_rows(clean_csv=CLEAN, config=config)  # same seed, same cases
    assert rows != data_cleaning_rows(clean_csv=CLEAN, config=CleaningConfig(**{**config.__dict__, "seed": 7}))
    for row in rows:
        clean = list(csv.reader(io.StringIO(row["clean"])))
        dirty = list(csv.reader(io.StringIO(row["dirty"])))
        assert clean[0] == dirty[0]
        labelled = {(e["row"], e["column"]) for e in row["errors"]}
        duplicates = {e["row"] for e in row["errors"] if e["dimension"] == "uniqueness"}
        assert len(dirty) - 1 == len(clean) - 1 + len(duplicates)
        # Every cell that differs from the truth is labelled: take the duplicates out and compare.
        kept = [r for i, r in enumerate(dirty[1:]) if i not in duplicates]
        index_map = [i for i in range(len(dirty) - 1) if i not in duplicates]
        for clean_index, (truth, seen) in enumerate(zip(clean[1:], kept, strict=True)):
            for column, (a, b) in enumerate(zip(truth, seen, strict=True)):
                if a != b:
                    assert (index_map[clean_index], clean[0][column]) in labelled
        dims = {e["dimension"] for e in row["errors"]}
        assert dims <= {"accuracy", "completeness", "consistency", "uniqueness"}
    all_dims = {e["dimension"] for r in rows for e in r["errors"]}
    assert all_dims == {"accuracy", "completeness", "consistency", "uniqueness"}


def test_cleaning_rates_zero_means_clean():
    rows = data_cleaning_rows(clean_csv=CLEAN, config=CleaningConfig(rates={}, seed=1))
    assert all(r["errors"] == [] and r["dirty"] == r["clean"] for r in rows)


@pytest.mark.django_db
def test_cleaning_dataset_is_stored(org_world):
    dataset, created = dataset_create_cleaning(
        org=org_world.a.org, name="people", clean_csv=CLEAN, rates={"completeness": 0.2}, seed=3, rows_per_case=10
    )
    assert created and dataset.kind == "data_cleaning" and dataset.rows == 4
    case = Case.objects.filter(dataset=dataset).first()
    assert case.payload["errors"] and {e["dimension"] for e in case.payload["errors"]} == {"completeness"}
