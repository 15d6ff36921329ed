"""Plotly figures for dashboard pages, built in Python and handed to templates as plain JSON."""

from __future__ import annotations

import json
from typing import Any

import plotly.graph_objects as go


def figure_json(figure: go.Figure) -> dict[str, Any]:
    """Plain JSON types for `json_script` (plotly's own encoder turns numpy values into lists)."""
    return json.loads(figure.to_json())


def trends_figure(trends: dict[str, Any]) -> dict[str, Any] | None:
    """Each arm's mean rule score run after run, with its 95% bounds as error bars. None: no ended runs."""
    traces = []
    for arm in trends.get("arms") or []:
        points = [p for p in arm["points"] if (p.get("quality") or {}).get("value") is not None]
        if not points:
            continue
        quality = [p["quality"] for p in points]
        traces.append(go.Scatter(
            x=[f"run {p['run']}" for p in points], y=[q["value"] for q in quality], name=arm["arm"],
            mode="lines+markers",
            error_y={"type": "data", "symmetric": False,
                     "array": [(q["ci_high"] or q["value"]) - q["value"] for q in quality],
                     "arrayminus": [q["value"] - (q["ci_low"] or q["value"]) for q in quality]},
        ))
    if not traces:
        return None
    figure = go.Figure(traces)
    figure.update_layout(title="Mean rule score run after run (95% bounds)", height=340,
                         margin={"l": 50, "r": 20, "t": 50, "b": 60}, yaxis={"range": [0, 1.05]})
    return figure_json(figure)


def _layout(figure: go.Figure, title: str, **extra: Any) -> dict[str, Any]:
    figure.update_layout(title=title, height=380, margin={"l": 60, "r": 20, "t": 50, "b": 110}, **extra)
    return figure_json(figure)


def bar_with_bounds(rows: list[dict[str, Any]], title: str, *, value_format: str) -> dict[str, Any] | None:
    """One bar per arm with asymmetric error bars from its 95% bounds; the rank sits in the hover
    text, not on the bar, so it never hides an error bar."""
    rows = [r for r in rows if r.get("value") is not None]
    if not rows:
        return None
    figure = go.Figure(go.Bar(
        x=[r["arm"] for r in rows], y=[r["value"] for r in rows],
        error_y={"type": "data", "symmetric": False,
                 "array": [(r["ci_high"] - r["value"]) if r.get("ci_high") is not None else 0 for r in rows],
                 "arrayminus": [(r["value"] - r["ci_low"]) if r.get("ci_low") is not None else 0 for r in rows]},
        customdata=[[r.get("rank"), " · low sample" if r.get("low_sample") else "", r.get("ci_low"), r.get("ci_high")]
                    for r in rows],
        hovertemplate=f"%{{x}}<br>%{{y:{value_format}}} (95%: %{{customdata[2]:{value_format}}} – "
                      f"%{{customdata[3]:{value_format}}})<br>rank %{{customdata[0]}}%{{customdata[1]}}<extra></extra>",
    ))
    return _layout(figure, title, yaxis={"tickformat": value_format})


def pairwise_heatmap(pairwise: dict[str, Any]) -> dict[str, Any] | None:
    """Row arm's win rate against column arm on the cases both answered (ties left out)."""
    arms = pairwise.get("arms") or []
    if len(arms) < 2:
        return None
    rates = pairwise["win_rate"]
    figure = go.Figure(go.Heatmap(
        z=rates, x=arms, y=arms, zmin=0, zmax=1, colorscale="RdBu", reversescale=False,
        text=[[("–" if v is None else f"{v:.0%}") for v in row] for row in rates], texttemplate="%{text}",
        hovertemplate="%{y} beats %{x}: %{z:.1%}<extra></extra>", colorbar={"tickformat": ".0%"},
    ))
    return _layout(figure, "Pairwise win rate (row arm against column arm)", yaxis={"autorange": "reversed"})


def ratings_chart(pairwise: dict[str, Any]) -> dict[str, Any] | None:
    """Bradley–Terry ratings (Elo scale) with their bootstrap bounds."""
    rows = [r for r in pairwise.get("ratings") or [] if r.get("rating") is not None]
    if len(rows) < 2:
        return None
    return bar_with_bounds([{**r, "value": r["rating"]} for r in rows],
                           "Bradley–Terry rating, Elo scale (95% bounds)", value_format=".0f")


def cost_quality_scatter(frontier: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Cost per attempt against mean score; the Pareto frontier (nothing both cheaper and better) joined."""
    if not frontier:
        return None
    on = sorted((p for p in frontier if p["on_frontier"]), key=lambda p: p["cost_per_attempt"])
    figure = go.Figure([
        go.Scatter(x=[p["cost_per_attempt"] for p in frontier], y=[p["quality"] for p in frontier],
                   text=[p["arm"] for p in frontier], mode="markers+text", textposition="top center", name="arms",
                   hovertemplate="%{text}<br>$%{x:.3g} per attempt<br>score %{y:.3f}<extra></extra>"),
        go.Scatter(x=[p["cost_per_attempt"] for p in on], y=[p["quality"] for p in on], mode="lines",
                   name="Pareto frontier", line={"dash": "dot"}, hoverinfo="skip"),
    ])
    return _layout(figure, "Cost and quality (Pareto frontier dotted)",
                   xaxis={"title": "USD per attempt", "tickformat": "$.3g"}, yaxis={"title": "mean score"})


def latency_boxes(samples: dict[str, list[float]]) -> dict[str, Any] | None:
    """Latency distribution per arm (box: quartiles, whiskers, outliers) of succeeded attempts."""
    if not samples:
        return None
    figure = go.Figure([go.Box(y=values, name=arm, boxpoints="outliers") for arm, values in samples.items()])
    return _layout(figure, "Latency per arm, ms (succeeded attempts)", yaxis={"title": "ms"}, showlegend=False)
