"""Reads for datasets, experiments, runs and attempts, org scope built in (`orgs.scoping`)."""

from __future__ import annotations

from django.db.models import Count, Prefetch, QuerySet

from experiments.judging import run_profile_id
from experiments.models import Attempt, AttemptEvaluation, Dataset, Experiment, Run
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
    *, run: Run, arm: str | None = None, status: str | None = None, case: str | None = None
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
