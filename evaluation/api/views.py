"""`POST /api/v1/evaluate/`: score one sample now with rule scorers and, when named, an evaluator profile."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from benchhub.api.errors import ValidationFailed
from benchhub.api.throttling import EVALUATE_THROTTLES
from evaluation.models import EvaluatorProfile
from evaluation.sample import sample_evaluate
from evaluation.scorers import ScorerConfigError


class EvaluatorScoreOutputSerializer(serializers.Serializer):
    profile = serializers.IntegerField()
    version = serializers.IntegerField()
    overall = serializers.FloatField(allow_null=True)
    passed = serializers.BooleanField(allow_null=True)
    criteria = serializers.DictField(child=serializers.IntegerField())
    status = serializers.ChoiceField(choices=["scored", "invalid"])


class EvaluateView(APIView):
    throttle_classes = EVALUATE_THROTTLES  # an evaluator profile spends platform money per call
    class InputSerializer(serializers.Serializer):
        input = serializers.JSONField(help_text="The prompt text (or a list of messages) the output answers.")
        output = serializers.CharField(allow_blank=True, trim_whitespace=False, max_length=200_000)
        reference = serializers.JSONField(required=False, allow_null=True, default=None)
        context = serializers.CharField(required=False, allow_blank=True, allow_null=True, default=None)
        kind = serializers.ChoiceField(choices=["qa", "rag"], default="qa")
        scorers = serializers.ListField(child=serializers.DictField(), required=False, default=list, max_length=20)
        evaluator_profile = serializers.IntegerField(required=False, allow_null=True, default=None)

    class OutputSerializer(serializers.Serializer):
        scores = serializers.DictField()
        evaluator_score = EvaluatorScoreOutputSerializer(allow_null=True)

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        profile = None
        if values["evaluator_profile"] is not None:
            profile = EvaluatorProfile.objects.filter(pk=values["evaluator_profile"]).first()
            if profile is None:
                raise ValidationFailed(details={"evaluator_profile": [f"No evaluator profile {values['evaluator_profile']}."]})
        try:
            result = sample_evaluate(input=values["input"], output=values["output"], reference=values["reference"],
                                     context=values["context"], kind=values["kind"], scorers=values["scorers"],
                                     profile=profile)
        except ScorerConfigError as exc:
            raise ValidationFailed(str(exc), details={"scorers": [str(exc)]}) from exc
        return Response({"scores": result.scores, "evaluator_score": result.evaluator_score})
