"""The one error taxonomy of the HTTP API and the envelope every /api/ error answer uses.

`{"error": {"type", "message", "details", "request_id"}}` — see shared/API.md. Services raise the
`ApiError` subclasses below (or plain DRF/Django exceptions); `exception_handler` renders them.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions as drf
from rest_framework.response import Response

from benchhub.request_context import get_request_id

logger = logging.getLogger("benchhub.api")


class ApiError(Exception):
    status_code = 400
    error_type = "bad_request"
    default_message = "The request could not be processed."

    def __init__(
        self,
        message: str | None = None,
        *,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.details = details
        self.headers = headers or {}
        super().__init__(self.message)


class ValidationFailed(ApiError):
    status_code, error_type, default_message = 400, "validation_error", "The request is invalid."


class PolicyDenied(ApiError):
    status_code, error_type, default_message = 403, "policy_denied", "The organisation's policy does not allow this."


class NotFound(ApiError):
    status_code, error_type, default_message = 404, "not_found", "Not found."


class Conflict(ApiError):
    status_code, error_type, default_message = 409, "conflict", "The request conflicts with the current state."


class PayloadTooLarge(ApiError):
    status_code, error_type, default_message = 413, "payload_too_large", "The request body is too large."


class RateLimited(ApiError):
    status_code, error_type, default_message = 429, "rate_limited", "Too many requests."

    def __init__(self, message: str | None = None, *, retry_after: float, details: Any = None) -> None:
        seconds = max(1, int(round(retry_after)))
        super().__init__(message, details=details, headers={"Retry-After": str(seconds)})


class ProviderFailed(ApiError):
    status_code, error_type, default_message = 502, "provider_error", "The provider call failed."


class Unavailable(ApiError):
    status_code, error_type, default_message = 503, "unavailable", "A dependency is unavailable."


def is_api_path(path: str) -> bool:
    return path.startswith("/api/")


def envelope(error_type: str, message: str, details: Any = None) -> dict[str, Any]:
    return {
        "error": {
            "type": error_type,
            "message": message,
            "details": details,
            "request_id": get_request_id(),
        }
    }


def envelope_response(
    request: HttpRequest | None, status: int, error_type: str, message: str, details: Any = None
) -> JsonResponse:
    return JsonResponse(envelope(error_type, message, details), status=status)


def _from_drf(exc: drf.APIException) -> tuple[int, str, str, Any, dict[str, str]]:
    headers: dict[str, str] = {}
    if isinstance(exc, drf.Throttled):
        wait = exc.wait or 1
        headers["Retry-After"] = str(max(1, int(round(wait))))
        return 429, "rate_limited", "Too many requests; retry later.", {"retry_after": int(round(wait))}, headers
    if isinstance(exc, drf.ValidationError):
        return 400, "validation_error", "The request is invalid.", exc.detail, headers
    if isinstance(exc, drf.ParseError):
        return 400, "validation_error", str(exc.detail), None, headers
    if isinstance(exc, drf.NotAuthenticated | drf.AuthenticationFailed):
        return 401, "unauthenticated", str(exc.detail), None, headers
    if isinstance(exc, drf.PermissionDenied):
        return 403, "permission_denied", str(exc.detail), None, headers
    if isinstance(exc, drf.NotFound):
        return 404, "not_found", "Not found.", None, headers
    if isinstance(exc, drf.MethodNotAllowed):
        return 405, "method_not_allowed", str(exc.detail), None, headers
    if isinstance(exc, drf.NotAcceptable):
        return 406, "not_acceptable", str(exc.detail), None, headers
    if isinstance(exc, drf.UnsupportedMediaType):
        return 415, "unsupported_media_type", str(exc.detail), None, headers
    return exc.status_code, "bad_request", str(exc.detail), None, headers


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's EXCEPTION_HANDLER: every error of every API view becomes the envelope."""
    if isinstance(exc, ApiError):
        status, error_type, message, details, headers = (
            exc.status_code, exc.error_type, exc.message, exc.details, exc.headers,
        )
    elif isinstance(exc, Http404):
        status, error_type, message, details, headers = 404, "not_found", "Not found.", None, {}
    elif isinstance(exc, DjangoPermissionDenied):
        status, error_type, message, details, headers = 403, "permission_denied", "Permission denied.", None, {}
    elif isinstance(exc, RequestDataTooBig):
        status, error_type, message, details, headers = (
            413, "payload_too_large", "The request body is too large.", None, {},
        )
    elif isinstance(exc, drf.APIException):
        status, error_type, message, details, headers = _from_drf(exc)
        if status == 401:
            headers.setdefault("WWW-Authenticate", 'Bearer realm="api"')
    else:
        logger.exception("unhandled API error")
        status, error_type, message, details, headers = 500, "internal_error", "An internal error occurred.", None, {}
    return Response(envelope(error_type, message, details), status=status, headers=headers)
