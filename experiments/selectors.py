"""Reads for datasets, experiments, runs and attempts, org scope built in (`orgs.scoping`)."""

from __future__ import annotations

from django.db.models import Count, Max, Prefetch, QuerySet

from experiments.judging import run_profile_id
from experiments.models import Attempt, AttemptEvaluation, AttemptStatus, Case, Dataset, Experiment, Run
from orgs.models import Organization
from orgs.scoping import for_org, get_for_org


def dataset_list(*, org: Organization) -> QuerySet[Dataset]:
    return for_org(Dataset, org).order_by("-created_at", "-id")


def dataset_get(*, org: Organization, dataset_id: int) -> Dataset:
    return get_for_org(Dataset, org, pk=dataset_id)


def experiment_list(*, org: Organization) -> QuerySet[Experiment]:
    return for_org(Experiment, org).select_related("dataset").prefetch_related("arms").order_by("-created_at", "-id")


def experiment_get(*, org: Organization, experiment_id: int) -> Experiment:
    return get_for_org(experiment_list(org=org), org, pk=experiment_id)


def run_list(*, org: Organization) -> QuerySet[Run]:
    return for_org(Run, org).select_related("experiment").order_by("-created_at", "-id")


def run_get(*, org: Organization, run_id: int) -> Run:
    return get_for_org(run_list(org=org), org, pk=run_id)


def attempt_list(
    *, run: Run, arm: str | None = None, status: str | None = None, case: str | None = None,
    error_type: str | None = None,
) -> QuerySet[Attempt]:
    """A run's attempts; `arm` is a label ("mock:a") or an arm id, `case` the dataset row's id."""
    # A list names the case by its id only: its payload (a PR's whole repo snapshot) and the raw
    # provider response stay in the database until one attempt is asked for.
    qs = (
        Attempt.objects.filter(run=run)
        .select_related("arm", "task_instance__case")
        .defer("task_instance__case__payload", "raw_response")
        .order_by("pk")
    )
    qs = qs.prefetch_related(_own_evaluations(run))
    if arm:
        qs = qs.filter(arm_id=int(arm)) if arm.isdigit() else qs.filter(arm__label=arm)
    if status:
        qs = qs.filter(status=status)
    if case:
        qs = qs.filter(task_instance__case__case_id=case)
    if error_type:
        qs = qs.filter(error_type=error_type)
    return qs


def _own_evaluations(run: Run) -> Prefetch:
    """The verdict of the run's own evaluator profile, scores only: rationale and raw output are
    staff-only and never leave the database for an org-facing answer."""
    queryset = (
        AttemptEvaluation.objects.filter(profile_id=run_profile_id(run.snapshot))
        .only("id", "attempt_id", "profile_id", "profile_version", "overall", "passed", "criteria", "status")
    )
    return Prefetch("evaluations", queryset=queryset, to_attr="own_evaluations")


def attempt_own_evaluation(*, attempt: Attempt) -> AttemptEvaluation | None:
    """The attempt's verdict from its run's evaluator profile (prefetched by `attempt_list`)."""
    evaluations = getattr(attempt, "own_evaluations", None)
    if evaluations is None:
        evaluations = list(
            Attempt.objects.filter(pk=attempt.pk).prefetch_related(_own_evaluations(attempt.run)).get().own_evaluations
        )
    return evaluations[0] if evaluations else None


def attempt_get(*, org: Organization, attempt_id: int) -> Attempt:
    return get_for_org(Attempt.objects.select_related("arm", "task_instance__case", "run"), org, pk=attempt_id)


def run_arm_breakdown(*, run: Run) -> list[dict]:
    """Per arm and status counts of one run: one grouped query, for the run page (not the polled part)."""
    rows = (
        Attempt.objects.filter(run=run)
        .values("arm__label", "arm__position", "status")
        .annotate(n=Count("pk"))
        .order_by("arm__position")
    )
    arms: dict[str, dict] = {}
    for row in rows:
        arms.setdefault(row["arm__label"], {"arm": row["arm__label"]})[row["status"]] = row["n"]
    return list(arms.values())


def run_status_counts(*, run: Run) -> dict[str, int]:
    """How many of a run's attempts are in each status (every status present, zeros included)."""
    counts = dict(Attempt.objects.filter(run=run).values_list("status").annotate(n=Count("pk")).values_list("status", "n"))
    return {status: counts.get(status, 0) for status in AttemptStatus.values}


def run_error_groups(*, run: Run) -> list[dict]:
    """A run's failed attempts grouped by error type and arm, biggest group first, each with one
    example message (what a person reads first to see why an arm failed)."""
    rows = (
        Attempt.objects.filter(run=run, status=AttemptStatus.FAILED)
        .values("error_type", "arm__label")
        .annotate(n=Count("pk"), example=Max("error_message"))
        .order_by("-n", "error_type", "arm__label")
    )
    return [
        {"error_type": r["error_type"] or "unknown", "arm": r["arm__label"], "count": r["n"], "example": r["example"]}
        for r in rows
    ]


def attempts_side_by_side(*, run: Run, arms: list[str], cases: list[str]) -> dict[tuple[str, str], list[Attempt]]:
    """The attempts of `arms` on `cases` of one run, keyed by (case id, arm label), samples in order:
    one query for a page of a head-to-head comparison."""
    qs = (
        Attempt.objects.filter(run=run, arm__label__in=arms, task_instance__case__case_id__in=cases)
        .select_related("arm", "task_instance__case")
        .defer("raw_response")
        .order_by("sample", "pk")
    )
    out: dict[tuple[str, str], list[Attempt]] = {}
    for attempt in qs:
        out.setdefault((attempt.task_instance.case.case_id, attempt.arm.label), []).append(attempt)
    return out


def dataset_cases(*, dataset: Dataset, search: str = "") -> QuerySet[Case]:
    """A dataset version's cases in file order; `search` matches the case id or any text of the row."""
    qs = Case.objects.filter(dataset=dataset).order_by("position")
    if search:
        from django.db.models import Q, TextField
        from django.db.models.functions import Cast

        qs = qs.annotate(_text=Cast("payload", TextField())).filter(
            Q(case_id__icontains=search) | Q(_text__icontains=search)
        )
    return qs


def run_latency_samples(*, run: Run, per_arm: int = 2000) -> dict[str, list[float]]:
    """Latencies (ms) of a run's succeeded attempts, at most `per_arm` of each arm (its first ones),
    for a distribution chart: bounded work however large the run."""
    out: dict[str, list[float]] = {}
    for arm_id, label in run.experiment.arms.values_list("pk", "label"):
        values = list(
            Attempt.objects.filter(run=run, arm_id=arm_id, status=AttemptStatus.SUCCEEDED, latency_ms__isnull=False)
            .order_by("pk").values_list("latency_ms", flat=True)[:per_arm]
        )
        if values:
            out[label] = values
    return out


def org_kpis(*, org: Organization, days: int = 7) -> dict:
    """The home page's cards over the last `days`: runs, ended attempts, spend, pass rate, p95 latency.

    Cached for a minute: the page is the landing page, the figures move slowly, and the attempt
    scans are bounded by the window but still the heaviest reads of a dashboard page.
    """
    from datetime import timedelta

    from django.core.cache import cache
    from django.db.models import Sum
    from django.utils import timezone

    key = f"dashboard:v1:kpis:{org.pk}:{days}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    since = timezone.now() - timedelta(days=days)
    runs = for_org(Run, org).filter(created_at__gte=since)
    attempts = Attempt.objects.filter(run__in=runs.values("pk"))
    ended = attempts.filter(status__in=[AttemptStatus.SUCCEEDED, AttemptStatus.FAILED])
    judged = ended.filter(passed__isnull=False)
    judged_n = judged.count()
    timed = attempts.filter(status=AttemptStatus.SUCCEEDED, latency_ms__isnull=False)
    timed_n = timed.count()
    p95 = (timed.order_by("latency_ms").values_list("latency_ms", flat=True)[int(0.95 * (timed_n - 1))]
           if timed_n else None)
    kpis = {
        "days": days,
        "runs": runs.count(),
        "attempts": ended.count(),
        "spend_usd": runs.aggregate(s=Sum("spent_usd"))["s"],
        "pass_rate": judged.filter(passed=True).count() / judged_n if judged_n else None,
        "p95_latency_ms": p95,
    }
    cache.set(key, kpis, 60)
    return kpis
