"""Request id propagation and the JSON error envelope for non-DRF errors under /api/."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from benchhub.api.errors import envelope_response, is_api_path
from benchhub.request_context import reset_request_id, set_request_id

logger = logging.getLogger("benchhub.request")

REQUEST_ID_HEADER = "X-Request-ID"
# Accept a caller's id only when it is a sane token; anything else is replaced, never echoed.
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        token = set_request_id(request_id)
        try:
            response = self.get_response(request)
        finally:
            reset_request_id(token)
        response[REQUEST_ID_HEADER] = request_id
        return response


class ApiErrorEnvelopeMiddleware:
    """Turns Django's own error pages (404 from the resolver, 405, 413, unhandled 500) into the envelope.

    DRF views produce the envelope themselves through the exception handler; this covers paths
    that never reach a DRF view and exceptions raised outside one.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not is_api_path(request.path) or response.get("Content-Type", "").startswith("application/json"):
            return response
        if response.status_code == 404:
            return envelope_response(request, 404, "not_found", "Not found.")
        if response.status_code == 405:
            return envelope_response(request, 405, "method_not_allowed", f"Method {request.method} not allowed.")
        if response.status_code == 413:
            return envelope_response(request, 413, "payload_too_large", "The request body is too large.")
        if response.status_code == 400:
            return envelope_response(request, 400, "bad_request", "The request could not be read.")
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_api_path(request.path):
            return None
        from django.core.exceptions import RequestDataTooBig

        if isinstance(exception, RequestDataTooBig):
            return envelope_response(request, 413, "payload_too_large", "The request body is too large.")
        logger.exception("unhandled error", extra={"path": request.path})
        return envelope_response(request, 500, "internal_error", "An internal error occurred.")
