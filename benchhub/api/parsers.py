"""Bounded input: JSON nested past a sane depth and ids past a database integer are a 400, not a 500.

`json.loads` recurses in C and raises `RecursionError` (not `ValueError`) on a document nested
some thousand levels deep; a shallower one that still parses can break later code that walks it
recursively. Both are refused here, at the edge, by one depth rule.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError

from benchhub.api.errors import ValidationFailed

# The largest id a bigint column (and SQLite's INTEGER) holds.
MAX_ID = 2**63 - 1


class TooDeep(ValueError):
    pass


def json_depth(value: Any) -> int:
    """How deeply lists and objects nest in `value`, counted without recursion."""
    depth = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict):
            depth = max(depth, level)
            stack += [(v, level + 1) for v in node.values() if isinstance(v, dict | list)]
        elif isinstance(node, list):
            depth = max(depth, level)
            stack += [(v, level + 1) for v in node if isinstance(v, dict | list)]
    return depth


def json_loads_bounded(text: str | bytes, *, max_depth: int | None = None) -> Any:
    """`json.loads`, raising `TooDeep` (a `ValueError`) for documents nested past `max_depth`
    (default `BENCHHUB_JSON_MAX_DEPTH`); other malformed JSON raises `json.JSONDecodeError` as usual."""
    limit = settings.BENCHHUB_JSON_MAX_DEPTH if max_depth is None else max_depth
    try:
        value = json.loads(text)
    except RecursionError:
        raise TooDeep(f"JSON nested more than {limit} levels deep") from None
    if json_depth(value) > limit:
        raise TooDeep(f"JSON nested more than {limit} levels deep")
    return value


class BoundedJSONParser(parsers.JSONParser):
    """DRF's JSON parser with the depth bound: the default for every API view (auth/token/ too)."""

    def parse(self, stream, media_type=None, parser_context=None):  # type: ignore[no-untyped-def]
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(f"JSON parse error - nested more than {settings.BENCHHUB_JSON_MAX_DEPTH} levels deep") from None
        if json_depth(data) > settings.BENCHHUB_JSON_MAX_DEPTH:
            raise ParseError(f"JSON parse error - nested more than {settings.BENCHHUB_JSON_MAX_DEPTH} levels deep")
        return data


def query_id(raw: str | None, *, name: str) -> int | None:
    """An id from the query string: None when absent, a 400 `validation_error` unless it is plain
    ASCII digits within a database integer (`int("²")` and `2**64` would otherwise be a 500)."""
    if raw in (None, ""):
        return None
    if not (raw.isascii() and raw.isdigit()) or int(raw) > MAX_ID:
        raise ValidationFailed(details={name: ["A positive integer id is required."]})
    return int(raw)
