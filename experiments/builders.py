"""Datasets built by programs: `pr` cases from a git commit range, `data_cleaning` cases from a clean CSV.

Both return plain rows; `services.dataset_create_from_rows` validates and stores them like an upload.
"""

from __future__ import annotations

import csv
import io
import random
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# --- PR cases from git -------------------------------------------------------------------------

_TEST_PATH = re.compile(r"(^|/)(tests?/|test_[^/]*$|[^/]*_test\.[a-z]+$|[^/]*\.test\.[a-z]+$|[^/]*_spec\.[a-z]+$)")
MAX_REPO_FILE_BYTES = 200_000


class GitError(ValueError):
    pass


def _git(repo: Path, *args: str) -> str:
    try:
        out = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, timeout=60, check=True)
    except subprocess.CalledProcessError as exc:
        raise GitError(exc.stderr.decode(errors="replace").strip() or f"git {' '.join(args)} failed") from exc
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GitError(str(exc)) from exc
    return out.stdout.decode("utf-8", errors="replace")


def _tree_files(repo: Path, rev: str) -> dict[str, str]:
    """The text files of a tree (binary and very large files are left out of the snapshot)."""
    files: dict[str, str] = {}
    listing = _git(repo, "ls-tree", "-r", "-l", "--full-tree", rev)
    for line in listing.splitlines():
        meta, _, path = line.partition("\t")
        parts = meta.split()
        if len(parts) < 4 or parts[1] != "blob" or parts[3] == "-" or int(parts[3]) > MAX_REPO_FILE_BYTES:
            continue
        raw = subprocess.run(
            ["git", "-C", str(repo), "cat-file", "blob", parts[2]], capture_output=True, timeout=60, check=True
        ).stdout
        if b"\0" in raw[:8000]:
            continue
        files[path] = raw.decode("utf-8", errors="replace")
    return files


def pr_rows_from_git(*, repo: Path, rev_range: str, test_command: str = "pytest -q") -> list[dict[str, Any]]:
    """One `pr` case per commit of `rev_range` ("A..B"), oldest first.

    The parent's tree is the repo snapshot, the commit message the instruction, the commit's diff
    the reference patch, and the test files the commit touched (their content after the commit)
    the validation tests. A root commit has no parent to start from and is skipped.
    """
    commits = _git(repo, "rev-list", "--reverse", "--no-merges", rev_range).split()
    if not commits:
        raise GitError(f"no commits in {rev_range!r}")
    rows = []
    for sha in commits:
        parents = _git(repo, "rev-list", "--parents", "-n", "1", sha).split()[1:]
        if not parents:
            continue
        parent = parents[0]
        message = _git(repo, "log", "-1", "--format=%B", sha).strip()
        patch = _git(repo, "diff", "--no-color", "--no-ext-diff", parent, sha)
        changed = _git(repo, "diff", "--name-only", "--diff-filter=AM", parent, sha).split("\n")
        tests = {}
        for path in filter(None, changed):
            if _TEST_PATH.search(path):
                tests[path] = _git(repo, "show", f"{sha}:{path}")
        rows.append(
            {
                "id": sha[:12],
                "instruction": message,
                "repo": {"files": _tree_files(repo, parent)},
                "tests": tests,
                "test_command": test_command,
                "reference_patch": patch,
                "metadata": {"commit": sha, "parent": parent},
            }
        )
    return rows


# --- data-cleaning cases -----------------------------------------------------------------------

DIMENSIONS = ("accuracy", "completeness", "consistency", "uniqueness")
# How far an injected error strays from the truth: easy errors are glaring, hard ones plausible.
_DIFFICULTY_SCALE = {"easy": 10.0, "medium": 1.5, "hard": 1.05}


@dataclass(frozen=True)
class CleaningConfig:
    rates: dict[str, float]
    difficulty: str = "medium"
    seed: int = 0
    rows_per_case: int = 20


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _corrupt_accuracy(value: str, rng: random.Random, difficulty: str) -> str:
    if _is_number(value):
        number = float(value)
        scale = _DIFFICULTY_SCALE[difficulty]
        wrong = number * scale if number else scale
        if wrong == number:
            wrong = number + 1
        return str(int(wrong)) if value.lstrip("-").isdigit() else f"{wrong:.2f}"
    if len(value) >= 2:
        i = rng.randrange(len(value) - 1)
        swapped = value[:i] + value[i + 1] + value[i] + value[i + 2 :]
        return swapped if swapped != value else value + "x"
    return value + "x"


def _corrupt_consistency(value: str, rng: random.Random, difficulty: str) -> str:
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        y, m, d = value.split("-")
        return f"{d}/{m}/{y}"
    if _is_number(value):
        return value + (" units" if difficulty == "easy" else ".0" if "." not in value else "0")
    variants = [value.upper(), value.lower(), f" {value} ", value.title()]
    changed = [v for v in variants if v != value]
    return rng.choice(changed) if changed else value + " "


def data_cleaning_rows(*, clean_csv: str, config: CleaningConfig) -> list[dict[str, Any]]:
    """Cases of `rows_per_case` rows each, with errors injected at the given per-dimension rates.

    Deterministic for a seed. Ground truth: `clean` is the untouched slice, `errors` lists every
    injected cell as `{row, column, dimension}` (rows counted from 0 in the dirty table, header
    excluded; a duplicated row has column "*").
    """
    if config.difficulty not in _DIFFICULTY_SCALE:
        raise ValueError(f"difficulty must be one of {', '.join(_DIFFICULTY_SCALE)}")
    unknown = set(config.rates) - set(DIMENSIONS)
    if unknown:
        raise ValueError(f"unknown dimension(s): {', '.join(sorted(unknown))}")
    table = list(csv.reader(io.StringIO(clean_csv)))
    if len(table) < 2:
        raise ValueError("the clean CSV needs a header and at least one row")
    header, body = table[0], table[1:]
    rng = random.Random(config.seed)
    rows: list[dict[str, Any]] = []
    for case_no, start in enumerate(range(0, len(body), config.rows_per_case)):
        clean = [list(r) for r in body[start : start + config.rows_per_case]]
        dirty = [list(r) for r in clean]
        errors: list[dict[str, Any]] = []
        touched: set[tuple[int, int]] = set()
        for dimension in ("accuracy", "completeness", "consistency"):
            rate = float(config.rates.get(dimension, 0))
            for r, row in enumerate(dirty):
                for c in range(len(header)):
                    if (r, c) in touched or row[c] == "" or rng.random() >= rate:
                        continue
                    if dimension == "accuracy":
                        row[c] = _corrupt_accuracy(row[c], rng, config.difficulty)
                    elif dimension == "completeness":
                        row[c] = ""
                    else:
                        row[c] = _corrupt_consistency(row[c], rng, config.difficulty)
                    touched.add((r, c))
                    errors.append({"row": r, "column": header[c], "dimension": dimension})
        # Uniqueness: duplicate rows; easy ones sit right after their original, hard ones anywhere.
        origin = list(range(len(dirty)))
        for r in range(len(clean)):
            if rng.random() < float(config.rates.get("uniqueness", 0)):
                at = r + 1 if config.difficulty == "easy" else rng.randrange(len(dirty) + 1)
                dirty.insert(at, list(dirty[origin.index(r)]))
                origin.insert(at, -1 - r)
        position = {o: i for i, o in enumerate(origin)}
        for error in errors:
            error["row"] = position[error["row"]]
        errors += [{"row": i, "column": "*", "dimension": "uniqueness"} for i, o in enumerate(origin) if o < 0]
        errors.sort(key=lambda e: (e["row"], e["column"]))
        rows.append(
            {
                "id": f"clean-{config.seed}-{case_no}",
                "dirty": _to_csv(header, dirty),
                "clean": _to_csv(header, clean),
                "errors": errors,
                "difficulty": config.difficulty,
                "metadata": {"seed": config.seed, "rates": config.rates, "source_rows": [start, start + len(clean)]},
            }
        )
    return rows


def _to_csv(header: list[str], rows: list[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()
