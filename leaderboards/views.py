"""Dashboard page of a run's leaderboard: tables plus plotly bars with error bars (bundled plotly, no CDN)."""

from __future__ import annotations

import json
from pathlib import Path

import plotly
import plotly.graph_objects as go
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

from benchhub.api.errors import NotFound
from leaderboards import selectors
from orgs.views import dashboard_context

PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"

_CHARTS = (
    ("quality", "Mean rule score (95% bounds)", 1.0),
    ("speed", "Latency p50, ms (95% bounds)", 1.0),
    ("cost", "USD per attempt (95% bounds; unpriced arms left out)", 1.0),
    ("evaluator", "Evaluator score (95% bounds)", 1.0),
)


def _bar_chart(rows: list[dict], title: str) -> dict | None:
    """A plotly figure as JSON: one bar per arm with asymmetric error bars from the bounds."""
    rows = [r for r in rows if r.get("value") is not None]
    if not rows:
        return None
    values = [r["value"] for r in rows]
    figure = go.Figure(
        go.Bar(
            x=[r["arm"] for r in rows],
            y=values,
            error_y={
                "type": "data",
                "symmetric": False,
                "array": [(r["ci_high"] - r["value"]) if r["ci_high"] is not None else 0 for r in rows],
                "arrayminus": [(r["value"] - r["ci_low"]) if r["ci_low"] is not None else 0 for r in rows],
            },
            text=[f"rank {r['rank']}" + (" · low sample" if r.get("low_sample") else "") for r in rows],
            hovertemplate="%{x}<br>%{y}<br>%{text}<extra></extra>",
        )
    )
    figure.update_layout(title=title, margin={"l": 50, "r": 20, "t": 50, "b": 120}, height=380)
    return json.loads(figure.to_json())  # plain JSON types, handed to the template by json_script


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
    charts = [
        {"id": f"chart-{name}", "data_id": f"chart-{name}-data", "figure": figure}
        for name, title, _ in _CHARTS
        if (figure := _bar_chart(payload[name], title)) is not None
    ]
    page = {"org_context": context, "board": payload, "charts": charts, "run_id": run_id}
    template = "leaderboards/partials/boards.html" if getattr(request, "htmx", False) else "leaderboards/run.html"
    return render(request, template, page)


@require_GET
@cache_control(max_age=7 * 24 * 3600, public=True)
def plotly_js(request: HttpRequest) -> FileResponse:
    """plotly.js as shipped inside the plotly Python package: same version as the figures, no CDN."""
    return FileResponse(PLOTLY_JS.open("rb"), content_type="application/javascript")
