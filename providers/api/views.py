"""Credentials, the allowlist policy, and one-off chat and embedding calls through the gateway."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from benchhub.api.errors import ValidationFailed
from benchhub.api.pagination import paginated_response
from benchhub.api.throttling import CHAT_THROTTLES
from orgs.permissions import IsOrgAdmin, IsOrgAdminForWrites, IsOrgMember, org_context
from providers import gateway
from providers.api.errors import api_error_from
from providers.interface import ProviderError
from providers.models import Provider, ProviderCredential
from providers.policy import validate_rules
from providers.requests import completion_request
from providers.selectors import credential_get, credential_headers_masked, credential_list, policy_rules
from providers.services import CredentialInvalid, credential_delete, credential_set, policy_set


class CredentialOutputSerializer(serializers.ModelSerializer):
    config = serializers.SerializerMethodField()

    class Meta:
        model = ProviderCredential
        # Never the secret: only its last four characters.
        fields = ["id", "provider", "name", "api_key_last4", "base_url", "api_version", "config", "created_at", "updated_at"]

    def get_config(self, credential: ProviderCredential) -> dict:
        # Header values are secrets like the key: only their last four characters, if that.
        masked = credential_headers_masked(credential=credential)
        return {**credential.config, "headers": masked} if masked else dict(credential.config)


class CredentialListCreateView(APIView):
    permission_classes = [IsOrgAdmin]

    class InputSerializer(serializers.Serializer):
        provider = serializers.ChoiceField(choices=Provider.choices)
        api_key = serializers.CharField(required=False, allow_blank=True, default="", trim_whitespace=True, write_only=True)
        base_url = serializers.URLField(required=False, allow_blank=True, allow_null=True, default=None)
        api_version = serializers.CharField(required=False, allow_blank=True, allow_null=True, default=None)
        name = serializers.CharField(required=False, allow_blank=True, default="", max_length=100)
        config = serializers.DictField(required=False, default=dict)

    @extend_schema(responses=CredentialOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        return paginated_response(request, self, credential_list(org=org_context(request).org), CredentialOutputSerializer)

    @extend_schema(request=InputSerializer, responses={201: CredentialOutputSerializer})
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            credential = credential_set(org=org_context(request).org, **data.validated_data)
        except CredentialInvalid as exc:
            raise ValidationFailed(str(exc)) from None
        return Response(CredentialOutputSerializer(credential).data, status=status.HTTP_201_CREATED)


class CredentialDetailView(APIView):
    permission_classes = [IsOrgAdmin]

    @extend_schema(responses=CredentialOutputSerializer)
    def get(self, request: Request, credential_id: int) -> Response:
        credential = credential_get(org=org_context(request).org, credential_id=credential_id)
        return Response(CredentialOutputSerializer(credential).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, credential_id: int) -> Response:
        credential_delete(credential=credential_get(org=org_context(request).org, credential_id=credential_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class PolicyView(APIView):
    """Anyone in the org reads the allowlist; only admins change it."""

    permission_classes = [IsOrgAdminForWrites]

    class PolicySerializer(serializers.Serializer):
        rules = serializers.ListField(child=serializers.DictField())

        def validate_rules(self, value):  # type: ignore[no-untyped-def]
            try:
                return validate_rules(value)
            except ValueError as exc:
                raise serializers.ValidationError(str(exc)) from None

    @extend_schema(responses=PolicySerializer)
    def get(self, request: Request) -> Response:
        return Response({"rules": policy_rules(org_id=org_context(request).org.pk)})

    @extend_schema(request=PolicySerializer, responses=PolicySerializer)
    def put(self, request: Request) -> Response:
        data = self.PolicySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        policy = policy_set(org=org_context(request).org, rules=data.validated_data["rules"])
        return Response({"rules": policy.rules})


class MessageSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=["system", "user", "assistant"])
    content = serializers.CharField(allow_blank=True, trim_whitespace=False)


class UsageSerializer(serializers.Serializer):
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()


class ChatView(APIView):
    permission_classes = [IsOrgMember]
    throttle_classes = CHAT_THROTTLES

    class InputSerializer(serializers.Serializer):
        provider = serializers.ChoiceField(choices=Provider.choices)
        model = serializers.CharField(max_length=200)
        messages = MessageSerializer(many=True, allow_empty=False)
        config = serializers.DictField(required=False, default=dict)

    class OutputSerializer(serializers.Serializer):
        text = serializers.CharField(allow_blank=True)
        finish_reason = serializers.CharField(allow_null=True)
        usage = UsageSerializer()
        latency_ms = serializers.FloatField()
        ttft_ms = serializers.FloatField(allow_null=True)
        cost_usd = serializers.DecimalField(max_digits=20, decimal_places=10, allow_null=True, coerce_to_string=False)
        cache_hit = serializers.BooleanField()
        provider_request_id = serializers.CharField(allow_null=True)
        retries = serializers.IntegerField()

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        config = data.validated_data["config"]
        try:
            call = completion_request(model=data.validated_data["model"], messages=data.validated_data["messages"], config=config)
        except (TypeError, ValueError) as exc:
            raise ValidationFailed(f"config: {exc}") from None
        try:
            result = gateway.complete(
                org_id=org_context(request).org.pk, provider=data.validated_data["provider"], request=call,
                purpose="chat", use_cache=config.get("cache"),
            )
        except ProviderError as exc:
            raise api_error_from(exc) from None
        return Response(self.OutputSerializer(result).data)


class EmbeddingsView(APIView):
    permission_classes = [IsOrgMember]

    class InputSerializer(serializers.Serializer):
        provider = serializers.ChoiceField(choices=Provider.choices)
        model = serializers.CharField(max_length=200)
        input = serializers.JSONField()

        def validate_input(self, value):  # type: ignore[no-untyped-def]
            inputs = [value] if isinstance(value, str) else value
            if not isinstance(inputs, list) or not inputs or not all(isinstance(i, str) for i in inputs):
                raise serializers.ValidationError("a string or a non-empty list of strings")
            return inputs

    class OutputSerializer(serializers.Serializer):
        class RowSerializer(serializers.Serializer):
            index = serializers.IntegerField()
            embedding = serializers.ListField(child=serializers.FloatField())

        data = RowSerializer(many=True)
        model = serializers.CharField()
        usage = UsageSerializer()
        cost_usd = serializers.DecimalField(max_digits=20, decimal_places=10, allow_null=True, coerce_to_string=False)
        latency_ms = serializers.FloatField()

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            result = gateway.embed(
                org_id=org_context(request).org.pk, provider=data.validated_data["provider"],
                model=data.validated_data["model"], inputs=data.validated_data["input"],
            )
        except ProviderError as exc:
            raise api_error_from(exc) from None
        body = {
            "data": [{"index": i, "embedding": list(v)} for i, v in enumerate(result.vectors)],
            "model": result.model, "usage": result.usage, "cost_usd": result.cost_usd, "latency_ms": result.latency_ms,
        }
        return Response(self.OutputSerializer(body).data)
