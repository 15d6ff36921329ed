"""Dashboard page of one dataset version: its cases (paginated, searchable) and its other versions."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from experiments import selectors
from experiments.views_attempts import case_fields
from orgs.access import OrgContext
from orgs.dashboard import org_page

CASES_PER_PAGE = 25


def _summary(payload: dict) -> str:
    """The line a case is recognised by: its prompt, instruction or question, whichever its kind has."""
    for key in ("input", "instruction", "question"):
        value = payload.get(key)
        if isinstance(value, str):
            return value
        if isinstance(value, list) and value and isinstance(value[-1], dict):  # a list of messages
            return str(value[-1].get("content", ""))
    return ""


@org_page()
@require_GET
def dataset_detail(request: HttpRequest, context: OrgContext, dataset_id: int) -> HttpResponse:
    dataset = selectors.dataset_get(org=context.org, dataset_id=dataset_id)
    search = request.GET.get("q", "").strip()[:200]
    page = Paginator(selectors.dataset_cases(dataset=dataset, search=search), CASES_PER_PAGE).get_page(
        request.GET.get("page"))
    return render(request, "experiments/dataset_detail.html", {
        "org_context": context, "dataset": dataset, "search": search, "cases_page": page,
        "cases": [{"case": c, "fields": case_fields(c.payload), "summary": _summary(c.payload)} for c in page.object_list],
        "versions": selectors.dataset_list(org=context.org).filter(name=dataset.name).order_by("-version"),
        "experiments": selectors.experiment_list(org=context.org).filter(dataset=dataset)[:50],
    })
