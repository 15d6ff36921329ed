"""API for who-am-I, JWT login, API keys and members."""

from __future__ import annotations

from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import AuthenticationFailed, PermissionDenied
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from benchhub.api.errors import NotFound
from benchhub.api.pagination import paginated_response
from orgs.access import OrgContext
from orgs.models import ApiKey, Invitation, Membership, Organization, Role
from orgs.permissions import IsOrgAdmin, org_context
from orgs.scoping import for_org, get_for_org
from orgs.selectors import invitations_pending_for, membership_get
from orgs.services import (
    AccessDenied,
    api_key_create,
    api_key_revoke,
    invitation_accept,
    invitation_decline,
    jwt_issue,
    member_invite,
    member_remove,
    member_set_role,
)


def _validated(request: Request, serializer_class: type[serializers.Serializer]) -> tuple[OrgContext, dict]:
    context = org_context(request)
    data = serializer_class(data=request.data)
    data.is_valid(raise_exception=True)
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
        # The plain HttpRequest: django-axes counts failures on it and flags a lockout there for its
        # middleware, which answers 429 (per account and per address).
        user = authenticate(
            request._request, email=data.validated_data["email"], password=data.validated_data["password"]
        )
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
        context, data = _validated(request, self.InputSerializer)
        try:
            key, plaintext = api_key_create(org=context.org, created_by=context.user, actor_role=context.role, **data)
        except AccessDenied as exc:
            raise PermissionDenied(str(exc)) from None
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

    class InvitationOutputSerializer(serializers.ModelSerializer):
        email = serializers.EmailField(source="user.email")
        status = serializers.SerializerMethodField()

        class Meta:
            model = Invitation
            fields = ["id", "email", "role", "status", "created_at"]

        def get_status(self, obj: Invitation) -> str:
            return "pending" if obj.is_pending else ("accepted" if obj.accepted_at else "declined")

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer, 202: InvitationOutputSerializer})
    def post(self, request: Request) -> Response:
        """A new address becomes a member (201); an existing person is invited and joins when they
        accept (202 with the invitation)."""
        context, data = _validated(request, self.InputSerializer)
        try:
            result = member_invite(org=context.org, actor_role=context.role, invited_by=context.user, **data)
        except AccessDenied as exc:
            raise PermissionDenied(str(exc)) from None
        if isinstance(result, Invitation):
            return Response(self.InvitationOutputSerializer(result).data, status=status.HTTP_202_ACCEPTED)
        return Response(self.OutputSerializer(result).data, status=status.HTTP_201_CREATED)


class MemberDetailView(APIView):
    """Change a member's role (PATCH) or remove them (DELETE: their keys here are revoked, their
    JWTs die). Nobody acts on a role above their own; the last owner stays."""

    permission_classes = [IsOrgAdmin]

    class InputSerializer(serializers.Serializer):
        role = serializers.ChoiceField(choices=Role.choices)

    @extend_schema(request=InputSerializer, responses=MemberListCreateView.OutputSerializer)
    def patch(self, request: Request, member_id: int) -> Response:
        membership = get_for_org(Membership.objects.select_related("user"), org_context(request).org, pk=member_id)
        context, data = _validated(request, self.InputSerializer)
        try:
            membership = member_set_role(membership=membership, role=data["role"], actor_role=context.role)
        except AccessDenied as exc:
            raise PermissionDenied(str(exc)) from None
        return Response(MemberListCreateView.OutputSerializer(membership).data)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request, member_id: int) -> Response:
        context = org_context(request)
        membership = get_for_org(Membership, context.org, pk=member_id)
        try:
            member_remove(membership=membership, actor_role=context.role)
        except AccessDenied as exc:
            raise PermissionDenied(str(exc)) from None
        return Response(status=status.HTTP_204_NO_CONTENT)


class MyInvitationListView(APIView):
    """The invitations waiting for the calling person (session or JWT login; an API key has none)."""

    # Any org or none: a person with no org yet reads the invitations that would give them one.
    permission_classes = [IsAuthenticated]

    class OutputSerializer(serializers.ModelSerializer):
        org = serializers.CharField(source="org.slug")
        invited_by = serializers.EmailField(source="invited_by.email", allow_null=True)

        class Meta:
            model = Invitation
            fields = ["id", "org", "role", "invited_by", "created_at"]

    @extend_schema(responses=OutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        return paginated_response(request, self, invitations_pending_for(user=request.user), self.OutputSerializer)


class MyInvitationAnswerView(APIView):
    """Accept (joins the org with the invited role) or decline one of your invitations."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={200: MemberListCreateView.OutputSerializer, 204: None})
    def post(self, request: Request, invitation_id: int, answer: str) -> Response:
        invitation = invitations_pending_for(user=request.user).filter(pk=invitation_id).first()
        if invitation is None:
            raise NotFound()
        if answer == "accept":
            membership = invitation_accept(invitation=invitation, user=request.user)
            return Response(MemberListCreateView.OutputSerializer(membership).data)
        invitation_decline(invitation=invitation, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
