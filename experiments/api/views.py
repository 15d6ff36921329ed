"""REST API for datasets, experiments, runs and attempts (see shared/API.md for the field names)."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from benchhub.api.errors import PayloadTooLarge, ValidationFailed
from benchhub.api.pagination import paginated_response
from benchhub.api.parsers import BoundedJSONParser, query_id
from benchhub.api.throttling import RUN_CREATE_THROTTLES
from evaluation.api.views import EvaluatorScoreOutputSerializer
from evaluation.sample import evaluator_score
from experiments import runs, selectors, services
from experiments.limits import upload_refuse_if_too_large
from experiments.models import Attempt, AttemptStatus, CaseKind, Dataset, Experiment, Run, RunStatus
from leaderboards.selectors import run_leaderboard_summary
from orgs.permissions import org_context
from providers.pricing import USD_DECIMAL_PLACES, USD_MAX_DIGITS


def run_html_url(run: Run, request: Request | None = None) -> str:
    path = reverse("experiments:run-detail", args=[run.pk])
    return request.build_absolute_uri(path) if request is not None else path


# --- shared output shapes ----------------------------------------------------------------------


class DatasetOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Dataset
        fields = ["id", "name", "version", "kind", "rows", "checksum", "source", "created_at"]


class ArmSerializer(serializers.Serializer):
    provider = serializers.CharField(max_length=32)
    model = serializers.CharField(max_length=200)
    config = serializers.DictField(required=False, default=dict)


class ArmOutputSerializer(ArmSerializer):
    id = serializers.IntegerField()
    label = serializers.CharField()


class ExperimentOutputSerializer(serializers.ModelSerializer):
    arms = serializers.SerializerMethodField()
    evaluator_profile = serializers.IntegerField(source="evaluator_profile_id", allow_null=True)
    budget_usd = serializers.DecimalField(max_digits=12, decimal_places=6, coerce_to_string=False, allow_null=True)
    evaluator_budget_usd = serializers.DecimalField(max_digits=12, decimal_places=6, coerce_to_string=False,
                                                    allow_null=True)

    class Meta:
        model = Experiment
        fields = [
            "id", "name", "dataset", "arms", "scorers", "evaluator_profile", "samples_per_case", "seed",
            "budget_usd", "concurrency", "prompt_template", "evaluator_budget_usd", "created_at",
        ]

    def get_arms(self, experiment: Experiment) -> list[dict[str, Any]]:
        # `arms` is prefetched by the selector: no query per experiment.
        return [
            {"id": a.id, "provider": a.provider, "model": a.model, "config": a.config, "label": a.label}
            for a in experiment.arms.all()
        ]


class ProgressSerializer(serializers.Serializer):
    """The run's counters are columns: reading them never counts attempts."""

    total = serializers.IntegerField()
    done = serializers.IntegerField()
    failed = serializers.IntegerField()
    running = serializers.SerializerMethodField()

    def get_running(self, run: Run) -> int:
        return max(0, run.running)


def usd_field(**kwargs: Any) -> serializers.DecimalField:
    """Money in the API: the precision it is stored with (providers.pricing), as a JSON number."""
    return serializers.DecimalField(max_digits=USD_MAX_DIGITS, decimal_places=USD_DECIMAL_PLACES,
                                    coerce_to_string=False, **kwargs)


class RunOutputSerializer(serializers.Serializer):
    """The run as API.md names it. `context`: `request` (for `html_url`) and `detail` (default true:
    the snapshot and, once the run has ended, the four boards)."""

    id = serializers.IntegerField()
    experiment = serializers.IntegerField(source="experiment_id")
    status = serializers.ChoiceField(choices=RunStatus.values)
    progress = ProgressSerializer(source="*")
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    cancel_requested = serializers.SerializerMethodField()
    stop_reason = serializers.SerializerMethodField()
    message = serializers.SerializerMethodField()
    spent_usd = usd_field()
    evaluator_spent_usd = usd_field(required=False, help_text="Evaluator spend on this run, apart from the arms'.")
    evaluator_budget_usd = serializers.SerializerMethodField()
    html_url = serializers.SerializerMethodField()
    snapshot = serializers.DictField(required=False)
    leaderboard = serializers.SerializerMethodField(
        help_text="quality/speed/cost/evaluator boards; null until the run ends."
    )

    def get_cancel_requested(self, run: Run) -> bool:
        return run.cancel_requested_at is not None

    def get_stop_reason(self, run: Run) -> str | None:
        return run.stop_reason or None

    def get_message(self, run: Run) -> str | None:
        return run.message or None

    def get_evaluator_budget_usd(self, run: Run) -> float | None:
        # The evaluator's own cap, as frozen in the run's snapshot.
        budget = (run.snapshot.get("experiment") or {}).get("evaluator_budget_usd")
        return float(budget) if budget is not None else None

    def get_html_url(self, run: Run) -> str:
        return run_html_url(run, self.context.get("request"))

    def get_leaderboard(self, run: Run) -> dict[str, Any] | None:
        return run_leaderboard_summary(run=run)

    def to_representation(self, run: Run) -> dict[str, Any]:
        if not self.context.get("detail", True):
            # A list shows the runs' state, not their snapshots and boards.
            for name in ("snapshot", "leaderboard", "evaluator_spent_usd", "evaluator_budget_usd"):
                self.fields.pop(name, None)
        return super().to_representation(run)


def run_output(run: Run, request: Request | None = None, *, detail: bool = True) -> dict[str, Any]:
    return RunOutputSerializer(run, context={"request": request, "detail": detail}).data


class AttemptOutputSerializer(serializers.ModelSerializer):
    arm = serializers.CharField(source="arm.label")
    case = serializers.CharField(source="task_instance.case.case_id")
    usage = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()
    cost_usd = usd_field(allow_null=True)
    evaluator_score = serializers.SerializerMethodField()

    class Meta:
        model = Attempt
        fields = [
            "id", "run", "arm", "case", "sample", "status", "output", "patch", "validation", "scores",
            "score_value", "passed", "evaluator_score", "usage", "cost_usd", "latency_ms", "ttft_ms", "error",
            "retries", "errors", "provider_request_id", "queued_at", "started_at", "responded_at",
            "validated_at", "scored_at",
        ]

    def get_usage(self, attempt: Attempt) -> dict[str, int]:
        return {
            "input_tokens": attempt.input_tokens,
            "output_tokens": attempt.output_tokens,
            "cached_tokens": attempt.cached_tokens,
        }

    @extend_schema_field(EvaluatorScoreOutputSerializer(allow_null=True))
    def get_evaluator_score(self, attempt: Attempt) -> dict[str, Any] | None:
        evaluation = selectors.attempt_own_evaluation(attempt=attempt)
        if evaluation is None:
            return None
        return evaluator_score(profile_id=evaluation.profile_id, version=evaluation.profile_version,
                               status=evaluation.status, overall=evaluation.overall, passed=evaluation.passed,
                               criteria=evaluation.criteria)

    def get_error(self, attempt: Attempt) -> dict[str, str] | None:
        if not attempt.error_type:
            return None
        return {"type": attempt.error_type, "message": attempt.error_message}


class AttemptDetailSerializer(AttemptOutputSerializer):
    class Meta(AttemptOutputSerializer.Meta):
        fields = [*AttemptOutputSerializer.Meta.fields, "raw_response"]


# --- datasets ----------------------------------------------------------------------------------


class DatasetListCreateView(APIView):
    parser_classes = [MultiPartParser, FormParser, BoundedJSONParser]

    class InputSerializer(serializers.Serializer):
        file = serializers.FileField(allow_empty_file=True)
        name = serializers.CharField(max_length=200)
        kind = serializers.ChoiceField(choices=CaseKind.choices)

    @extend_schema(responses=DatasetOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        return paginated_response(request, self, selectors.dataset_list(org=org_context(request).org),
                                  DatasetOutputSerializer)

    @extend_schema(request={"multipart/form-data": InputSerializer}, responses={201: DatasetOutputSerializer})
    def post(self, request: Request) -> Response:
        from django.conf import settings

        context = org_context(request)
        upload = request.FILES.get("file")
        upload_refuse_if_too_large(request)
        if upload is not None and upload.size > settings.BENCHHUB_DATASET_MAX_BYTES:
            raise PayloadTooLarge(f"The file is {upload.size} bytes; the limit is {settings.BENCHHUB_DATASET_MAX_BYTES}.")
        data = self.InputSerializer(data=request.data)
        if not data.is_valid():
            raise ValidationFailed(
                details=[{"line": 0, "field": k, "message": str(v[0])} for k, v in data.errors.items()]
            )
        upload = data.validated_data["file"]
        dataset, created = services.dataset_create(
            org=context.org, name=data.validated_data["name"], kind=data.validated_data["kind"],
            content=upload.read(), filename=upload.name or "", created_by=context.user,
        )
        return Response(DatasetOutputSerializer(dataset).data, status=status.HTTP_201_CREATED if created else 200)


class DatasetDetailView(APIView):
    @extend_schema(responses=DatasetOutputSerializer)
    def get(self, request: Request, dataset_id: int) -> Response:
        dataset = selectors.dataset_get(org=org_context(request).org, dataset_id=dataset_id)
        return Response(DatasetOutputSerializer(dataset).data)


# --- experiments -------------------------------------------------------------------------------


class ExperimentListCreateView(APIView):
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200)
        dataset = serializers.IntegerField()
        arms = ArmSerializer(many=True, allow_empty=False)
        scorers = serializers.ListField(child=serializers.DictField(), required=False, default=list)
        evaluator_profile = serializers.IntegerField(required=False, allow_null=True, default=None)
        samples_per_case = serializers.IntegerField(min_value=1, max_value=100, default=1)
        seed = serializers.IntegerField(default=0)
        budget_usd = serializers.DecimalField(max_digits=12, decimal_places=6, min_value=0, required=False,
                                              allow_null=True, default=None)
        concurrency = serializers.IntegerField(min_value=1, max_value=2000, default=16)
        prompt_template = serializers.DictField(child=serializers.CharField(allow_blank=True), required=False,
                                                allow_null=True, default=None)
        evaluator_budget_usd = serializers.DecimalField(max_digits=12, decimal_places=6, min_value=0, required=False,
                                                        allow_null=True, default=None)

    @extend_schema(responses=ExperimentOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        return paginated_response(request, self, selectors.experiment_list(org=org_context(request).org),
                                  ExperimentOutputSerializer)

    @extend_schema(request=InputSerializer, responses={201: ExperimentOutputSerializer})
    def post(self, request: Request) -> Response:
        context = org_context(request)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        dataset = selectors.dataset_list(org=context.org).filter(pk=values.pop("dataset")).first()
        if dataset is None:
            raise ValidationFailed(details={"dataset": ["No such dataset."]})
        experiment = services.experiment_create(org=context.org, dataset=dataset, created_by=context.user, **values)
        experiment = selectors.experiment_get(org=context.org, experiment_id=experiment.pk)
        return Response(ExperimentOutputSerializer(experiment).data, status=status.HTTP_201_CREATED)


class ExperimentDetailView(APIView):
    @extend_schema(responses=ExperimentOutputSerializer)
    def get(self, request: Request, experiment_id: int) -> Response:
        experiment = selectors.experiment_get(org=org_context(request).org, experiment_id=experiment_id)
        return Response(ExperimentOutputSerializer(experiment).data)


# --- runs --------------------------------------------------------------------------------------


class ExperimentRunCreateView(APIView):
    throttle_classes = RUN_CREATE_THROTTLES

    @extend_schema(request=None, responses={202: RunOutputSerializer})
    def post(self, request: Request, experiment_id: int) -> Response:
        context = org_context(request)
        experiment = selectors.experiment_get(org=context.org, experiment_id=experiment_id)
        run = runs.run_start(experiment=experiment, started_by=context.user)
        run.refresh_from_db()
        return Response(run_output(run, request), status=status.HTTP_202_ACCEPTED)


class RunListView(APIView):
    @extend_schema(responses=RunOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        queryset = selectors.run_list(org=org_context(request).org)
        experiment_id = query_id(request.query_params.get("experiment"), name="experiment")
        if experiment_id is not None:
            queryset = queryset.filter(experiment_id=experiment_id)
        return paginated_response(request, self, queryset, RunOutputSerializer,
                                  context={"request": request, "detail": False})


class RunDetailView(APIView):
    @extend_schema(responses=RunOutputSerializer)
    def get(self, request: Request, run_id: int) -> Response:
        run = selectors.run_get(org=org_context(request).org, run_id=run_id)
        return Response(run_output(run, request))


class RunCancelView(APIView):
    @extend_schema(request=None, responses=RunOutputSerializer)
    def post(self, request: Request, run_id: int) -> Response:
        run = selectors.run_get(org=org_context(request).org, run_id=run_id)
        return Response(run_output(runs.run_cancel(run=run), request))


class RunRetryFailedView(APIView):
    @extend_schema(request=None, responses={202: RunOutputSerializer})
    def post(self, request: Request, run_id: int) -> Response:
        run = selectors.run_get(org=org_context(request).org, run_id=run_id)
        return Response(run_output(runs.run_retry_failed(run=run), request), status=status.HTTP_202_ACCEPTED)


class RunAttemptListView(APIView):
    @extend_schema(
        responses=AttemptOutputSerializer(many=True),
        parameters=[
            OpenApiParameter("arm", str, description='arm label ("provider:model[#N]") or id'),
            OpenApiParameter("status", str, enum=AttemptStatus.values),
            OpenApiParameter("case", str, description="the dataset row's id"),
        ],
    )
    def get(self, request: Request, run_id: int) -> Response:
        run = selectors.run_get(org=org_context(request).org, run_id=run_id)
        status_filter = request.query_params.get("status") or None
        if status_filter and status_filter not in AttemptStatus.values:
            raise ValidationFailed(details={"status": [f"must be one of {', '.join(AttemptStatus.values)}"]})
        arm = request.query_params.get("arm") or None
        if arm is not None and arm.isdigit():
            arm = str(query_id(arm, name="arm"))
        attempts = selectors.attempt_list(
            run=run, arm=arm, status=status_filter,
            case=request.query_params.get("case") or None,
        )
        return paginated_response(request, self, attempts, AttemptOutputSerializer)


class AttemptDetailView(APIView):
    @extend_schema(responses=AttemptDetailSerializer)
    def get(self, request: Request, attempt_id: int) -> Response:
        attempt = selectors.attempt_get(org=org_context(request).org, attempt_id=attempt_id)
        return Response(AttemptDetailSerializer(attempt).data)
