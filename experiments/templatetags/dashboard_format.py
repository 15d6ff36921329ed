"""Formatting for dashboard numbers and artefacts: dollars with significant digits, percentages,
milliseconds, pretty JSON, and a unified diff split into coloured lines."""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

from django import template

register = template.Library()

DASH = "–"


def _number(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


@register.filter
def usd(value: Any, significant: int = 4) -> str:
    """Dollars with `significant` significant digits (never fewer than cents), so a tiny per-call
    cost shows as $0.000002345 instead of rounding to $0.00 and making two arms look equal."""
    number = _number(value)
    if number is None:
        return DASH
    if number == 0:
        return "$0"
    magnitude = math.floor(math.log10(abs(number)))
    # From a dollar up, cents; below, enough decimals for `significant` digits.
    decimals = 2 if magnitude >= 0 else max(2, int(significant) - 1 - magnitude)
    return f"{'-' if number < 0 else ''}${abs(number):,.{decimals}f}"


@register.filter
def pct(value: Any, decimals: int = 1) -> str:
    """A 0..1 rate as a percentage."""
    number = _number(value)
    return DASH if number is None else f"{number * 100:.{int(decimals)}f}%"


@register.filter
def ms(value: Any) -> str:
    """Milliseconds: whole below 10 s, seconds with one decimal above."""
    number = _number(value)
    if number is None:
        return DASH
    return f"{number:,.0f} ms" if abs(number) < 10_000 else f"{number / 1000:,.1f} s"


@register.filter
def score(value: Any) -> str:
    number = _number(value)
    return DASH if number is None else f"{number:.3f}"


@register.filter
def pretty_json(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False,
                      default=lambda o: str(o) if isinstance(o, Decimal) else repr(o))


@register.filter
def diff_lines(patch: str) -> list[tuple[str, str]]:
    """(css class, line) for each line of a unified diff: added, removed, hunk header, file header."""
    out = []
    for line in (patch or "").splitlines():
        if line.startswith(("+++", "---", "diff ", "index ")):
            kind = "diff-file"
        elif line.startswith("@@"):
            kind = "diff-hunk"
        elif line.startswith("+"):
            kind = "diff-add"
        elif line.startswith("-"):
            kind = "diff-del"
        else:
            kind = "diff-ctx"
        out.append((kind, line))
    return out


@register.simple_tag
def query_with(request: Any, **changes: Any) -> str:
    """The current query string with some parameters replaced (pagination links keep the filters)."""
    params = request.GET.copy()
    for key, value in changes.items():
        if value in (None, ""):
            params.pop(key, None)
        else:
            params[key] = value
    return params.urlencode()
