"""Dashboard page of a head-to-head: two arms of one run on the same task instances.

The summary (wins, losses, ties, win rate and bounds, sign-test p-value, McNemar) comes from the
persisted per-case statistics (`leaderboards.selectors.run_compare_get`); the case-by-case part
shows a page of cases with both arms' answers side by side.
"""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from benchhub.api.errors import ValidationFailed
from experiments import selectors as experiment_selectors
from leaderboards import selectors
from orgs.access import OrgContext
from orgs.dashboard import org_page

CASES_PER_PAGE = 20
# The case filters: which per-case outcome each shows ("both failed": both arms scored 0 there).
SHOW = {
    "": ("all cases", lambda row: True),
    "a_better": ("A better", lambda row: row["outcome"] == "win"),
    "b_better": ("B better", lambda row: row["outcome"] == "loss"),
    "both_failed": ("both failed", lambda row: row["a"] == 0 and row["b"] == 0),
}


@org_page()
@require_GET
def run_compare_page(request: HttpRequest, context: OrgContext, run_id: int) -> HttpResponse:
    run = experiment_selectors.run_get(org=context.org, run_id=run_id)
    labels = list(run.experiment.arms.values_list("label", flat=True))
    a, b = request.GET.get("a", "").strip(), request.GET.get("b", "").strip()
    show = request.GET.get("show", "") if request.GET.get("show", "") in SHOW else ""
    page = {"org_context": context, "run": run, "labels": labels, "a": a, "b": b, "show": show,
            "filters": [(key, label) for key, (label, _) in SHOW.items()]}
    if not (a and b):
        return render(request, "leaderboards/compare.html", page)
    if a == b:
        page["error"] = "Pick two different arms."
        return render(request, "leaderboards/compare.html", page, status=400)
    try:
        result = selectors.run_compare_get(org=context.org, run_id=run.pk, a=a, b=b)
    except ValidationFailed as exc:
        page["error"] = exc.message + " Ended attempts are compared once the run's board has them."
        return render(request, "leaderboards/compare.html", page, status=400)
    keep = SHOW[show][1]
    rows = [row for row in result["cases"] if keep(row)]
    cases_page = Paginator(rows, CASES_PER_PAGE).get_page(request.GET.get("page"))
    attempts = experiment_selectors.attempts_side_by_side(
        run=run, arms=[result["a"], result["b"]], cases=[row["case"] for row in cases_page.object_list])
    page.update({
        "result": result, "cases_page": cases_page,
        "counts": {key: sum(1 for row in result["cases"] if test(row)) for key, (_, test) in SHOW.items()},
        "case_rows": [
            {**row, "a_attempts": attempts.get((row["case"], result["a"]), []),
             "b_attempts": attempts.get((row["case"], result["b"]), [])}
            for row in cases_page.object_list
        ],
    })
    return render(request, "leaderboards/compare.html", page)
