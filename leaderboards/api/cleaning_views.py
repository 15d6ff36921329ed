"""Seed 002's data-cleaning metric routes: `metrics/overview/`, `metrics/dimension/{name}/`,
`metrics/{f1|corruption|drift|reliability|robustness}/{model}/`, over the caller's org's runs.

Lists are paginated (`count, next, previous, results`); the figures beside a list ride along in
the same object. `model` is an arm as the cross-run boards name it (`provider:model`), URL-encoded
or not: it may hold `:` and `/`.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from benchhub.api.pagination import StandardPagination
from leaderboards import cleaning_selectors as selectors
from orgs.permissions import org_context

_THRESHOLD = OpenApiParameter(
    "low_sample", int, description="Flag arms with fewer cases than this (default: the server setting)."
)


class _Input(serializers.Serializer):
    low_sample = serializers.IntegerField(required=False, min_value=0)


def _threshold(request: Request) -> int | None:
    data = _Input(data=request.query_params)
    data.is_valid(raise_exception=True)
    return data.validated_data.get("low_sample")


def _page(request: Request, view: APIView, rows: list[dict[str, Any]], **extra: Any) -> Response:
    paginator = StandardPagination()
    page = paginator.paginate_queryset(rows, request, view=view)
    response = paginator.get_paginated_response(page)
    response.data.update(extra)
    return response


_INTERVAL = serializers.DictField(allow_null=True, help_text="value, ci_low, ci_high (95%), rank")


class MetricsOverviewView(APIView):
    class RowSerializer(serializers.Serializer):
        arm = serializers.CharField()
        n = serializers.IntegerField(help_text="Attempts counted.")
        cases = serializers.IntegerField()
        low_sample = serializers.BooleanField()
        f1 = _INTERVAL
        precision = _INTERVAL
        recall = _INTERVAL
        corruption_rate = _INTERVAL
        drift = _INTERVAL
        reliability = _INTERVAL
        robustness = _INTERVAL
        auditability = _INTERVAL

    @extend_schema(parameters=[_THRESHOLD], responses=inline_serializer("MetricsOverview", {
        "count": serializers.IntegerField(), "next": serializers.URLField(allow_null=True),
        "previous": serializers.URLField(allow_null=True), "results": RowSerializer(many=True),
        "runs": serializers.ListField(child=serializers.IntegerField()),
    }))
    def get(self, request: Request) -> Response:
        data = selectors.metrics_overview_get(org=org_context(request).org, threshold=_threshold(request))
        return _page(request, self, data["rows"], runs=data["runs"])


class MetricsDimensionView(APIView):
    @extend_schema(parameters=[_THRESHOLD], responses=inline_serializer("MetricsDimension", {
        "count": serializers.IntegerField(), "next": serializers.URLField(allow_null=True),
        "previous": serializers.URLField(allow_null=True),
        "results": serializers.ListField(child=serializers.DictField(), help_text=(
            "Per arm: value = mean F1 on cases with errors of the dimension, bounds, rank; errors, repaired, "
            "recall with recall_ci_low/high.")),
        "dimension": serializers.CharField(),
    }))
    def get(self, request: Request, name: str) -> Response:
        rows = selectors.metrics_dimension_get(org=org_context(request).org, name=name, threshold=_threshold(request))
        return _page(request, self, rows, dimension=name)


class MetricsArmView(APIView):
    @extend_schema(parameters=[_THRESHOLD], responses=inline_serializer("MetricsArm", {
        "arm": serializers.CharField(), "metric": serializers.CharField(),
        "overall": serializers.DictField(allow_null=True, help_text="arm, n, cases, value, ci_low, ci_high, rank."),
        "count": serializers.IntegerField(), "next": serializers.URLField(allow_null=True),
        "previous": serializers.URLField(allow_null=True),
        "results": serializers.ListField(child=serializers.DictField(), help_text="The arm run by run, oldest first."),
    }))
    def get(self, request: Request, metric: str, model: str) -> Response:
        data = selectors.metrics_arm_get(org=org_context(request).org, metric=metric, arm=model,
                                         threshold=_threshold(request))
        runs = data.pop("runs")
        return _page(request, self, runs, **data)
