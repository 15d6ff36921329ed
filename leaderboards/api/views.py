"""API of the leaderboards app: run boards, head to head, pairwise ratings, export, cross-run boards, trends.

Payloads are built by the selectors from persisted aggregates and cached whole, so the views
return them as they come; the serializers below describe them in the OpenAPI schema.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from benchhub.api.errors import ValidationFailed
from experiments.models import Run
from experiments.outcomes import EXPORT_COLUMNS, attempt_rows_for_export
from leaderboards import planner, recommendation, selectors, stats
from orgs.permissions import org_context
from orgs.scoping import get_for_org

_THRESHOLD = OpenApiParameter(
    "low_sample", int, description="Flag arms with fewer cases than this (default: the server setting)."
)
_PROFILE = OpenApiParameter(
    "evaluator_profile", str,
    description="Evaluator profile version whose scores the evaluator board combines (default: the latest).",
)


class BoardRowSerializer(serializers.Serializer):
    arm = serializers.CharField()
    n = serializers.IntegerField(help_text="Attempts counted.")
    cases = serializers.IntegerField(help_text="Distinct cases counted (the unit of the bootstrap).")
    value = serializers.FloatField(allow_null=True)
    ci_low = serializers.FloatField(allow_null=True, help_text="95% lower bound.")
    ci_high = serializers.FloatField(allow_null=True, help_text="95% upper bound.")
    rank = serializers.IntegerField(allow_null=True, help_text=(
        "1 + arms whose bounds clear this arm's; quality: a new rank only where every arm above beats every "
        "arm below by bounds and the Holm-corrected paired test."))
    low_sample = serializers.BooleanField()


class BoardsSerializer(serializers.Serializer):
    quality = BoardRowSerializer(many=True, help_text="Mean rule score; extra: pass_rate, pass_ci_low/high.")
    speed = BoardRowSerializer(many=True, help_text="Latency p50 ms; extra: p90/p95/p99, ttft_p50, tokens_per_second.")
    cost = BoardRowSerializer(many=True, help_text="USD per attempt; status 'unpriced' rows have no value or rank.")
    evaluator = BoardRowSerializer(many=True, help_text="Mean evaluator score; empty until the evaluator scores.")
    cleaning = serializers.DictField(allow_null=True, help_text=(
        "Data-cleaning runs only (else null): a board per metric (f1, precision, recall, corruption_rate, drift, "
        "reliability, robustness, auditability), by_dimension and by_difficulty boards, attempts counts."))


def _threshold(request: Request) -> int | None:
    raw = request.query_params.get("low_sample")
    if raw is None:
        return None
    try:
        return max(0, int(raw))
    except ValueError:
        raise serializers.ValidationError({"low_sample": "An integer is required."}) from None


class RunLeaderboardView(APIView):
    class OutputSerializer(BoardsSerializer):
        run = serializers.IntegerField()
        state = serializers.ChoiceField(choices=["partial", "final"])
        version = serializers.IntegerField()
        computed_at = serializers.DateTimeField()
        evaluator_profile = serializers.CharField(allow_null=True)
        evaluator_trust = serializers.DictField(
            allow_null=True, help_text="Beside the evaluator board: the judge's κ and confusion matrix against the PR "
            "tests on this run, and its position bias.")
        frontier = serializers.ListField(child=serializers.DictField())
        failures = serializers.DictField(help_text="Failed attempts by error type and by arm.")

    @extend_schema(parameters=[_THRESHOLD], responses=OutputSerializer)
    def get(self, request: Request, run_id: int) -> Response:
        return Response(selectors.run_leaderboard_get(
            org=org_context(request).org, run_id=run_id, threshold=_threshold(request)))


class RunPairwiseView(APIView):
    class OutputSerializer(serializers.Serializer):
        arms = serializers.ListField(child=serializers.CharField())
        wins = serializers.ListField(child=serializers.ListField(child=serializers.IntegerField()))
        ties = serializers.ListField(child=serializers.ListField(child=serializers.IntegerField()))
        win_rate = serializers.ListField(child=serializers.ListField(child=serializers.FloatField(allow_null=True)))
        ratings = serializers.ListField(child=serializers.DictField(), help_text="Bradley–Terry, Elo scale, 95% bounds.")

    @extend_schema(responses=OutputSerializer)
    def get(self, request: Request, run_id: int) -> Response:
        return Response(selectors.run_pairwise_get(org=org_context(request).org, run_id=run_id))


class RunCompareView(APIView):
    class InputSerializer(serializers.Serializer):
        a = serializers.CharField(help_text="Arm label (provider:model[#N]) or arm id.")
        b = serializers.CharField()

    class OutputSerializer(serializers.Serializer):
        a = serializers.CharField()
        b = serializers.CharField()
        wins = serializers.IntegerField()
        losses = serializers.IntegerField()
        ties = serializers.IntegerField()
        n = serializers.IntegerField()
        win_rate = serializers.FloatField(allow_null=True, help_text="wins / (wins + losses), Wilson bounds.")
        ci_low = serializers.FloatField(allow_null=True)
        ci_high = serializers.FloatField(allow_null=True)
        p_value = serializers.FloatField(help_text="Two-sided exact sign test.")
        mcnemar = serializers.DictField(allow_null=True)
        cases = serializers.ListField(child=serializers.DictField())

    @extend_schema(parameters=[InputSerializer], responses=OutputSerializer)
    def get(self, request: Request, run_id: int) -> Response:
        data = self.InputSerializer(data=request.query_params)
        data.is_valid(raise_exception=True)
        return Response(selectors.run_compare_get(org=org_context(request).org, run_id=run_id, **data.validated_data))


class _CSVRenderer(BaseRenderer):
    media_type = "text/csv"
    format = "csv"

    def render(self, data, accepted_media_type=None, renderer_context=None):  # type: ignore[no-untyped-def]
        return json.dumps(data).encode()


class _JSONExportRenderer(JSONRenderer):
    """Lets `?format=json` select JSON (DRF reads `format` as a renderer choice)."""


# A spreadsheet runs a cell that starts with one of these as a formula (`=HYPERLINK(...)`,
# `+cmd|...`); model outputs and case ids are anyone's text, so such cells get a leading `'`.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value)
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def _csv_stream(rows: Iterator[dict]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    for row in rows:
        writer.writerow([csv_cell(v) for v in row.values()])
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _json_stream(rows: Iterator[dict]) -> Iterator[str]:
    yield "["
    first = True
    for row in rows:
        yield ("" if first else ",") + json.dumps(row)
        first = False
    yield "]"


class ExportRowSerializer(serializers.Serializer):
    """One attempt in an export (CSV columns in this order; `scores` is JSON text in CSV)."""

    id = serializers.IntegerField()
    arm = serializers.CharField()
    case = serializers.CharField()
    sample = serializers.IntegerField()
    status = serializers.CharField()
    score_value = serializers.FloatField(allow_null=True)
    passed = serializers.BooleanField(allow_null=True)
    evaluator_score = serializers.FloatField(allow_null=True)
    scores = serializers.DictField()
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    cached_tokens = serializers.IntegerField()
    cost_usd = serializers.CharField(allow_null=True, help_text="Exact decimal; null = unpriced.")
    latency_ms = serializers.FloatField(allow_null=True)
    ttft_ms = serializers.FloatField(allow_null=True)
    error_type = serializers.CharField()
    retries = serializers.IntegerField()
    queued_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    responded_at = serializers.DateTimeField(allow_null=True)
    validated_at = serializers.DateTimeField(allow_null=True)
    scored_at = serializers.DateTimeField(allow_null=True)


class RunExportView(APIView):
    renderer_classes = [_JSONExportRenderer, _CSVRenderer]

    @extend_schema(
        parameters=[OpenApiParameter("format", str, enum=["csv", "json"])],
        responses={(200, "text/csv"): OpenApiTypes.STR, (200, "application/json"): ExportRowSerializer(many=True)},
    )
    def get(self, request: Request, run_id: int):  # type: ignore[no-untyped-def]
        run = get_for_org(Run.objects.only("id", "org_id"), org_context(request).org, pk=run_id)
        fmt = request.query_params.get("format", "json")
        rows = attempt_rows_for_export(run_id=run.pk)
        if fmt == "csv":
            response = StreamingHttpResponse(_csv_stream(rows), content_type="text/csv")
        else:
            response = StreamingHttpResponse(_json_stream(rows), content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="run-{run.pk}-attempts.{fmt}"'
        return response

    def perform_content_negotiation(self, request, force=False):  # type: ignore[no-untyped-def]
        # DRF answers an unknown `?format=` with 404; for an export it is a bad parameter.
        if request.query_params.get("format", "json") not in ("csv", "json"):
            raise ValidationFailed("format must be csv or json.", details={"format": ["csv", "json"]})
        return super().perform_content_negotiation(request, force)

    def handle_exception(self, exc):  # type: ignore[no-untyped-def]
        # Errors stay in the JSON envelope even when the caller asked for CSV.
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = "application/json"
        return super().handle_exception(exc)


class CrossRunSerializer(BoardsSerializer):
    runs = serializers.ListField(child=serializers.IntegerField())
    evaluator_profile = serializers.CharField(allow_null=True)
    evaluator_profiles = serializers.ListField(child=serializers.CharField())
    frontier = serializers.ListField(child=serializers.DictField())


class ExperimentLeaderboardView(APIView):
    @extend_schema(parameters=[_THRESHOLD, _PROFILE], responses=CrossRunSerializer)
    def get(self, request: Request, experiment_id: int) -> Response:
        return Response(selectors.experiment_leaderboard_get(
            org=org_context(request).org, experiment_id=experiment_id,
            evaluator_profile=request.query_params.get("evaluator_profile"), threshold=_threshold(request)))


class DatasetLeaderboardView(APIView):
    class InputSerializer(serializers.Serializer):
        since = serializers.DateTimeField(required=False, help_text="Runs that ended at or after this time.")
        until = serializers.DateTimeField(required=False, help_text="Runs that ended before this time.")
        evaluator_profile = serializers.CharField(required=False)
        low_sample = serializers.IntegerField(required=False, min_value=0)

    @extend_schema(parameters=[InputSerializer], responses=CrossRunSerializer)
    def get(self, request: Request, dataset_id: int) -> Response:
        data = self.InputSerializer(data=request.query_params)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        return Response(selectors.dataset_leaderboard_get(
            org=org_context(request).org, dataset_id=dataset_id, evaluator_profile=v.get("evaluator_profile"),
            since=v.get("since"), until=v.get("until"), threshold=v.get("low_sample")))


class TrendsSerializer(serializers.Serializer):
    arms = serializers.ListField(child=serializers.DictField(), help_text=(
        "Per arm: points (run, at, quality, speed, cost) oldest first; evaluator points by profile version."))


class ExperimentTrendsView(APIView):
    @extend_schema(responses=TrendsSerializer)
    def get(self, request: Request, experiment_id: int) -> Response:
        return Response(selectors.trends_get(org=org_context(request).org, experiment_id=experiment_id))


class DatasetTrendsView(APIView):
    @extend_schema(responses=TrendsSerializer)
    def get(self, request: Request, dataset_id: int) -> Response:
        return Response(selectors.trends_get(org=org_context(request).org, dataset_id=dataset_id))


# --- Planner, recommendation (issue 17: rankings you can defend) -------------------------------


class PlannerInputSerializer(serializers.Serializer):
    metric = serializers.ChoiceField(choices=list(planner.METRICS), default="pass_rate")
    baseline = serializers.FloatField(min_value=0.001, max_value=0.999, help_text="Expected rate (or mean score) of the weaker arm.")
    difference = serializers.FloatField(min_value=0.001, max_value=0.999, help_text="Smallest difference worth telling apart.")
    arms = serializers.IntegerField(min_value=2, max_value=100, default=2)
    samples_per_case = serializers.IntegerField(min_value=1, max_value=100, default=1)
    icc = serializers.FloatField(min_value=0.0, max_value=1.0, default=0.0,
                                 help_text="Correlation of two samples of one case (0: independent samples).")
    power = serializers.FloatField(min_value=0.5, max_value=0.999, default=0.8)
    confidence = serializers.FloatField(min_value=0.5, max_value=0.999, default=stats.CONFIDENCE)
    sd = serializers.FloatField(min_value=0.0, max_value=0.5, required=False,
                                help_text="mean_score only: sd of one attempt's score (default: the largest possible).")

    def validate(self, attrs: dict) -> dict:
        if attrs["baseline"] + attrs["difference"] > 1 and attrs["baseline"] - attrs["difference"] < 0:
            raise serializers.ValidationError({"difference": "Too large for this baseline: both arms must stay in 0..1."})
        if attrs.get("sd") is not None and attrs["metric"] != "mean_score":
            raise serializers.ValidationError({"sd": "Only for metric=mean_score."})
        return attrs


class PlanSerializer(serializers.Serializer):
    cases = serializers.IntegerField(help_text="Cases needed, each answered by every arm samples_per_case times.")
    attempts = serializers.IntegerField()
    metric = serializers.CharField()
    baseline = serializers.FloatField()
    difference = serializers.FloatField()
    arms = serializers.IntegerField()
    samples_per_case = serializers.IntegerField()
    icc = serializers.FloatField()
    power = serializers.FloatField()
    confidence = serializers.FloatField()
    pairs = serializers.IntegerField()
    alpha_per_pair = serializers.FloatField()
    test = serializers.CharField()


class PlannerView(APIView):
    @extend_schema(parameters=[PlannerInputSerializer], responses=PlanSerializer)
    def get(self, request: Request) -> Response:
        data = PlannerInputSerializer(data=request.query_params)
        data.is_valid(raise_exception=True)
        return Response(planner.plan(**data.validated_data).as_dict())


class RunPlannerView(APIView):
    class InputSerializer(serializers.Serializer):
        metric = serializers.ChoiceField(choices=list(planner.METRICS), default="pass_rate")
        difference = serializers.FloatField(min_value=0.001, max_value=0.999, required=False,
                                            help_text="Default: the observed gap between the two leading arms.")
        power = serializers.FloatField(min_value=0.5, max_value=0.999, default=0.8)

    class OutputSerializer(serializers.Serializer):
        run = serializers.IntegerField()
        cases = serializers.IntegerField(allow_null=True)
        cases_now = serializers.IntegerField(allow_null=True)
        more_cases = serializers.IntegerField(allow_null=True)
        arms = serializers.ListField(child=serializers.CharField())
        observed_difference = serializers.FloatField(allow_null=True)
        assumptions = PlanSerializer(allow_null=True)
        message = serializers.CharField()

    @extend_schema(parameters=[InputSerializer], responses=OutputSerializer)
    def get(self, request: Request, run_id: int) -> Response:
        data = self.InputSerializer(data=request.query_params)
        data.is_valid(raise_exception=True)
        return Response(planner.run_plan_get(org=org_context(request).org, run_id=run_id, **data.validated_data))


class RecommendationInputSerializer(serializers.Serializer):
    max_cost_usd = serializers.FloatField(min_value=0.0, required=False, help_text="USD per attempt, judged on the upper bound.")
    max_p95_ms = serializers.FloatField(min_value=0.0, required=False, help_text="p95 latency, judged on the upper bound.")
    min_pass_rate = serializers.FloatField(min_value=0.0, max_value=1.0, required=False,
                                           help_text="Judged on the lower bound of the pass rate.")


class RecommendationSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)
    run = serializers.IntegerField(required=False, help_text="Or `experiment` / `dataset`: the scope judged.")
    results = serializers.ListField(child=serializers.DictField(), help_text=(
        "Qualifying arms best first: arm, p_best (bootstrap probability of being the best qualifier), "
        "qualifies_on (per limit: limit, bound, ok), quality, ci_low, ci_high, pass_rate, cost_per_attempt, p95_ms."))
    excluded = serializers.ListField(child=serializers.DictField())
    tie = serializers.BooleanField()
    limits = serializers.DictField()
    message = serializers.CharField()


class RecommendationView(APIView):
    """`runs/{id}/`, `experiments/{id}/` and `datasets/{id}/recommendation/`: one question, three scopes."""

    @extend_schema(parameters=[RecommendationInputSerializer], responses=RecommendationSerializer)
    def get(self, request: Request, **scope: int) -> Response:
        data = RecommendationInputSerializer(data=request.query_params)
        data.is_valid(raise_exception=True)
        org, limits = org_context(request).org, recommendation.Limits(**data.validated_data)
        if "run_id" in scope:
            return Response(recommendation.run_recommendation_get(org=org, run_id=scope["run_id"], limits=limits))
        return Response(recommendation.cross_run_recommendation_get(org=org, limits=limits, **scope))
