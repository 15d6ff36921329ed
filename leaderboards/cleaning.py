"""The `cleaning` section of the boards: seed 002's data-cleaning metrics per arm, with case-bootstrap bounds.

For runs scored by `data_cleaning` (see `evaluation.cleaning`), each arm's attempts are reduced once,
when the run's boards are computed, to per-case sums (`CleaningCaseStats`, persisted as a
`CleaningAggregate` beside the arm's `ArmAggregate`); run, experiment and dataset boards and the
org's `metrics/...` routes all bound them with `cleaning_section`, the same way the other boards
bound theirs (one resampling matrix over cases from a fixed seed, percentile bounds, Arena ranks).

Counting rules:
- f1, precision, recall: the mean over attempts of the score's figures. An attempt that failed
  (provider error) counts 0, as on the quality board; one not yet scored is left out.
- corruption_rate, drift, auditability: over attempts that produced a table (a parse error or a
  failure has none to measure; `attempts[].parse_errors` counts them, scorer errors included);
  auditability over those that changed something.
- reliability: per case, how often two samples of it give the same cell (each cell aligned with
  a dirty row; a dropped row or an answer with no table counts as one "missing" value), averaged
  over the cases answered at least twice.
- robustness: mean F1 on `hard` cases / mean F1 on `easy` cases (both resampled together).
- by_dimension: value = mean F1 over attempts on cases with errors of that dimension, `recall` =
  repaired / errors pooled over those attempts; by_difficulty: mean F1 per case difficulty.
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from evaluation.cleaning import DataCleaningScorer
from evaluation.scorers import scorer_key
from experiments.models import Attempt, AttemptStatus, Run
from leaderboards import stats
from leaderboards.aggregation import _interval_row, _round, _sorted  # the other boards' row shape and order
from leaderboards.models import ArmAggregate, CleaningAggregate, RunLeaderboard

HIGHER_IS_BETTER = {"f1": True, "precision": True, "recall": True, "corruption_rate": False, "drift": False,
                    "reliability": True, "robustness": True, "auditability": True}
# metric: (sum column, count column)
_MEANS = {
    "f1": ("f1", "n"), "precision": ("precision", "n"), "recall": ("recall", "n"),
    "corruption_rate": ("corruption", "measured"), "drift": ("drift", "measured"),
    "auditability": ("auditability", "audited"), "reliability": ("agreement", "repeated"),
}
_MISSING = "-"  # a cell with no value (dropped row, no table) in the reliability comparison


@dataclass
class CleaningCaseStats:
    """One arm's per-case sums: `cases` (sorted Case pks) and named columns of the same length."""

    cases: np.ndarray
    columns: dict[str, np.ndarray] = field(default_factory=dict)

    def column(self, name: str) -> np.ndarray:
        found = self.columns.get(name)
        return found if found is not None else np.zeros(len(self.cases))

    def names(self, prefix: str) -> list[str]:
        """The middle parts of `prefix:<name>:...` columns (the dimensions, the difficulties)."""
        return sorted({c.split(":")[1] for c in self.columns if c.startswith(prefix + ":")})

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        np.savez_compressed(buffer, cases=self.cases, **{f"c/{k}": v for k, v in self.columns.items()})
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> CleaningCaseStats:
        with np.load(io.BytesIO(bytes(data))) as npz:
            return cls(npz["cases"], {k[2:]: npz[k] for k in npz.files if k.startswith("c/")})

    @classmethod
    def merge(cls, parts: Sequence[CleaningCaseStats]) -> CleaningCaseStats:
        """One arm across runs: the same case in two runs is one cluster, its sums added."""
        if len(parts) == 1:
            return parts[0]
        cases, inverse = np.unique(np.concatenate([p.cases for p in parts]), return_inverse=True)
        names = sorted({name for p in parts for name in p.columns})
        return cls(cases, {
            name: np.bincount(inverse, weights=np.concatenate([p.column(name) for p in parts]), minlength=len(cases))
            for name in names
        })


# --- from attempts to per-case sums ------------------------------------------------------------


def score_key(snapshot: dict[str, Any] | None) -> str | None:
    """The key of the run's (first) data_cleaning score in `Attempt.scores`, None when it has none."""
    specs = ((snapshot or {}).get("experiment") or {}).get("scorers") or []
    for index, spec in enumerate(specs):
        if isinstance(spec, dict) and spec.get("type") == DataCleaningScorer.type:
            return scorer_key(spec, index, specs)
    return None


def agreement(samples: Sequence[list[str | None] | None]) -> float | None:
    """Mean over cells of the share of sample pairs that agree on the cell; None below 2 samples.

    `samples` are the `cells` digests of one case's answers (None: the answer had no table).
    """
    k = len(samples)
    if k < 2:
        return None
    rows = max((len(s) for s in samples if s is not None), default=0)
    width = max((len(c) // 8 for s in samples if s is not None for c in s if c is not None), default=1)
    if rows == 0:
        return 1.0  # no sample produced a table: they agree on having none
    total = 0.0
    for r in range(rows):
        for j in range(width):
            counts: dict[str, int] = defaultdict(int)
            for s in samples:
                cell = s[r] if s is not None and r < len(s) else None
                counts[cell[8 * j: 8 * j + 8] if cell is not None else _MISSING] += 1
            total += sum(n * (n - 1) for n in counts.values()) / (k * (k - 1))
    return total / (rows * width)


class _Sums:
    def __init__(self) -> None:
        self.by_case: dict[int, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self.cells: dict[int, list[list[str | None] | None]] = defaultdict(list)

    def add(self, case: int, **values: float) -> None:
        row = self.by_case[case]
        for name, value in values.items():
            row[name] += value

    def stats(self) -> CleaningCaseStats:
        for case, samples in self.cells.items():
            agreed = agreement(samples)
            if agreed is not None:
                self.add(case, agreement=agreed, repeated=1)
        cases = np.array(sorted(self.by_case), dtype=np.int64)
        names = sorted({name for row in self.by_case.values() for name in row})
        return CleaningCaseStats(cases, {
            name: np.array([self.by_case[int(c)].get(name, 0.0) for c in cases]) for name in names})


def _add_attempt(sums: _Sums, case: int, status: str, score: dict[str, Any] | None, difficulty: Any) -> None:
    level = difficulty if isinstance(difficulty, str) and difficulty else None
    if status == AttemptStatus.FAILED:
        sums.add(case, n=1, f1=0.0, precision=0.0, recall=0.0, failed=1)
        if level:
            sums.add(case, **{f"diff:{level}:f1": 0.0, f"diff:{level}:n": 1})
        return
    details = (score or {}).get("details") or {}
    f1 = float(details.get("f1") or 0.0)
    sums.add(case, n=1, f1=f1, precision=float(details.get("precision") or 0.0),
             recall=float(details.get("recall") or 0.0), passes=float(bool(score and score.get("passed"))))
    if level:
        sums.add(case, **{f"diff:{level}:f1": f1, f"diff:{level}:n": 1})
    if "parse_error" in details or "error" in details:
        sums.add(case, parse_errors=1)
        sums.cells[case].append(None)
        return
    sums.add(case, measured=1, corruption=float(details.get("corruption_rate") or 0.0),
             drift=float(details.get("drift") or 0.0))
    if details.get("auditability") is not None:
        sums.add(case, audited=1, auditability=float(details["auditability"]))
    for dimension, split in (details.get("by_dimension") or {}).items():
        sums.add(case, **{f"dim:{dimension}:f1": f1, f"dim:{dimension}:n": 1,
                          f"dim:{dimension}:errors": float(split.get("errors") or 0),
                          f"dim:{dimension}:repaired": float(split.get("repaired") or 0)})
    cells = details.get("cells")
    sums.cells[case].append(cells if isinstance(cells, list) else None)


def cleaning_case_stats(
    rows: Iterable[tuple[int, int, str, dict[str, Any] | None, Any]], *, key: str
) -> dict[int, CleaningCaseStats]:
    """Per arm, the per-case sums of `(arm_id, case_id, status, scores, case difficulty)` rows."""
    by_arm: dict[int, _Sums] = defaultdict(_Sums)
    for arm_id, case_id, status, scores, difficulty in rows:
        score = (scores or {}).get(key)
        if status == AttemptStatus.SUCCEEDED and score is None:
            continue  # not scored yet
        _add_attempt(by_arm[arm_id], case_id, status, score, difficulty)
    return {arm: sums.stats() for arm, sums in by_arm.items()}


def _attempt_rows(*, run_id: int) -> Iterable[tuple[int, int, str, dict[str, Any] | None, Any]]:
    # Read here rather than through experiments.outcomes: only this module needs the scores'
    # details, and only of data-cleaning runs (small next to the numeric outcome columns).
    return (
        Attempt.objects.filter(run_id=run_id, status__in=[AttemptStatus.SUCCEEDED, AttemptStatus.FAILED])
        .order_by()
        .values_list("arm_id", "task_instance__case_id", "status", "scores", "task_instance__case__payload__difficulty")
        .iterator(chunk_size=2000)
    )


# --- bounds ------------------------------------------------------------------------------------


def _rows(labels: Sequence[str], intervals: list[stats.Interval], n: np.ndarray, counts: np.ndarray,
          higher_is_better: bool, extra: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    ranks = stats.rank_by_bounds([x.low for x in intervals], [x.high for x in intervals],
                                 higher_is_better=higher_is_better)
    rows = []
    for j, label in enumerate(labels):
        if counts[:, j].sum() <= 0:
            continue
        row = _interval_row(label, n[:, j].sum(), int((counts[:, j] > 0).sum()), intervals[j], ranks[j])
        rows.append({**row, **(extra[j] if extra else {})})
    return _sorted(rows, higher_is_better=higher_is_better)


def cleaning_section(
    labels: Sequence[str], parts: Sequence[CleaningCaseStats], *,
    seed: int = stats.DEFAULT_SEED, n_boot: int = stats.DEFAULT_BOOTSTRAP,
) -> dict[str, Any]:
    """Every cleaning metric as a board (rows `arm, n, cases, value, ci_low, ci_high, rank`)."""
    universe = np.unique(np.concatenate([p.cases for p in parts])) if parts else np.empty(0, np.int64)
    weights = stats.case_resample_weights(len(universe), n_boot=n_boot, seed=seed)

    def matrix(name: str) -> np.ndarray:
        out = np.zeros((len(universe), len(parts)))
        for j, p in enumerate(parts):
            out[np.searchsorted(universe, p.cases), j] = p.column(name)
        return out

    n = matrix("n")
    section: dict[str, Any] = {}
    for metric, (total, count) in _MEANS.items():
        counts = matrix(count)
        section[metric] = _rows(labels, stats.bootstrap_ratio_means(matrix(total), counts, weights), counts, counts,
                                HIGHER_IS_BETTER[metric])
    hard, easy = (matrix("diff:hard:f1"), matrix("diff:hard:n")), (matrix("diff:easy:f1"), matrix("diff:easy:n"))
    ratio = stats.bootstrap_ratio_of_means(hard[0], hard[1], easy[0], easy[1], weights)
    # An arm has a robustness figure only when it answered both hard and easy cases.
    paired = (hard[1] + easy[1]) * ((hard[1].sum(axis=0) > 0) & (easy[1].sum(axis=0) > 0))
    section["robustness"] = _rows(labels, ratio, paired, paired, True, extra=[
        {"hard_f1": _round(_mean(hard[0][:, j], hard[1][:, j])), "easy_f1": _round(_mean(easy[0][:, j], easy[1][:, j]))}
        for j in range(len(parts))])
    section["by_dimension"] = {}
    for dimension in sorted({d for p in parts for d in p.names("dim")}):
        counts = matrix(f"dim:{dimension}:n")
        errors, repaired = matrix(f"dim:{dimension}:errors"), matrix(f"dim:{dimension}:repaired")
        recall = stats.bootstrap_ratio_means(repaired, errors, weights)
        section["by_dimension"][dimension] = _rows(
            labels, stats.bootstrap_ratio_means(matrix(f"dim:{dimension}:f1"), counts, weights), counts, counts, True,
            extra=[{"errors": int(errors[:, j].sum()), "repaired": int(repaired[:, j].sum()),
                    "recall": _round(recall[j].value), "recall_ci_low": _round(recall[j].low),
                    "recall_ci_high": _round(recall[j].high)} for j in range(len(parts))])
    section["by_difficulty"] = {}
    for level in sorted({d for p in parts for d in p.names("diff")}):
        counts = matrix(f"diff:{level}:n")
        section["by_difficulty"][level] = _rows(
            labels, stats.bootstrap_ratio_means(matrix(f"diff:{level}:f1"), counts, weights), counts, counts, True)
    section["attempts"] = [
        {"arm": label, "n": int(n[:, j].sum()), "parse_errors": int(matrix("parse_errors")[:, j].sum()),
         "failed": int(matrix("failed")[:, j].sum()), "passes": int(matrix("passes")[:, j].sum())}
        for j, label in enumerate(labels)
    ]
    return section


def _mean(sums: np.ndarray, counts: np.ndarray) -> float | None:
    return float(sums.sum() / counts.sum()) if counts.sum() > 0 else None


def section_flag(section: dict[str, Any] | None, threshold: int) -> dict[str, Any] | None:
    """The section with `low_sample` on every row (as the other boards flag theirs at read time)."""
    if section is None:
        return None

    def flag(value: Any) -> Any:
        if isinstance(value, list):
            return [{**row, "low_sample": row.get("cases", 0) < threshold} if "cases" in row else row
                    for row in value]
        if isinstance(value, dict):
            return {k: flag(v) for k, v in value.items()}
        return value

    return {k: (v if k == "attempts" else flag(v)) for k, v in section.items()}


# --- persisted with the run's boards -----------------------------------------------------------


def run_cleaning_persist(
    *, run: Run, board: RunLeaderboard, aggregates: Sequence[ArmAggregate], seed: int, n_boot: int
) -> None:
    """Store each arm's cleaning sums beside its fresh ArmAggregate and the run's `cleaning` section.

    Called inside the board computation's transaction, right after the arm aggregates are
    rewritten (which deleted the previous cleaning rows with them). A run with no data_cleaning
    scorer gets no section and costs no query.
    """
    key = score_key(run.snapshot)
    if key is None:
        return
    per_arm = cleaning_case_stats(_attempt_rows(run_id=run.pk), key=key)
    mine = [a for a in aggregates if a.arm_id in per_arm]
    CleaningAggregate.objects.bulk_create(
        CleaningAggregate(org_id=run.org_id, aggregate=a, case_stats=per_arm[a.arm_id].to_bytes()) for a in mine)
    section = cleaning_section([a.label for a in mine], [per_arm[a.arm_id] for a in mine], seed=seed, n_boot=n_boot)
    board.boards = {**board.boards, "cleaning": section}
    RunLeaderboard.objects.filter(pk=board.pk).update(boards=board.boards)


def cross_run_section(*, aggregates, labels: dict[str, str]) -> dict[str, Any] | None:  # type: ignore[no-untyped-def]
    """The section over several runs' aggregates (a queryset), each arm's sums merged across runs.

    `labels` name arms by `arm_key`, as the cross-run boards beside it do. None without cleaning runs.
    """
    parts: dict[str, list[CleaningCaseStats]] = defaultdict(list)
    for arm_key, blob in CleaningAggregate.objects.filter(aggregate__in=aggregates).order_by(
            "aggregate__run_finished_at", "id").values_list("aggregate__arm_key", "case_stats"):
        parts[arm_key].append(CleaningCaseStats.from_bytes(blob))
    if not parts:
        return None
    keys = sorted(parts, key=lambda k: labels.get(k, k))
    return cleaning_section([labels.get(k, k) for k in keys], [CleaningCaseStats.merge(parts[k]) for k in keys])
