"""Dashboard pages of experiments: the list, the new-experiment form, one experiment with its runs,
its cross-run board and trends, and the Start run form (URLs and field names: API.md "Dashboard")."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from benchhub.api.errors import ApiError
from experiments import runs, selectors, services
from experiments.experiment_form import ExperimentForm
from orgs.access import OrgContext
from orgs.dashboard import org_page
from orgs.models import Role


@org_page()
def experiment_list(request: HttpRequest, context: OrgContext) -> HttpResponse:
    experiments = selectors.experiment_list(org=context.org).annotate(run_count=Count("runs"))[:200]
    return render(request, "experiments/experiments.html", {"org_context": context, "experiments": experiments})


def _error_lines(exc: ApiError) -> list[str]:
    """A service error as lines a person can act on: its message, then each detail."""
    lines = [exc.message]
    details = exc.details
    if isinstance(details, dict):
        for key, value in details.items():
            for item in value if isinstance(value, list) else [value]:
                lines.append(f"{key}: {item}")
    elif isinstance(details, list):
        for item in details:
            lines.append(f"{item.get('field', '')}: {item.get('message', item)}" if isinstance(item, dict) else str(item))
    return lines


@org_page(minimum_role=Role.MEMBER)
@require_http_methods(["GET", "POST"])
def experiment_new(request: HttpRequest, context: OrgContext) -> HttpResponse:
    form = ExperimentForm(request.POST or None, org=context.org)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                experiment = services.experiment_create(
                    org=context.org, created_by=context.user, **form.service_arguments()
                )
            except ApiError as exc:
                for line in _error_lines(exc):
                    form.add_error(None, line)
                status = exc.status_code
            else:
                messages.success(request, f"Experiment “{experiment.name}” created. Start a run when ready.")
                return redirect("experiments:experiment-detail", experiment_id=experiment.pk)
        else:
            status = 400
    page: dict[str, Any] = {
        "org_context": context, "form": form, "arm_rows": form.arm_rows, "scorer_rows": form.scorer_rows(),
        "has_datasets": form.fields["dataset"].queryset.exists(),
    }
    return render(request, "experiments/experiment_new.html", page, status=status)


@org_page()
def experiment_detail(request: HttpRequest, context: OrgContext, experiment_id: int) -> HttpResponse:
    from leaderboards.charts import trends_figure
    from leaderboards.selectors import experiment_leaderboard_get, trends_get

    experiment = selectors.experiment_get(org=context.org, experiment_id=experiment_id)
    runs = selectors.run_list(org=context.org).filter(experiment=experiment)[:100]
    board = experiment_leaderboard_get(org=context.org, experiment_id=experiment.pk)
    trends = trends_figure(trends_get(org=context.org, experiment_id=experiment.pk))
    return render(request, "experiments/experiment_detail.html", {
        "org_context": context, "experiment": experiment, "arms": list(experiment.arms.all()), "runs": runs,
        "board": board, "trends": trends,
    })


@org_page(minimum_role=Role.MEMBER)
@require_POST
def experiment_run_start(request: HttpRequest, context: OrgContext, experiment_id: int) -> HttpResponse:
    experiment = selectors.experiment_get(org=context.org, experiment_id=experiment_id)
    try:
        run = runs.run_start(experiment=experiment, started_by=context.user)
    except ApiError as exc:
        messages.error(request, " ".join(_error_lines(exc)))
        return redirect("experiments:experiment-detail", experiment_id=experiment.pk)
    return redirect("experiments:run-detail", run_id=run.pk)
