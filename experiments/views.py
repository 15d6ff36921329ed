"""Dashboard pages: dataset upload and list, runs list, and a run's live progress page.

The pages call the same selectors and services as the API. The run page polls a small partial
(`hx-get` every 2 s while the run is live) that reads only the run row's counters.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from benchhub.api.errors import ApiError
from experiments import runs, selectors, services
from experiments.limits import upload_refuse_if_too_large
from experiments.models import CaseKind
from orgs.models import Role
from orgs.views import dashboard_context


class DatasetUploadForm(forms.Form):
    name = forms.CharField(max_length=200)
    kind = forms.ChoiceField(choices=CaseKind.choices)
    file = forms.FileField(allow_empty_file=True, help_text="JSONL (one object a line) or CSV with the kind's column names.")


def _forbidden(request: HttpRequest) -> HttpResponse:
    return render(request, "experiments/forbidden.html", {"org_context": None}, status=403)


@login_required
@require_http_methods(["GET", "POST"])
def dataset_list(request: HttpRequest) -> HttpResponse:
    context = dashboard_context(request)
    if context is None:
        return _forbidden(request)
    form = DatasetUploadForm()
    errors: list[dict] = []
    error_message = ""
    status = 200
    if request.method == "POST":
        if not context.can(Role.MEMBER):
            return _forbidden(request)
        form = DatasetUploadForm(request.POST, request.FILES)
        try:
            upload_refuse_if_too_large(request)  # counted while the file streamed in, never read whole
            if not form.is_valid():
                status = 400
            else:
                upload = form.cleaned_data["file"]
                dataset, created = services.dataset_create(
                    org=context.org, name=form.cleaned_data["name"], kind=form.cleaned_data["kind"],
                    content=upload.read(), filename=upload.name or "", created_by=context.user,
                )
                messages.success(
                    request,
                    f"Stored {dataset} ({dataset.rows} rows)." if created else f"Same content as {dataset}: nothing new.",
                )
                return redirect("experiments:datasets")
        except ApiError as exc:
            error_message, status = exc.message, exc.status_code
            errors = exc.details if isinstance(exc.details, list) else []
    return render(
        request,
        "experiments/datasets.html",
        {
            "org_context": context,
            "datasets": selectors.dataset_list(org=context.org)[:200],
            "form": form,
            "row_errors": errors,
            "error_message": error_message,
        },
        status=status,
    )


@login_required
def run_list(request: HttpRequest) -> HttpResponse:
    context = dashboard_context(request)
    if context is None:
        return _forbidden(request)
    return render(
        request, "experiments/runs.html", {"org_context": context, "runs": selectors.run_list(org=context.org)[:200]}
    )


@login_required
def run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    context = dashboard_context(request)
    if context is None:
        return _forbidden(request)
    try:
        run = selectors.run_get(org=context.org, run_id=run_id)
    except ApiError:
        return render(request, "experiments/not_found.html", {"org_context": context}, status=404)
    page = {"org_context": context, "run": run}
    if request.htmx:
        # The poll: counters from the run row only, never a count over attempts.
        return render(request, "experiments/partials/run_progress.html", page)
    page["arms"] = selectors.run_arm_breakdown(run=run)
    return render(request, "experiments/run_detail.html", page)


@login_required
@require_POST
def run_cancel(request: HttpRequest, run_id: int) -> HttpResponse:
    context = dashboard_context(request)
    if context is None or not context.can(Role.MEMBER):
        return _forbidden(request)
    try:
        runs.run_cancel(run=selectors.run_get(org=context.org, run_id=run_id))
    except ApiError as exc:
        messages.error(request, exc.message)
    return redirect("experiments:run-detail", run_id=run_id)
