"""django-axes hooks: whose failures a login counts, and what a locked-out caller is told.

Configured in benchhub/settings/components/access.py; the counting itself is axes' own.
"""

from __future__ import annotations

from typing import Any

from axes.backends import AxesStandaloneBackend
from axes.helpers import get_cool_off
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from benchhub.api.errors import envelope, is_api_path

LOCKED_OUT_MESSAGE = "Too many failed logins for this account or address; try again in {minutes} minutes."


class LoginLockoutBackend(AxesStandaloneBackend):
    """axes' lockout check for every login that comes over HTTP (all of them pass their request).

    A call without a request (the shell, the test client's `login()`) has no address to count and
    is let through to the password check, instead of axes' error."""

    def authenticate(self, request, username=None, password=None, **kwargs):  # type: ignore[no-untyped-def]
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)


def login_username(request: HttpRequest, credentials: dict[str, Any] | None) -> str:
    """The account a login names: `username` (dashboard and admin forms) or `email` (auth/token/)."""
    source: Any = credentials or getattr(request, "POST", {}) or {}
    value = source.get("username") or source.get("email") or ""
    return str(value).strip().lower()


def lockout_response(request: HttpRequest, original_response: HttpResponse | None,
                     credentials: dict[str, Any] | None) -> HttpResponse:
    """429 with Retry-After: the API envelope on /api/, the login page with the reason elsewhere."""
    cool_off = get_cool_off(request)
    seconds = max(1, int(cool_off.total_seconds())) if cool_off else 3600
    message = LOCKED_OUT_MESSAGE.format(minutes=max(1, round(seconds / 60)))
    if is_api_path(request.path):
        response: HttpResponse = JsonResponse(
            envelope("rate_limited", message, {"retry_after": seconds}), status=429
        )
    else:
        response = render(request, "registration/locked_out.html", {"message": message}, status=429)
    response["Retry-After"] = str(seconds)
    return response
