"""The data_cleaning scorer: cell-level repairs, corruption, drift, uniqueness, parse errors, auditability."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from evaluation.cleaning import answer_parse, case_read
from evaluation.scorers import Score, ScoreInput, ScorerConfigError, scorer_build, scorers_validate
from evaluation.services import scores_compute, scoring_plan_build
from experiments.builders import CleaningConfig, data_cleaning_rows

CLEAN = "id,name,age,city\n" + "".join(
    f"{i},{name},{age},{city}\n"
    for i, (name, age, city) in enumerate(
        [("Ann", 34, "Oslo"), ("Bob", 41, "Rome"), ("Cid", 29, "Lima"), ("Dee", 52, "Kyiv"), ("Eve", 38, "Pune"),
         ("Fay", 45, "Bern"), ("Gus", 27, "Oslo"), ("Hal", 61, "Rome"), ("Ida", 33, "Lima"), ("Jon", 48, "Kyiv"),
         ("Kim", 36, "Pune"), ("Lou", 55, "Bern")],
        start=1,
    )
)


def built_case(**rates: float) -> dict[str, Any]:
    rows = data_cleaning_rows(clean_csv=CLEAN, config=CleaningConfig(rates=rates, seed=2, rows_per_case=12))
    return rows[0]


def run(case: dict[str, Any], output: str, **options: Any) -> Score:
    return scorer_build({"type": "data_cleaning", **options}).score(ScoreInput(output=output, case=case))


def table(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def as_csv(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


ALL = {"accuracy": 0.08, "completeness": 0.08, "consistency": 0.08, "uniqueness": 0.2}


def test_the_clean_table_scores_f1_one_and_no_corruption():
    case = built_case(**ALL)
    assert len(case["errors"]) > 4  # the builder injected errors of several dimensions
    result = run(case, f"```csv\n{case['clean']}```")
    assert result.value == 1.0 and result.passed
    d = result.details
    assert (d["precision"], d["recall"], d["f1"], d["corruption_rate"]) == (1.0, 1.0, 1.0, 0.0)
    assert d["drift"] == 0.0
    assert set(d["by_dimension"]) == {"accuracy", "completeness", "consistency", "uniqueness"}
    assert all(v["recall"] == 1.0 for v in d["by_dimension"].values())
    assert d["by_difficulty"] == {"medium": {"errors": d["errors"], "repaired": d["errors"], "recall": 1.0}}


def test_the_dirty_table_returned_unchanged_repairs_nothing_and_corrupts_nothing():
    case = built_case(**ALL)
    result = run(case, case["dirty"])
    d = result.details
    assert (result.value, result.passed, d["recall"], d["precision"], d["corruption_rate"]) == (0.0, False, 0.0, 0.0, 0.0)
    assert d["changed"] == 0 and d["auditability"] is None


def test_a_half_repair_that_breaks_one_correct_cell_scores_partial_f1_with_corruption():
    case = built_case(accuracy=0.1, completeness=0.1)
    errors = case["errors"]
    assert len(errors) >= 4 and all(e["column"] != "*" for e in errors)
    dirty, clean = table(case["dirty"]), table(case["clean"])
    header, answer = dirty[0], [list(r) for r in dirty]
    fixed = errors[: len(errors) // 2]
    for e in fixed:  # no duplicates here, so dirty row r is clean row r
        j = header.index(e["column"])
        answer[e["row"] + 1][j] = clean[e["row"] + 1][j]
    touched = {(e["row"], e["column"]) for e in errors}
    row, column = next((r, c) for r in range(len(answer) - 1) for c in header if (r, c) not in touched)
    answer[row + 1][header.index(column)] = "BROKEN"
    result = run(case, as_csv(answer))
    d = result.details
    repairs = len(fixed)
    assert d["repaired"] == repairs and d["changed"] == repairs + 1
    assert d["precision"] == pytest.approx(repairs / (repairs + 1))
    assert d["recall"] == pytest.approx(repairs / len(errors))
    assert 0 < result.value < 1 and result.value == d["f1"]
    assert d["corruption_rate"] == pytest.approx(1 / d["correct_cells"]) and d["corruption_rate"] > 0
    assert d["corrupted_cells"] == [{"row": row, "column": column, "expected": clean[row + 1][header.index(column)],
                                     "got": "BROKEN"}]
    assert not result.passed


def test_a_left_in_duplicate_counts_against_uniqueness():
    case = built_case(uniqueness=0.3)
    duplicates = [e["row"] for e in case["errors"] if e["column"] == "*"]
    assert len(duplicates) >= 2 and all(e["dimension"] == "uniqueness" for e in case["errors"])
    dirty = table(case["dirty"])
    kept = duplicates[0]  # drop every duplicate but the first
    answer = [dirty[0]] + [r for i, r in enumerate(dirty[1:]) if i not in duplicates or i == kept]
    result = run(case, as_csv(answer))
    d = result.details
    assert d["by_dimension"]["uniqueness"] == {
        "errors": len(duplicates), "repaired": len(duplicates) - 1, "recall": (len(duplicates) - 1) / len(duplicates)}
    assert d["precision"] == 1.0 and d["corruption_rate"] == 0.0  # dropping duplicates is no corruption
    assert d["recall"] < 1 and not result.passed
    assert d["rows"]["dropped"] == len(duplicates) - 1
    # Dropping an original row instead is a wrong change of each of its cells, not a repair.
    original = next(i for i in range(len(dirty) - 1) if i not in duplicates)
    wrong = [r for i, r in enumerate(dirty) if i != original + 1]
    d = run(case, as_csv(wrong)).details
    assert d["by_dimension"]["uniqueness"]["repaired"] == 0
    assert d["corrupted"] == len(dirty[0]) and d["corruption_rate"] > 0


@pytest.mark.parametrize("output", ["I could not clean this table, sorry.", "", "```\njust words\n```",
                                    "```json\n{\"id\": 1}\n```"])
def test_non_csv_text_scores_zero_with_a_parse_error(output):
    result = run(built_case(**ALL), output)
    assert (result.value, result.passed) == (0.0, False)
    assert "no CSV table" in result.details["parse_error"]
    assert result.details["f1"] == 0.0


def test_another_header_or_a_ragged_row_is_a_parse_error_with_its_line():
    case = built_case(**ALL)
    other = case["clean"].replace("id,name,age,city", "id,Name,age,city")
    result = run(case, other)
    assert result.value == 0.0 and "header" in result.details["parse_error"] and "'Name'" in result.details["parse_error"]
    ragged = "Here you go:\n```csv\nid,name,age,city\n1,Ann,34,Oslo\n2,Bob,41\n```"
    assert run(case, ragged).details["parse_error"] == "line 5: 3 fields, the header has 4"  # the answer's own line number


def test_cells_compare_after_trimming_surrounding_whitespace_only():
    case = built_case(**ALL)
    padded = "\n".join(",".join(f"  {cell} " for cell in row) for row in table(case["clean"]))
    assert run(case, padded).value == 1.0
    # Any other difference (here: letter case) is a change.
    upper = case["clean"].split("\n", 1)[0] + "\n" + case["clean"].split("\n", 1)[1].upper()
    assert run(case, upper).details["corruption_rate"] > 0


# --- A 6-row table checked by hand -------------------------------------------------------------

HAND_CASE = {
    "id": "hand",
    "clean": "id,name,age,city\n1,Ann,34,Oslo\n2,Bob,41,Rome\n3,Cid,29,Lima\n4,Dee,52,Kyiv\n5,Eve,38,Pune\n",
    # Six dirty rows: row 2 duplicates row 1.
    "dirty": "id,name,age,city\n1,Ann,340,Oslo\n2,Bob,41,\n2,Bob,41,\n3,Cid,29,LIMA\n4,Dee,52,Kyiv\n5,Eve,38,Pune\n",
    "errors": [
        {"row": 0, "column": "age", "dimension": "accuracy"},
        {"row": 1, "column": "city", "dimension": "completeness"},
        {"row": 2, "column": "*", "dimension": "uniqueness"},
        {"row": 3, "column": "city", "dimension": "consistency"},
    ],
    "difficulty": "easy",
}
HAND_ANSWER = """```csv
id,name,age,city
1,Ann,34,Oslo
2,Bob,41,Rome
2,Bob,41,
3,Cid,29,LIMA
4,Dee,52,Kyiv
5,Eve,83,Pune
```
Justification: Row 1: age 340 is a typo for 34. Filled the missing city of Bob with Rome. Changed Eve's age.
"""


def test_values_checked_by_hand_on_a_six_row_table():
    """The answer repairs the age of row 0 and the city of row 1, keeps the duplicate (row 2),
    leaves LIMA (row 3), and breaks Eve's correct age (38 -> 83, row 5).

    Error units: 3 cells + 1 duplicate row = 4. Correct cells: 5 original rows x 4 columns - 3
    error cells = 17. Repairs 2; changed units 3 (2 repairs + Eve's age).
      precision = 2/3, recall = 2/4, f1 = 2·(2/3)·(1/2) / (2/3 + 1/2) = 4/7, corruption = 1/17.
    Drift, answer (6 rows, duplicate kept) against clean (5 rows), per column:
      id (numeric) KS: ECDFs at 2 are 3/6 vs 2/5 -> 0.1 (the largest gap).
      name TVD: Ann, Cid, Dee, Eve 1/6 vs 1/5 (4 x 1/30), Bob 2/6 vs 1/5 (4/30) -> ½ · 8/30 = 2/15.
      age (numeric) KS: answer 29 34 41 41 52 83, clean 29 34 38 41 52; at 38: 2/6 vs 3/5 -> 4/15.
      city TVD: Oslo Rome Kyiv Pune 4 x 1/30, Lima 0 vs 1/5, "" 1/6, LIMA 1/6 -> ½ · 20/30 = 1/3.
      drift = (1/10 + 2/15 + 4/15 + 1/3) / 4 = 5/24.
    Auditability: "Row 1: age ..." names row 0's age (1-based row, column); "missing city ... Rome"
    names row 1's city (new value and column of an empty cell); "Changed Eve's age." names no row
    and no value -> 2/3.
    """
    result = run(HAND_CASE, HAND_ANSWER)
    d = result.details
    assert d["errors"] == 4 and d["correct_cells"] == 17
    assert (d["repaired"], d["changed"], d["corrupted"]) == (2, 3, 1)
    assert d["precision"] == pytest.approx(2 / 3)
    assert d["recall"] == pytest.approx(1 / 2)
    assert result.value == d["f1"] == pytest.approx(4 / 7)
    assert d["corruption_rate"] == pytest.approx(1 / 17)
    assert d["drift"] == pytest.approx(5 / 24)
    assert d["auditability"] == pytest.approx(2 / 3)
    assert d["by_dimension"] == {
        "accuracy": {"errors": 1, "repaired": 1, "recall": 1.0},
        "completeness": {"errors": 1, "repaired": 1, "recall": 1.0},
        "consistency": {"errors": 1, "repaired": 0, "recall": 0.0},
        "uniqueness": {"errors": 1, "repaired": 0, "recall": 0.0},
    }
    assert d["by_difficulty"] == {"easy": {"errors": 4, "repaired": 2, "recall": 0.5}}
    assert d["rows"] == {"answer": 6, "dirty": 6, "clean": 5, "dropped": 0, "inserted": 0}
    assert not result.passed  # f1 < 0.9 and a corrupted cell


def test_the_hand_table_fully_repaired_passes_and_a_lower_threshold_is_not_enough_with_corruption():
    perfect = HAND_CASE["clean"] + "\nRemoved row 3 (a duplicate of row 2); row 1 age 340 -> 34; row 2 city filled " \
                                   "with Rome; row 4 city LIMA -> Lima."
    result = run(HAND_CASE, perfect)
    assert result.value == 1.0 and result.passed
    assert result.details["auditability"] == 1.0  # every change named by its 1-based row
    # F1 4/7 clears a 0.5 threshold, but a corrupted cell still fails the attempt.
    assert not run(HAND_CASE, HAND_ANSWER, threshold=0.5).passed


def test_justification_is_the_prose_after_the_table_or_a_justification_section():
    header = case_read(HAND_CASE).header
    assert answer_parse("```csv\nid,name,age,city\n```\nI fixed row 2.", header).justification.strip() == \
        "I fixed row 2."
    before = "## Justification\nrow 2 city was empty\n\n```csv\nid,name,age,city\n```\n"
    assert "row 2 city was empty" in answer_parse(before, header).justification
    bare = "id,name,age,city\n1,Ann,34,Oslo\n\nThe age of row 1 was a typo."
    parsed = answer_parse(bare, header)
    assert parsed.rows == [["1", "Ann", "34", "Oslo"]] and parsed.justification.strip() == "The age of row 1 was a typo."


def test_a_case_that_is_no_cleaning_case_scores_zero_with_its_reason_never_a_crash():
    (key, scorer), = scoring_plan_build(specs=[{"type": "data_cleaning"}]).slow
    out = scores_compute(((key, scorer),), output="a,b\n1,2", case_kind="qa", payload={"input": "q"})
    assert out[key]["value"] == 0.0 and "data_cleaning case" in out[key]["details"]["error"]


def test_the_scorer_is_slow_and_validates_its_threshold():
    plan = scoring_plan_build(specs=[{"type": "contains"}, {"type": "data_cleaning", "threshold": 0.8}])
    assert [k for k, _ in plan.slow] == ["data_cleaning"] and [k for k, _ in plan.fast] == ["contains"]
    for bad in (1.5, -0.1, "high", True):
        with pytest.raises(ScorerConfigError):
            scorers_validate([{"type": "data_cleaning", "threshold": bad}])


@pytest.mark.django_db
def test_an_experiment_naming_data_cleaning_is_accepted(org_world):
    from experiments.services import dataset_create_cleaning, experiment_create
    from tests.experiments.factories import allow, mock_arm

    org = org_world.a.org
    allow(org, "mock")
    dataset, _ = dataset_create_cleaning(org=org, name="people", clean_csv=CLEAN, rates=ALL, rows_per_case=6)
    experiment = experiment_create(org=org, name="clean", dataset=dataset, arms=[mock_arm("a")],
                                   scorers=[{"type": "data_cleaning", "threshold": 0.8}])
    assert experiment.scorers == [{"type": "data_cleaning", "threshold": 0.8}]


def test_reliability_digests_follow_the_dirty_rows():
    d = run(HAND_CASE, HAND_ANSWER).details
    assert len(d["cells"]) == 6 and all(isinstance(c, str) and len(c) == 32 for c in d["cells"])
    dropped = run(HAND_CASE, HAND_CASE["clean"]).details["cells"]
    assert dropped[2] is None and dropped[1] == d["cells"][1]  # same repaired row, same digest
