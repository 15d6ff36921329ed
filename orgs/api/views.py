"""API for who-am-I, JWT login, API keys and members."""

from __future__ import annotations

from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import AuthenticationFailed, PermissionDenied
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from benchhub.api.pagination import paginated_response
from orgs.access import OrgContext
from orgs.models import ApiKey, Membership, Organization, Role
from orgs.permissions import IsOrgAdmin, org_context
from orgs.scoping import for_org, get_for_org
from orgs.selectors import membership_get
from orgs.services import api_key_create, api_key_revoke, jwt_issue, member_add

_ROLE_TOO_HIGH = "You cannot grant a higher role than your own."


def _validated_grant(request: Request, serializer_class: type[serializers.Serializer]) -> tuple[OrgContext, dict]:
    """Validates a request that grants a role; nobody grants a role above their own."""
    context = org_context(request)
    data = serializer_class(data=request.data)
    data.is_valid(raise_exception=True)
    if not context.can(data.validated_data["role"]):
        raise PermissionDenied(_ROLE_TOO_HIGH)
    return context, data.validated_data


class MeView(APIView):
    class OutputSerializer(serializers.Serializer):
        user = serializers.CharField(allow_null=True)
        org = serializers.CharField()
        role = serializers.CharField()
        api_key = serializers.CharField(allow_null=True)

    @extend_schema(responses=OutputSerializer)
    def get(self, request: Request) -> Response:
        context = org_context(request)
        assert context is not None  # IsOrgMember guarantees it
        data = {
            "user": context.user.email if context.user else None,
            "org": context.org.slug,
            "role": context.role,
            "api_key": context.api_key.prefix if context.api_key else None,
        }
        return Response(self.OutputSerializer(data).data)


class TokenView(APIView):
    """Exchange an e-mail and password for a short-lived JWT (`Authorization: Bearer <token>`)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []

    class InputSerializer(serializers.Serializer):
        email = serializers.EmailField()
        password = serializers.CharField()
        org = serializers.SlugField()

    class OutputSerializer(serializers.Serializer):
        access = serializers.CharField()
        token_type = serializers.CharField()
        expires_in = serializers.IntegerField()

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(request, email=data.validated_data["email"], password=data.validated_data["password"])
        org = Organization.objects.filter(slug=data.validated_data["org"]).first()
        if user is None or org is None or membership_get(user=user, org=org) is None:
            raise AuthenticationFailed("Wrong e-mail, password or organisation.")
        token, ttl = jwt_issue(user=user, org=org)
        return Response(self.OutputSerializer({"access": token, "token_type": "Bearer", "expires_in": ttl}).data)


class ApiKeyOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = ApiKey
        fields = ["id", "name", "role", "prefix", "created_at", "last_used_at", "revoked_at"]


class ApiKeyListCreateView(APIView):
    permission_classes = [IsOrgAdmin]

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100)
        role = serializers.ChoiceField(choices=Role.choices, default=Role.MEMBER)

    class CreatedSerializer(ApiKeyOutputSerializer):
        key = serializers.CharField(read_only=True, help_text="Shown once; store it now.")

        class Meta(ApiKeyOutputSerializer.Meta):
            fields = [*ApiKeyOutputSerializer.Meta.fields, "key"]

    @extend_schema(responses=ApiKeyOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        context = org_context(request)
        return paginated_response(request, self, for_org(ApiKey, context.org), ApiKeyOutputSerializer)

    @extend_schema(request=InputSerializer, responses={201: CreatedSerializer})
    def post(self, request: Request) -> Response:
        context, data = _validated_grant(request, self.InputSerializer)
        key, plaintext = api_key_create(org=context.org, created_by=context.user, **data)
        key.key = plaintext  # type: ignore[attr-defined]
        return Response(self.CreatedSerializer(key).data, status=status.HTTP_201_CREATED)




class ApiKeyRevokeView(APIView):
    permission_classes = [IsOrgAdmin]

    @extend_schema(request=None, responses=ApiKeyOutputSerializer)
    def post(self, request: Request, key_id: int) -> Response:
        key = get_for_org(ApiKey, org_context(request).org, pk=key_id)
        return Response(ApiKeyOutputSerializer(api_key_revoke(key=key)).data)


class MemberListCreateView(APIView):
    permission_classes = [IsOrgAdmin]

    class InputSerializer(serializers.Serializer):
        email = serializers.EmailField()
        role = serializers.ChoiceField(choices=Role.choices, default=Role.MEMBER)

    class OutputSerializer(serializers.ModelSerializer):
        email = serializers.EmailField(source="user.email")

        class Meta:
            model = Membership
            fields = ["id", "email", "role", "created_at"]

    @extend_schema(responses=OutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        members = for_org(Membership, org_context(request).org).select_related("user")
        return paginated_response(request, self, members, self.OutputSerializer)

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request: Request) -> Response:
        context, data = _validated_grant(request, self.InputSerializer)
        membership = member_add(org=context.org, **data)
        return Response(self.OutputSerializer(membership).data, status=status.HTTP_201_CREATED)
