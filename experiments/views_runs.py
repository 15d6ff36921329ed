"""Dashboard pages of runs: the list, a run's live page and its polled fragments, cancel, retry
failed, and the attempts table.

The run page polls two fragments while the run is live: the page itself as HTMX every 2 s (the
progress fragment: status, bar, counters, buttons, read from the run row only) and `arms` every 5 s
(the per-arm table and the errors grouped by type and arm: one grouped query). Each stops polling
once it has rendered an ended run, so an ended run costs nothing.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from benchhub.api.errors import ApiError
from experiments import runs, selectors
from experiments.models import AttemptStatus, Run, RunStatus
from orgs.access import OrgContext
from orgs.dashboard import org_page
from orgs.models import Role

ATTEMPTS_PER_PAGE = 50


def _run(context: OrgContext, run_id: int) -> Run:
    return selectors.run_get(org=context.org, run_id=run_id)


def _progress_page(context: OrgContext, run: Run) -> dict:
    """The fragment's numbers, from the run row's counters. An ended run says what happened to
    each attempt; only one that was stopped (cancel, budget) may hold cancelled attempts, which the
    counters do not tell apart, so only its page counts them (once: an ended run is not polled)."""
    counts = None
    if run.is_terminal:
        if run.stop_reason or run.status == RunStatus.CANCELLED:
            counts = selectors.run_status_counts(run=run)
        else:
            counts = {AttemptStatus.SUCCEEDED: run.done - run.failed, AttemptStatus.FAILED: run.failed,
                      AttemptStatus.CANCELLED: 0, AttemptStatus.QUEUED: run.total - run.done, AttemptStatus.RUNNING: 0}
    return {"org_context": context, "run": run, "counts": counts, "running": max(0, run.running)}


@org_page()
@require_GET
def run_list(request: HttpRequest, context: OrgContext) -> HttpResponse:
    runs = selectors.run_list(org=context.org)
    page = Paginator(runs, 50).get_page(request.GET.get("page"))
    return render(request, "experiments/runs.html", {"org_context": context, "runs": page.object_list, "page": page})


@org_page()
@require_GET
def run_detail(request: HttpRequest, context: OrgContext, run_id: int) -> HttpResponse:
    run = _run(context, run_id)
    if getattr(request, "htmx", False):
        # The poll of the progress fragment: the run row's counters only.
        return render(request, "experiments/partials/run_progress.html", _progress_page(context, run))
    page = {
        **_progress_page(context, run),
        **_arms_page(run),
        **_attempts_page(request, run),
    }
    return render(request, "experiments/run_detail.html", page)


def _arms_page(run: Run) -> dict:
    return {"run": run, "arms": selectors.run_arm_breakdown(run=run), "error_groups": selectors.run_error_groups(run=run)}


@org_page()
@require_GET
def run_arms(request: HttpRequest, context: OrgContext, run_id: int) -> HttpResponse:
    run = selectors.run_get(org=context.org, run_id=run_id)
    return render(request, "experiments/partials/run_arms.html", {"org_context": context, **_arms_page(run)})


def _attempts_page(request: HttpRequest, run: Run) -> dict:
    filters = {
        "arm": request.GET.get("arm", "").strip(),
        "status": request.GET.get("status", "").strip(),
        "case": request.GET.get("case", "").strip(),
        "error": request.GET.get("error", "").strip(),
    }
    if filters["status"] not in AttemptStatus.values:
        filters["status"] = ""
    attempts = selectors.attempt_list(
        run=run, arm=filters["arm"] or None, status=filters["status"] or None, case=filters["case"] or None,
        error_type=filters["error"] or None,
    ).defer("output", "validation", "scores", "errors")
    page = Paginator(attempts, ATTEMPTS_PER_PAGE).get_page(request.GET.get("page"))
    query = "&".join(f"{k}={v}" for k, v in filters.items() if v)
    return {
        "run": run, "attempts": page.object_list, "attempts_page": page, "filters": filters, "filter_query": query,
        "arm_labels": list(run.experiment.arms.values_list("label", flat=True)),
        "statuses": AttemptStatus.values,
    }


@org_page()
@require_GET
def run_attempts(request: HttpRequest, context: OrgContext, run_id: int) -> HttpResponse:
    run = selectors.run_get(org=context.org, run_id=run_id)
    page = {"org_context": context, **_attempts_page(request, run)}
    if getattr(request, "htmx", False):
        return render(request, "experiments/partials/run_attempts.html", page)
    # Without JavaScript the filters lead to the run page itself, scrolled to the table.
    return redirect(reverse("experiments:run-detail", args=[run.pk]) + "?" + request.GET.urlencode() + "#attempts")


@org_page(minimum_role=Role.MEMBER)
@require_POST
def run_cancel(request: HttpRequest, context: OrgContext, run_id: int) -> HttpResponse:
    try:
        runs.run_cancel(run=selectors.run_get(org=context.org, run_id=run_id))
    except ApiError as exc:
        if exc.status_code == 404:
            raise
        messages.error(request, exc.message)
    return redirect("experiments:run-detail", run_id=run_id)


@org_page(minimum_role=Role.MEMBER)
@require_POST
def run_retry_failed(request: HttpRequest, context: OrgContext, run_id: int) -> HttpResponse:
    try:
        run = runs.run_retry_failed(run=selectors.run_get(org=context.org, run_id=run_id))
    except ApiError as exc:
        if exc.status_code == 404:
            raise
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{run.total - run.done} failed attempt(s) queued again.")
    return redirect("experiments:run-detail", run_id=run_id)
