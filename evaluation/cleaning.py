"""The `data_cleaning` scorer: a model's cleaned table judged cell by cell against the ground truth.

A `data_cleaning` case holds `dirty` and `clean` (CSV text), `errors` (`{row, column, dimension}`,
rows counted from 0 in the dirty table, header excluded; a duplicated row has column `*`) and an
optional `difficulty`, as `experiments.builders.data_cleaning_rows` writes them.

How an answer is read and counted (README "Scoring: data cleaning" says the same for users):
- The table is the first ```` ```csv ```` fence (or a bare fence / bare text starting at the
  header line, up to the first blank line). A missing table, a different header (cells compare
  after trimming surrounding whitespace, nothing more lenient) or a row with the wrong number of
  fields is a `parse_error`: value 0, never a crash.
- The answer's rows are aligned in order with the dirty rows (an LCS-style alignment on cell
  agreement, preferring original rows over their duplicates). An unaligned duplicate row is a
  repaired `uniqueness` error (a kept one stays an error, its cells not scored again); an
  unaligned original row is a wrong change of each of its cells; an answer row aligned with
  nothing is one wrong change. Errors may carry their own `difficulty` (default: the case's).
- Units: each error cell, and each duplicate row. An error whose dirty value equals the clean one
  after trimming (a whitespace-only injection) cannot be seen under that comparison and is treated
  as a correct cell (`unobservable_errors` counts them).
- precision = repairs / units changed; recall = repairs / error units; corruption_rate = correct
  cells the answer changed / correct cells; drift = mean over columns of the KS statistic (numeric
  columns) or the total variation distance (others) between the answer's column and the clean one.
- The justification (text after the table, or a "Justification" section) makes `auditability`:
  the share of changed units it names, by row number (0- or 1-based) and column, or by old and
  new value, within one sentence.
- `cells` keeps a short digest of each answer cell aligned with each dirty row, so the boards can
  measure how far samples of one case agree (reliability) without re-reading outputs.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats as sps

from evaluation.scorers import Score, ScoreInput, Scorer, ScorerConfigError, register

UNIQUENESS = "uniqueness"
MAX_LISTED = 20  # corrupted cells listed in details, for the attempt drill-down

_FENCE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)(?:\n[ \t]*```|\Z)", re.DOTALL)
_JUSTIFICATION = re.compile(r"^[#*\s>_-]*justifications?\b[*_:\s-]*", re.IGNORECASE | re.MULTILINE)
_ROW_MENTION = re.compile(
    r"\b(?:rows?|lines?|records?|entr(?:y|ies))\s*(?:#|no\.?|number)?\s*(\d+(?:\s*(?:,|&|and|-|–|to)\s*\d+)*)",
    re.IGNORECASE,
)
_SENTENCE = re.compile(r"(?<=[.!?;])\s+|\n+")


class CleaningParseError(ValueError):
    """The answer holds no table comparable with the case's (message for `details.parse_error`)."""


# --- reading the case and the answer -----------------------------------------------------------


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def _trim(row: list[str]) -> list[str]:
    return [cell.strip() for cell in row]


@dataclass(frozen=True)
class CleaningCase:
    header: list[str]
    dirty: list[list[str]]  # trimmed
    clean: list[list[str]]  # trimmed
    origin: list[int]  # per dirty row: its clean row, or -1 for a duplicate
    errors: dict[tuple[int, str], str]  # observable error cells -> dimension
    unobservable: int
    difficulty: str | None
    error_difficulty: dict[tuple[int, str], str] = field(default_factory=dict)


def case_read(case: dict[str, Any]) -> CleaningCase:
    """The case's tables and error labels, checked for consistency (a bad case raises ValueError)."""
    if not isinstance(case.get("dirty"), str) or not isinstance(case.get("clean"), str):
        raise ValueError("the data_cleaning scorer needs a data_cleaning case (dirty and clean CSV text)")
    dirty, clean = _rows(case["dirty"]), _rows(case["clean"])
    if not dirty or not clean or _trim(dirty[0]) != _trim(clean[0]):
        raise ValueError("the case's dirty and clean tables need the same header")
    header = _trim(dirty[0])
    dirty_body, clean_body = [_trim(r) for r in dirty[1:]], [_trim(r) for r in clean[1:]]
    difficulty = case.get("difficulty") if isinstance(case.get("difficulty"), str) else None
    duplicates: set[int] = set()
    cells: list[tuple[int, str, str, str | None]] = []
    for error in case.get("errors") or []:
        row, column, dimension = int(error["row"]), str(error["column"]), str(error["dimension"])
        if not 0 <= row < len(dirty_body):
            raise ValueError(f"error row {row} is outside the dirty table ({len(dirty_body)} rows)")
        if column == "*":
            duplicates.add(row)
        elif column not in header:
            raise ValueError(f"error column {column!r} is not in the header")
        else:
            cells.append((row, column, dimension, error.get("difficulty")))
    origin, next_clean = [], 0
    for r in range(len(dirty_body)):
        if r in duplicates:
            origin.append(-1)
        else:
            origin.append(next_clean)
            next_clean += 1
    if next_clean != len(clean_body):
        raise ValueError(f"the dirty table has {next_clean} non-duplicate rows, the clean one {len(clean_body)}")
    errors: dict[tuple[int, str], str] = {}
    error_difficulty: dict[tuple[int, str], str] = {}
    unobservable = 0
    for row, column, dimension, level in cells:
        j = header.index(column)
        if dirty_body[row][j] == clean_body[origin[row]][j]:
            unobservable += 1  # whitespace only: the same cell under the comparison
            continue
        errors[(row, column)] = dimension
        level = level if isinstance(level, str) else difficulty
        if level:
            error_difficulty[(row, column)] = level
    for row in duplicates:
        errors[(row, "*")] = UNIQUENESS
        if difficulty:
            error_difficulty[(row, "*")] = difficulty
    return CleaningCase(header, dirty_body, clean_body, origin, errors, unobservable, difficulty, error_difficulty)


@dataclass(frozen=True)
class ParsedAnswer:
    rows: list[list[str]]  # trimmed, header excluded
    justification: str


def _first_row(line: str) -> list[str]:
    try:
        return _trim(next(csv.reader([line]), []))
    except csv.Error:
        return []


def _block_rows(block: str, header: list[str], first_line: int) -> list[list[str]]:
    reader = csv.reader(io.StringIO(block))
    rows: list[list[str]] = []
    seen_header = False
    try:
        for raw in reader:
            line = first_line + reader.line_num - 1
            if not raw or (len(raw) == 1 and not raw[0].strip()):
                continue  # a blank line
            row = _trim(raw)
            if not seen_header:
                if row != header:
                    raise CleaningParseError(
                        f"line {line}: the answer's header {row} differs from the case's {header}")
                seen_header = True
                continue
            if len(row) != len(header):
                raise CleaningParseError(f"line {line}: {len(row)} fields, the header has {len(header)}")
            rows.append(row)
    except csv.Error as exc:
        raise CleaningParseError(f"line {first_line + reader.line_num - 1}: {exc}") from exc
    if not seen_header:
        raise CleaningParseError("the answer holds no CSV table")
    return rows


def _justification(before: str, after: str) -> str:
    """A "Justification" section wherever it stands, else the prose after the table."""
    text = before + "\n" + after
    heading = _JUSTIFICATION.search(text)
    return text[heading.end():] if heading else after


def answer_parse(output: str, header: list[str]) -> ParsedAnswer:
    """The answer's table (rows trimmed) and its justification; CleaningParseError when there is none."""
    text = output.replace("\r\n", "\n").replace("\r", "\n")
    fences = list(_FENCE.finditer(text))
    chosen = next((f for f in fences if f.group(1).lower() == "csv"), None)
    if chosen is None:
        chosen = next(
            (f for f in fences if f.group(1) == "" and _first_row(f.group(2).lstrip().split("\n", 1)[0]) == header),
            None,
        )
    if chosen is not None:
        first_line = text.count("\n", 0, chosen.start(2)) + 1
        rows = _block_rows(chosen.group(2), header, first_line)
        return ParsedAnswer(rows, _justification(text[: chosen.start()], text[chosen.end():]))
    lines = text.split("\n")
    start = next((i for i, line in enumerate(lines) if _first_row(line) == header), None)
    if start is None:
        same_width = next((row for row in map(_first_row, lines) if len(row) == len(header) > 1), None)
        if same_width is not None:
            raise CleaningParseError(f"the answer's header {same_width} differs from the case's {header}")
        raise CleaningParseError(f"the answer holds no CSV table with the case's {len(header)} columns")
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].strip()), len(lines))
    rows = _block_rows("\n".join(lines[start:end]), header, start + 1)
    return ParsedAnswer(rows, _justification("\n".join(lines[:start]), "\n".join(lines[end:])))


# --- alignment ---------------------------------------------------------------------------------


def align(answer: list[list[str]], case: CleaningCase) -> list[int | None]:
    """For each dirty row, the index of the answer row aligned with it (None: dropped).

    Order-preserving alignment maximising agreement: a pair scores 2 per cell where the answer
    equals the dirty or the clean value, +1 when the dirty row is an original (so of two equal
    rows the duplicate is the one left unaligned), and may pair only when at least half the cells
    agree. With no gap cost each DP row is a running maximum, computed with numpy.
    """
    m, n = len(answer), len(case.dirty)
    if m == 0 or n == 0:
        return [None] * n
    width = len(case.header)
    ans = np.array(answer, dtype=object).reshape(m, width)
    dirty = np.array(case.dirty, dtype=object).reshape(n, width)
    truth = np.array([case.clean[o] if o >= 0 else case.dirty[r] for r, o in enumerate(case.origin)],
                     dtype=object).reshape(n, width)
    agree = ((ans[:, None, :] == dirty[None, :, :]) | (ans[:, None, :] == truth[None, :, :])).sum(axis=2)
    bonus = np.array([1 if o >= 0 else 0 for o in case.origin])
    score = np.where(2 * agree >= width, 2 * agree + bonus[None, :], -1)  # -1: may not pair
    best = np.zeros((m + 1, n + 1), dtype=np.int64)
    for i in range(1, m + 1):
        take = np.where(score[i - 1] >= 0, best[i - 1, :-1] + score[i - 1], -1)
        row = np.maximum(best[i - 1, 1:], take)
        best[i, 1:] = np.maximum.accumulate(np.maximum(row, 0))
    aligned: list[int | None] = [None] * n
    i, j = m, n
    while i > 0 and j > 0:
        s = score[i - 1, j - 1]
        if s >= 0 and best[i, j] == best[i - 1, j - 1] + s:
            aligned[j - 1] = i - 1
            i, j = i - 1, j - 1
        elif best[i, j] == best[i, j - 1]:
            j -= 1
        else:
            i -= 1
    return aligned


# --- distribution drift ------------------------------------------------------------------------


def _number(value: str) -> float | None:
    try:
        x = float(value)
    except ValueError:
        return None
    return x if math.isfinite(x) else None


def column_drift(answer: list[str], clean: list[str]) -> float:
    """KS statistic for a numeric column (every non-empty clean value a number), else total variation."""
    if not answer:
        return 1.0
    filled = [v for v in clean if v != ""]
    numbers = [_number(v) for v in filled]
    if filled and all(x is not None for x in numbers):
        got = [x for x in (_number(v) for v in answer) if x is not None]
        if not got:
            return 1.0
        return float(sps.ks_2samp(got, numbers).statistic)
    got, want = Counter(answer), Counter(clean)
    # Counts over a common denominator, so equal distributions give exactly 0.
    total = sum(abs(got[v] * len(clean) - want[v] * len(answer)) for v in got.keys() | want.keys())
    return total / (2 * len(answer) * len(clean))


def table_drift(answer: list[list[str]], clean: list[list[str]], width: int) -> float:
    if not clean:
        return 0.0 if not answer else 1.0
    return float(np.mean([column_drift([r[j] for r in answer], [r[j] for r in clean]) for j in range(width)]))


# --- justification -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One changed unit: a cell of dirty row `row` (`column` "*" for a whole row), old and new value."""

    row: int | None  # dirty row (None for an answer row aligned with nothing)
    column: str
    old: str
    new: str


def _mentions(text: str, value: str) -> bool:
    return bool(value) and re.search(rf"(?<![\w.]){re.escape(value)}(?![\w])", text, re.IGNORECASE) is not None


def _row_numbers(sentence: str) -> set[int]:
    found: set[int] = set()
    for match in _ROW_MENTION.finditer(sentence):
        found.update(int(x) for x in re.findall(r"\d+", match.group(1)))
    return found


def named(change: Change, sentences: list[tuple[str, set[int]]]) -> bool:
    for text, rows in sentences:
        by_row = change.row is not None and bool({change.row, change.row + 1} & rows)
        if change.column == "*":
            if by_row:
                return True
            continue
        if by_row and _mentions(text, change.column):
            return True
        if change.old and change.new and _mentions(text, change.old) and _mentions(text, change.new):
            return True
        if not change.old and change.new and _mentions(text, change.new) and _mentions(text, change.column):
            return True
    return False


def auditability(changes: list[Change], justification: str) -> float | None:
    """Share of the changed units the justification names; None when nothing changed."""
    if not changes:
        return None
    sentences = [(s, _row_numbers(s)) for s in _SENTENCE.split(justification) if s.strip()]
    return sum(named(c, sentences) for c in changes) / len(changes)


# --- the scorer --------------------------------------------------------------------------------


def _digest(values: list[str]) -> str:
    return "".join(hashlib.blake2b(v.encode(), digest_size=4).hexdigest() for v in values)


def _split(repaired: dict[str, int], errors: dict[str, int]) -> dict[str, dict[str, Any]]:
    return {
        key: {"errors": errors[key], "repaired": repaired.get(key, 0), "recall": repaired.get(key, 0) / errors[key]}
        for key in sorted(errors)
    }


def clean_metrics(case: CleaningCase, parsed: ParsedAnswer) -> dict[str, Any]:
    """Every figure of the score's details for one parsed answer."""
    header, width = case.header, len(case.header)
    aligned = align(parsed.rows, case)
    used = {a for a in aligned if a is not None}
    repaired_by: dict[str, int] = {}
    repaired_level: dict[str, int] = {}
    changes: list[Change] = []
    repairs = corrupted = 0
    corrupted_cells: list[dict[str, Any]] = []

    def repair(row: int, column: str, old: str, new: str) -> None:
        nonlocal repairs
        repairs += 1
        key = (row, column)
        repaired_by[case.errors[key]] = repaired_by.get(case.errors[key], 0) + 1
        if key in case.error_difficulty:
            level = case.error_difficulty[key]
            repaired_level[level] = repaired_level.get(level, 0) + 1
        changes.append(Change(row, column, old, new))

    for r, (dirty_row, origin, a) in enumerate(zip(case.dirty, case.origin, aligned, strict=True)):
        if origin < 0:
            if a is None:
                repair(r, "*", "", "")
            continue
        truth = case.clean[origin]
        for j, column in enumerate(header):
            old, expected = dirty_row[j], truth[j]
            new = parsed.rows[a][j] if a is not None else None
            is_error = (r, column) in case.errors
            if new is not None and new == expected:
                if is_error:
                    repair(r, column, old, new)
                continue
            if new == old and is_error:
                continue  # an error left as it was: not repaired, not a change
            changes.append(Change(r, column, old, "" if new is None else new))
            if not is_error:
                corrupted += 1
                if len(corrupted_cells) < MAX_LISTED:
                    corrupted_cells.append({"row": r, "column": column, "expected": expected, "got": new})
    inserted = [i for i in range(len(parsed.rows)) if i not in used]
    changes += [Change(None, "*", "", ",".join(parsed.rows[i])) for i in inserted]

    n_errors = len(case.errors)
    correct_cells = sum(1 for o in case.origin if o >= 0) * width - sum(1 for k in case.errors if k[1] != "*")
    changed = len(changes)
    precision = repairs / changed if changed else (1.0 if n_errors == 0 else 0.0)
    recall = repairs / n_errors if n_errors else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    errors_by: dict[str, int] = {}
    errors_level: dict[str, int] = {}
    for key, dimension in case.errors.items():
        errors_by[dimension] = errors_by.get(dimension, 0) + 1
        if key in case.error_difficulty:
            errors_level[case.error_difficulty[key]] = errors_level.get(case.error_difficulty[key], 0) + 1
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "corruption_rate": corrupted / correct_cells if correct_cells else 0.0,
        "drift": table_drift(parsed.rows, case.clean, width),
        "by_dimension": _split(repaired_by, errors_by),
        "by_difficulty": _split(repaired_level, errors_level),
        "auditability": auditability(changes, parsed.justification),
        "difficulty": case.difficulty,
        "errors": n_errors,
        "repaired": repairs,
        "changed": changed,
        "corrupted": corrupted,
        "correct_cells": correct_cells,
        "unobservable_errors": case.unobservable,
        "rows": {"answer": len(parsed.rows), "dirty": len(case.dirty), "clean": len(case.clean),
                 "dropped": sum(1 for a in aligned if a is None), "inserted": len(inserted)},
        "corrupted_cells": corrupted_cells,
        "justification": bool(parsed.justification.strip()),
        # Per dirty row: the aligned answer row's cells as 8-hex digests, null when dropped.
        "cells": [None if a is None else _digest(parsed.rows[a]) for a in aligned],
    }


@register
class DataCleaningScorer(Scorer):
    """`{"type": "data_cleaning", "threshold": 0.9}`: value = F1 of the repairs; passes at F1 ≥
    threshold with no correct cell corrupted. Slow: alignment and drift are per-table work."""

    type = "data_cleaning"
    slow = True

    def __init__(self, *, threshold: float = 0.9) -> None:
        super().__init__(threshold=threshold)
        if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 <= threshold <= 1:
            raise ScorerConfigError("data_cleaning: threshold must be a number in 0..1")
        self.threshold = float(threshold)

    def score(self, item: ScoreInput) -> Score:
        case = case_read(item.case)
        try:
            parsed = answer_parse(item.output, case.header)
        except CleaningParseError as exc:
            return Score(0.0, False, {
                "parse_error": str(exc), "precision": 0.0, "recall": 0.0, "f1": 0.0, "corruption_rate": None,
                "drift": None, "auditability": None, "difficulty": case.difficulty, "by_dimension": {},
                "by_difficulty": {}, "errors": len(case.errors),
            })
        details = clean_metrics(case, parsed)
        passed = details["f1"] >= self.threshold - 1e-12 and details["corrupted"] == 0
        return Score(details["f1"], passed, details)
