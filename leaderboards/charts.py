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
