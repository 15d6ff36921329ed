"""DRF authentication: `Authorization: Bearer <api key | JWT>` for programs, the session for people."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from orgs.access import ApiKeyUser, OrgContext
from orgs.selectors import membership_get, memberships_for_user
from orgs.services import api_key_authenticate, jwt_decode

ORG_HEADER = "X-BenchHub-Org"
SESSION_ORG_KEY = "benchhub_org_id"


class BearerAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request):  # type: ignore[no-untyped-def]
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise exceptions.AuthenticationFailed("Send 'Authorization: Bearer <api key>'.")
        token = token.strip()
        if token.count(".") == 2:
            return self._authenticate_jwt(token)
        found = api_key_authenticate(raw_key=token)
        if found is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        key, role = found
        user = key.created_by if key.created_by is not None else ApiKeyUser(key)
        return user, OrgContext(org=key.org, role=role, user=key.created_by, api_key=key)

    def _authenticate_jwt(self, token: str):  # type: ignore[no-untyped-def]
        claims = jwt_decode(token)
        if claims is None:
            raise exceptions.AuthenticationFailed("Invalid or expired token.")
        user = get_user_model().objects.filter(pk=claims["sub"], is_active=True).first()
        # A password change or a removal from an org bumps the version: older tokens die with it.
        if user is None or user.token_version != claims["ver"]:
            raise exceptions.AuthenticationFailed("Invalid or expired token.")
        membership = membership_get(user=user, org=claims.get("org"))
        if membership is None:
            raise exceptions.AuthenticationFailed("Invalid or expired token.")
        return user, OrgContext(org=membership.org, role=membership.role, user=user)

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


class OrgSessionAuthentication(authentication.SessionAuthentication):
    """A logged-in person; the org is the one chosen in the session (or header), else their first."""

    def authenticate(self, request: Request):  # type: ignore[no-untyped-def]
        result = super().authenticate(request)
        if result is None:
            return None
        user, _ = result
        return user, org_context_for_user(
            user,
            slug=request.headers.get(ORG_HEADER),
            org_id=request._request.session.get(SESSION_ORG_KEY),
        )


def org_context_for_user(user, *, slug: str | None = None, org_id: int | None = None) -> OrgContext | None:  # type: ignore[no-untyped-def]
    """The org a person acts in: the one named (header), else the session's, else the one they last
    chose (remembered on the user), else their oldest membership. Joining an org changes none of these."""
    memberships = memberships_for_user(user=user)
    if slug:
        memberships = memberships.filter(org__slug=slug)
    else:
        for chosen_id in (org_id, getattr(user, "current_org_id", None)):
            chosen = memberships.filter(org_id=chosen_id) if chosen_id else None
            if chosen is not None and chosen.exists():
                memberships = chosen
                break
    membership = memberships.first()
    if membership is None:
        return None
    return OrgContext(org=membership.org, role=membership.role, user=user)
