"""Reads of the leaderboards app. Org scope built in; persisted aggregates only, never attempts.

Every payload is cached in the Django cache (Redis when configured) under a versioned key: the
key carries the aggregate's `version` (bumped by every recompute) and `PAYLOAD_VERSION` (bumped
when the payload's shape changes), so a recompute or a deploy never serves a stale board and no
key needs deleting.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import datetime
from typing import Any

import numpy as np
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from benchhub.api.errors import NotFound, ValidationFailed
from benchhub.dispatch import task_send
from experiments.models import Case, Dataset, Experiment, Run
from leaderboards import aggregation, cleaning, stats
from leaderboards.models import ArmAggregate, BoardState, RunLeaderboard
from leaderboards.services import REFRESH_TASK, run_leaderboard_compute
from orgs.models import Organization
from orgs.scoping import for_org, get_for_org

PAYLOAD_VERSION = 3  # 2: the `cleaning` section; 3: `evaluator_trust` beside the boards
CACHE_SECONDS = 24 * 3600
BOARD_NAMES = ("quality", "speed", "cost", "evaluator")


def cache_clear() -> None:
    """Forget every cached leaderboard payload and lock, and nothing else.

    Versioned keys make this unnecessary for correctness; tests and the benchmark's cold reads
    use it. It must not flush the whole Redis database, which also holds the Celery broker.
    """
    client_for = getattr(getattr(cache, "_cache", None), "get_client", None)
    if client_for is None:  # local memory: nothing else lives there that matters
        cache.clear()
        return
    client = client_for(None, write=True)
    for key in client.scan_iter(match="*leaderboards:*", count=1000):
        client.delete(key)


def low_sample_threshold() -> int:
    """Arms with fewer cases than this are flagged `low_sample` (setting BENCHHUB_LEADERBOARD_LOW_SAMPLE)."""
    return int(getattr(settings, "BENCHHUB_LEADERBOARD_LOW_SAMPLE", 30))


def refresh_seconds() -> float:
    """Partial boards of a running run are recomputed at most this often."""
    return float(getattr(settings, "BENCHHUB_LEADERBOARD_REFRESH_SECONDS", 5))


def _flag(boards: dict[str, list[dict]], threshold: int) -> dict[str, list[dict]]:
    return {
        name: [{**row, "low_sample": row.get("cases", 0) < threshold} for row in boards.get(name, [])]
        for name in BOARD_NAMES
    }


# --- Run boards --------------------------------------------------------------------------------


def _ensure_fresh(*, run: Run, board: RunLeaderboard | None) -> RunLeaderboard:
    """Compute a missing board now; refresh a stale one (partial, or final not yet written).

    A refresh is at most one per `refresh_seconds` per run (a cache lock), and goes through the
    Celery task so that a large run is recomputed by a worker while readers keep the last board.
    """
    if board is None:
        return run_leaderboard_compute(run_id=run.pk)
    if board.state != BoardState.PARTIAL:
        return board
    # The creation time makes the lock one run's own even where a recreated database reuses ids.
    lock = f"leaderboards:lock:run:{run.pk}:{int(run.created_at.timestamp() * 1e6)}"
    if run.is_terminal:
        # The run ended but its final board is missing (the end-of-run task has not run yet):
        # compute it here once; concurrent readers keep the partial board meanwhile.
        if cache.add(lock, 1, timeout=600):
            try:
                return run_leaderboard_compute(run_id=run.pk)
            finally:
                cache.delete(lock)
        return board
    stale = (timezone.now() - board.computed_at).total_seconds() >= refresh_seconds()
    if stale and cache.add(lock, 1, timeout=max(1, int(refresh_seconds()))):
        task_send(REFRESH_TASK, run.pk)
        # In process the task has run already: read what it wrote (on a worker: the same board).
        board = RunLeaderboard.objects.get(pk=board.pk)
    return board


def _tag(board: RunLeaderboard) -> str:
    """Version of a board for cache keys: its counter plus when it was computed, so that a
    recreated database (ids and counters starting over) never meets an old cached payload."""
    return f"{board.version}.{int(board.computed_at.timestamp() * 1e6)}"


def _run_board(*, org: Organization, run_id: int) -> tuple[Run, RunLeaderboard]:
    board = (
        for_org(RunLeaderboard, org)
        .filter(run_id=run_id)
        .select_related("run")
        .only("id", "version", "state", "computed_at", "run__id", "run__status", "run__org_id", "run__created_at")
        .first()
    )
    run = board.run if board is not None else get_for_org(
        Run.objects.only("id", "status", "org_id", "created_at"), org, pk=run_id)
    fresh = _ensure_fresh(run=run, board=board)
    return run, fresh


def run_leaderboard_get(*, org: Organization, run_id: int, threshold: int | None = None) -> dict[str, Any]:
    """The four boards of a run (plus frontier, failure taxonomy), with low-sample flags."""
    threshold = low_sample_threshold() if threshold is None else threshold
    run, board = _run_board(org=org, run_id=run_id)
    key = f"leaderboards:v{PAYLOAD_VERSION}:run:{run.pk}:{_tag(board)}:{threshold}"
    payload = cache.get(key)
    if payload is None:
        full = RunLeaderboard.objects.get(pk=board.pk)
        payload = {
            "run": run.pk,
            "state": full.state,
            "version": full.version,
            "computed_at": full.computed_at.isoformat(),
            "attempts_ended": full.attempts_ended,
            "evaluator_profile": full.evaluator_profile or None,
            "evaluator_trust": (full.params or {}).get("evaluator_trust"),
            "low_sample_threshold": threshold,
            "params": full.params,
            **_flag(full.boards, threshold),
            "frontier": full.frontier,
            "failures": full.failures,
            "cleaning": cleaning.section_flag(full.boards.get("cleaning"), threshold),
        }
        cache.set(key, payload, CACHE_SECONDS)
    return payload


def run_pairwise_get(*, org: Organization, run_id: int) -> dict[str, Any]:
    """Win-rate matrix and Bradley–Terry ratings of a run."""
    run, board = _run_board(org=org, run_id=run_id)
    key = f"leaderboards:v{PAYLOAD_VERSION}:pairwise:{run.pk}:{_tag(board)}"
    payload = cache.get(key)
    if payload is None:
        full = RunLeaderboard.objects.get(pk=board.pk)
        payload = {"run": run.pk, "state": full.state, "version": full.version, **(full.pairwise or {
            "arms": [], "wins": [], "ties": [], "n": [], "win_rate": [], "ratings": [], "judgements": 0})}
        cache.set(key, payload, CACHE_SECONDS)
    return payload


def run_leaderboard_summary(*, run: Run) -> dict[str, Any] | None:
    """The boards for the run payload (`GET runs/{id}/`): only once the run has ended."""
    if not run.is_terminal:
        return None
    payload = run_leaderboard_get(org=run.org_id, run_id=run.pk)  # type: ignore[arg-type]
    return {name: payload[name] for name in ("state", "computed_at", *BOARD_NAMES)}


def _arm_stats_for_run(*, org: Organization, run_id: int, arm: str) -> tuple[ArmAggregate, aggregation.ArmCaseStats]:
    rows = for_org(ArmAggregate, org).filter(run_id=run_id)
    row = rows.filter(label=arm).first()
    if row is None and arm.isdigit():
        row = rows.filter(arm_id=int(arm)).first()
    if row is None:
        raise ValidationFailed(f"No arm {arm!r} in this run.", details={"arm": arm})
    return row, aggregation.ArmCaseStats.from_bytes(row.case_stats)


def run_compare_get(*, org: Organization, run_id: int, a: str, b: str) -> dict[str, Any]:
    """Head to head of two arms on the task instances of one run (from the persisted per-case stats)."""
    run, board = _run_board(org=org, run_id=run_id)
    key = f"leaderboards:v{PAYLOAD_VERSION}:compare:{run.pk}:{_tag(board)}:" + hashlib.sha256(
        f"{a}\x00{b}".encode()).hexdigest()[:16]
    payload = cache.get(key)
    if payload is not None:
        return payload
    row_a, sa = _arm_stats_for_run(org=org, run_id=run.pk, arm=a)
    row_b, sb = _arm_stats_for_run(org=org, run_id=run.pk, arm=b)
    universe = np.union1d(sa.cases, sb.cases)

    def per_case(s: aggregation.ArmCaseStats, name: str) -> np.ndarray:
        out = np.full(len(universe), np.nan)
        with np.errstate(all="ignore"):
            values = np.where(s.q_n > 0, getattr(s, name) / s.q_n, np.nan)
        out[np.searchsorted(universe, s.cases)] = values
        return out

    names = dict(Case.objects.filter(pk__in=universe.tolist()).values_list("pk", "case_id"))
    result = stats.paired_compare(
        [names.get(int(k), str(k)) for k in universe],
        per_case(sa, "q_sum"), per_case(sb, "q_sum"),
        a_pass=per_case(sa, "q_pass"), b_pass=per_case(sb, "q_pass"),
    )
    payload = {
        "run": run.pk,
        "a": row_a.label,
        "b": row_b.label,
        "metric": "rule_score",
        "wins": result.wins,
        "losses": result.losses,
        "ties": result.ties,
        "n": result.n,
        "win_rate": result.win_rate,
        "ci_low": result.ci_low,
        "ci_high": result.ci_high,
        "p_value": result.p_value,
        "test": "sign",
        "mcnemar": None if result.mcnemar is None else {
            "a_only": result.mcnemar.a_only, "b_only": result.mcnemar.b_only, "p_value": result.mcnemar.p_value},
        "cases": [{"case": r.case, "a": round(r.a, 6), "b": round(r.b, 6), "outcome": r.outcome}
                  for r in result.cases],
    }
    cache.set(key, payload, CACHE_SECONDS)
    return payload


# --- Cross-run boards and trends ---------------------------------------------------------------


def _final_aggregates(queryset):  # type: ignore[no-untyped-def]
    return queryset.filter(run__leaderboard_aggregate__state=BoardState.FINAL)


def _scope_digest(rows: list[tuple[Any, ...]], *extra: object) -> str:
    """Which aggregates (id, version, updated_at) a cross-run payload was built from."""
    text = ",".join(":".join(str(x) for x in row) for row in rows) + "|" + "|".join(str(x) for x in extra)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _cross_run_payload(
    *, aggregates, scope: dict[str, Any], evaluator_profile: str | None, threshold: int  # type: ignore[no-untyped-def]
) -> dict[str, Any]:
    """Boards over several runs: each arm's per-case stats merged across runs, then bounded.

    Evaluator scores are combined from one evaluator profile version only (`evaluator_profile`,
    default: the one of the most recent run that had one); quality, speed and cost combine all.
    """
    index = list(aggregates.order_by("id").values_list("id", "version", "updated_at"))
    # Newest first, each profile once (dict keeps the first occurrence).
    profiles = list(dict.fromkeys(
        aggregates.exclude(evaluator_profile="").order_by("-run_finished_at", "-id").values_list(
            "evaluator_profile", flat=True)
    ))
    pinned = evaluator_profile if evaluator_profile is not None else (profiles[0] if profiles else "")
    key = f"leaderboards:v{PAYLOAD_VERSION}:cross:{_scope_digest(index, pinned, threshold, sorted(scope.items()))}"
    payload = cache.get(key)
    if payload is not None:
        return payload
    by_key: dict[str, list[aggregation.ArmCaseStats]] = defaultdict(list)
    meta: dict[str, tuple[str, str]] = {}
    runs: set[int] = set()
    for row in aggregates.order_by("run_finished_at", "id").iterator():
        s = aggregation.ArmCaseStats.from_bytes(row.case_stats)
        if row.evaluator_profile != pinned:
            s.e_n = np.zeros_like(s.e_n)
            s.e_sum = np.zeros_like(s.e_sum)
        by_key[row.arm_key].append(s)
        meta[row.arm_key] = (row.provider, row.model)
        runs.add(row.run_id)
    keys = sorted(by_key)
    names = _cross_run_labels(keys, meta)
    boards = aggregation.compute_boards([names[k] for k in keys],
                                        [aggregation.ArmCaseStats.merge(by_key[k]) for k in keys],
                                        with_pairwise=False)
    payload = {
        **scope,
        "runs": sorted(runs),
        "evaluator_profile": pinned or None,
        "evaluator_profiles": profiles,
        "low_sample_threshold": threshold,
        **_flag(boards.board_dict(), threshold),
        "frontier": boards.frontier,
        "cleaning": cleaning.section_flag(cleaning.cross_run_section(aggregates=aggregates, labels=names), threshold),
    }
    cache.set(key, payload, CACHE_SECONDS)
    return payload


def _cross_run_labels(keys: list[str], meta: dict[str, tuple[str, str]]) -> dict[str, str]:
    """`provider:model`, with `#<config hash>` when one model appears with several configs."""
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for k in keys:
        counts[meta[k]] += 1
    return {k: f"{meta[k][0]}:{meta[k][1]}" + (f"#{k.rsplit(':', 1)[1][:6]}" if counts[meta[k]] > 1 else "")
            for k in keys}


def experiment_leaderboard_get(
    *, org: Organization, experiment_id: int, evaluator_profile: str | None = None, threshold: int | None = None
) -> dict[str, Any]:
    experiment = get_for_org(Experiment.objects.only("id", "org_id"), org, pk=experiment_id)
    aggregates = _final_aggregates(for_org(ArmAggregate, org).filter(experiment_id=experiment.pk))
    return _cross_run_payload(
        aggregates=aggregates, scope={"experiment": experiment.pk}, evaluator_profile=evaluator_profile,
        threshold=low_sample_threshold() if threshold is None else threshold,
    )


def dataset_leaderboard_get(
    *,
    org: Organization,
    dataset_id: int,
    evaluator_profile: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    threshold: int | None = None,
) -> dict[str, Any]:
    """Every ended run on one dataset version across the org, in an optional time window."""
    dataset = get_for_org(Dataset.objects.only("id", "org_id"), org, pk=dataset_id)
    aggregates = _final_aggregates(for_org(ArmAggregate, org).filter(dataset_id=dataset.pk))
    if since is not None:
        aggregates = aggregates.filter(run_finished_at__gte=since)
    if until is not None:
        aggregates = aggregates.filter(run_finished_at__lt=until)
    return _cross_run_payload(
        aggregates=aggregates,
        scope={"dataset": dataset.pk, "since": since.isoformat() if since else None,
               "until": until.isoformat() if until else None},
        evaluator_profile=evaluator_profile,
        threshold=low_sample_threshold() if threshold is None else threshold,
    )


def trends_get(*, org: Organization, experiment_id: int | None = None, dataset_id: int | None = None) -> dict[str, Any]:
    """Each arm's headline numbers run after run, oldest first; evaluator points split by profile."""
    if (experiment_id is None) == (dataset_id is None):
        raise NotFound()
    if experiment_id is not None:
        scope_obj = get_for_org(Experiment.objects.only("id", "org_id"), org, pk=experiment_id)
        aggregates = for_org(ArmAggregate, org).filter(experiment_id=scope_obj.pk)
        scope = {"experiment": scope_obj.pk}
    else:
        scope_obj = get_for_org(Dataset.objects.only("id", "org_id"), org, pk=dataset_id)
        aggregates = for_org(ArmAggregate, org).filter(dataset_id=scope_obj.pk)
        scope = {"dataset": scope_obj.pk}
    aggregates = _final_aggregates(aggregates).order_by("run_finished_at", "run_id")
    rows = list(aggregates.values_list("arm_key", "provider", "model", "run_id", "run_finished_at",
                                       "evaluator_profile", "metrics"))
    meta = {r[0]: (r[1], r[2]) for r in rows}
    names = _cross_run_labels(sorted(meta), meta)
    series: dict[str, dict[str, Any]] = {}
    for key, _provider, _model, run_id, finished, profile, metrics in rows:
        arm = series.setdefault(key, {"arm": names[key], "arm_key": key, "points": [], "evaluator": {}})
        point = {"run": run_id, "at": finished.isoformat() if finished else None}
        for board in ("quality", "speed", "cost"):
            point[board] = metrics.get(board)
        arm["points"].append(point)
        if metrics.get("evaluator") and profile:
            arm["evaluator"].setdefault(profile, []).append({"run": run_id, "at": point["at"], **metrics["evaluator"]})
    return {**scope, "arms": [series[k] for k in sorted(series, key=lambda k: names[k])]}


def run_arm_case_stats(*, org: Organization, run_id: int) -> tuple[list[str], list[aggregation.ArmCaseStats]]:
    """A run's arms (experiment order) with their persisted per-case stats, for the planner and the
    recommendation; the run's boards are computed first when missing (another org's run: 404)."""
    _run_board(org=org, run_id=run_id)
    rows = list(for_org(ArmAggregate, org).filter(run_id=run_id).order_by("arm__position", "arm_id"))
    return [row.label for row in rows], [aggregation.ArmCaseStats.from_bytes(row.case_stats) for row in rows]


def cross_run_arm_case_stats(
    *, org: Organization, experiment_id: int | None = None, dataset_id: int | None = None
) -> tuple[list[str], list[aggregation.ArmCaseStats]]:
    """Each arm's per-case stats merged over the ended runs of one experiment or one dataset
    version (as the cross-run boards merge them), for the recommendation."""
    if experiment_id is not None:
        experiment = get_for_org(Experiment.objects.only("id", "org_id"), org, pk=experiment_id)
        aggregates = for_org(ArmAggregate, org).filter(experiment_id=experiment.pk)
    else:
        dataset = get_for_org(Dataset.objects.only("id", "org_id"), org, pk=dataset_id)
        aggregates = for_org(ArmAggregate, org).filter(dataset_id=dataset.pk)
    by_key: dict[str, list[aggregation.ArmCaseStats]] = defaultdict(list)
    meta: dict[str, tuple[str, str]] = {}
    for row in _final_aggregates(aggregates).order_by("run_finished_at", "id").iterator():
        by_key[row.arm_key].append(aggregation.ArmCaseStats.from_bytes(row.case_stats))
        meta[row.arm_key] = (row.provider, row.model)
    keys = sorted(by_key)
    names = _cross_run_labels(keys, meta)
    return [names[k] for k in keys], [aggregation.ArmCaseStats.merge(by_key[k]) for k in keys]
