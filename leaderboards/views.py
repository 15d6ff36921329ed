"""Dashboard page of a run's leaderboard: tables and plotly charts (bars with bounds, pairwise heatmap,
Bradley–Terry ratings, cost–quality frontier, latency boxes), plotly.js bundled, no CDN."""

from __future__ import annotations

from pathlib import Path

import plotly
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

from benchhub.api.errors import NotFound
from leaderboards import charts, selectors
from orgs.views import dashboard_context

PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"

# Board name, chart title, value format (d3): each drawn as bars with their 95% bounds.
_CHARTS = (
    ("quality", "Mean rule score (95% bounds)", ".3f"),
    ("speed", "Latency p50, ms (95% bounds)", ",.0f"),
    ("cost", "USD per attempt (95% bounds; unpriced arms left out)", "$.3g"),
    ("evaluator", "Evaluator score (95% bounds)", ".3f"),
)


def _charts(*, org, run_id: int, payload: dict, pairwise: dict) -> list[dict]:  # type: ignore[no-untyped-def]
    """Every chart of the page, in reading order; a chart without data is left out."""
    from experiments.selectors import run_get, run_latency_samples

    figures = [(name, charts.bar_with_bounds(payload[name], title, value_format=fmt)) for name, title, fmt in _CHARTS]
    figures += [
        ("pairwise", charts.pairwise_heatmap(pairwise)),
        ("ratings", charts.ratings_chart(pairwise)),
        ("frontier", charts.cost_quality_scatter(payload.get("frontier") or [])),
        ("latency", charts.latency_boxes(run_latency_samples(run=run_get(org=org, run_id=run_id)))),
    ]
    return [{"id": f"chart-{name}", "data_id": f"chart-{name}-data", "figure": figure}
            for name, figure in figures if figure is not None]


@login_required
@require_GET
def run_leaderboard_page(request: HttpRequest, run_id: int) -> HttpResponse:
    context = dashboard_context(request)
    if context is None:
        return render(request, "leaderboards/run.html", {"org_context": None}, status=403)
    try:
        payload = selectors.run_leaderboard_get(org=context.org, run_id=run_id)
    except NotFound:
        return render(request, "leaderboards/run.html", {"org_context": context, "missing": True}, status=404)
    pairwise = selectors.run_pairwise_get(org=context.org, run_id=run_id)
    page = {"org_context": context, "board": payload, "pairwise": pairwise, "run_id": run_id,
            "charts": _charts(org=context.org, run_id=run_id, payload=payload, pairwise=pairwise)}
    template = "leaderboards/partials/boards.html" if getattr(request, "htmx", False) else "leaderboards/run.html"
    return render(request, template, page)


@require_GET
@cache_control(max_age=7 * 24 * 3600, public=True)
def plotly_js(request: HttpRequest) -> FileResponse:
    """plotly.js as shipped inside the plotly Python package: same version as the figures, no CDN."""
    return FileResponse(PLOTLY_JS.open("rb"), content_type="application/javascript")
