"""Dashboard page of one attempt: its case, output, patch, validation steps, scores, timeline,
usage, cost, retries and errors."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from experiments import selectors
from experiments.models import Attempt
from orgs.access import OrgContext
from orgs.dashboard import org_page

# Case fields shown under their own headings rather than in the generic field list.
_CASE_HIDDEN = frozenset({"id", "metadata", "tags"})
_TIMELINE = ("queued", "started", "responded", "validated", "scored")


def case_fields(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """A case's fields for display: text as text, a `{"path": "content"}` map as files, the rest as JSON."""
    fields = []
    for name, value in payload.items():
        if name in _CASE_HIDDEN:
            continue
        files = value.get("files") if isinstance(value, dict) and isinstance(value.get("files"), dict) else value
        if isinstance(files, dict) and files and all(isinstance(v, str) for v in files.values()):
            fields.append({"name": name, "files": sorted(files.items())})
        else:
            fields.append({"name": name, "value": value, "text": isinstance(value, str)})
    return fields


def timeline(attempt: Attempt) -> list[dict[str, Any]]:
    """Each stage the attempt reached, with the time since it was queued."""
    start = attempt.queued_at
    steps = []
    for stage in _TIMELINE:
        at = getattr(attempt, f"{stage}_at")
        steps.append({"stage": stage, "at": at,
                      "since_ms": (at - start).total_seconds() * 1000 if at and start else None})
    return steps


@org_page()
@require_GET
def attempt_detail(request: HttpRequest, context: OrgContext, attempt_id: int) -> HttpResponse:
    attempt = selectors.attempt_get(org=context.org, attempt_id=attempt_id)
    case = attempt.task_instance.case
    return render(request, "experiments/attempt_detail.html", {
        "org_context": context, "attempt": attempt, "case": case, "case_fields": case_fields(case.payload),
        "timeline": timeline(attempt), "steps": (attempt.validation or {}).get("steps") or [],
        "scores": sorted((attempt.scores or {}).items()),
    })
