"""API rate limits: per org on every route, and per API key on the routes that spend provider money.

A throttle that is exceeded answers 429 `rate_limited` with Retry-After (benchhub.api.errors); the
per-key throttles also tell every caller where it stands with X-RateLimit-Limit / -Remaining / -Reset.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from rest_framework.throttling import SimpleRateThrottle

_RATE_LIMIT_ATTR = "benchhub_rate_limit"


class OrgRateThrottle(SimpleRateThrottle):
    scope = "org"

    def get_cache_key(self, request, view) -> str | None:  # type: ignore[no-untyped-def]
        context = getattr(request, "auth", None)
        org = getattr(context, "org", None)
        if org is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": org.pk}


class ApiKeyRateThrottle(SimpleRateThrottle):
    """Per API key (per person for session and JWT callers); the rate is the setting
    BENCHHUB_RATE_<SCOPE> (e.g. BENCHHUB_RATE_CHAT = "120/min"), read at each request."""

    def get_rate(self) -> str | None:
        return getattr(settings, f"BENCHHUB_RATE_{self.scope.upper()}", None)

    def get_cache_key(self, request, view) -> str | None:  # type: ignore[no-untyped-def]
        context = getattr(request, "auth", None)
        api_key = getattr(context, "api_key", None)
        user = getattr(context, "user", None)
        if api_key is not None:
            ident = f"key-{api_key.pk}"
        elif user is not None:
            ident = f"user-{user.pk}"
        else:
            return None
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def allow_request(self, request, view) -> bool:  # type: ignore[no-untyped-def]
        allowed = super().allow_request(request, view)
        if self.rate is not None and getattr(self, "key", None):
            # After a success the history holds this request too; the window frees up when its
            # oldest entry expires.
            reset = self.history[-1] + self.duration - self.now if self.history else self.duration
            limit_info = (self.num_requests, max(0, self.num_requests - len(self.history)), math.ceil(max(0, reset)))
            setattr(request._request, _RATE_LIMIT_ATTR, limit_info)
        return allowed


class ChatRateThrottle(ApiKeyRateThrottle):
    scope = "chat"


class RunsRateThrottle(ApiKeyRateThrottle):
    scope = "runs"


class EvaluateRateThrottle(ApiKeyRateThrottle):
    scope = "evaluate"


# The throttle_classes of the expensive routes: the org-wide limit plus the route's own per-key one.
CHAT_THROTTLES = [OrgRateThrottle, ChatRateThrottle]
RUN_CREATE_THROTTLES = [OrgRateThrottle, RunsRateThrottle]
EVALUATE_THROTTLES = [OrgRateThrottle, EvaluateRateThrottle]


class RateLimitHeadersMiddleware:
    """Copies the per-key limit a throttle recorded onto the response (successes and 429s alike)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        limit_info = getattr(request, _RATE_LIMIT_ATTR, None)
        if limit_info is not None:
            limit, remaining, reset = limit_info
            response["X-RateLimit-Limit"] = str(limit)
            response["X-RateLimit-Remaining"] = str(remaining)
            response["X-RateLimit-Reset"] = str(reset)
        return response
