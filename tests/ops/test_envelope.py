"""The error envelope and request ids (shared/API.md, HTTP conventions)."""

from __future__ import annotations

import pytest
from django.test import override_settings
from django.urls import path
from rest_framework.response import Response
from rest_framework.views import APIView

from benchhub.api.errors import Conflict, PolicyDenied, ProviderFailed, RateLimited, Unavailable
from tests.conftest import bearer

pytestmark = pytest.mark.django_db


class _Boom(APIView):
    def get(self, request):  # type: ignore[no-untyped-def]
        raise RuntimeError("secret internals: /etc/passwd")


class _Raises(APIView):
    errors = {
        "conflict": Conflict("Already running."),
        "policy": PolicyDenied("Model not allowed."),
        "provider": ProviderFailed("Upstream failed.", details={"type": "unavailable", "retries": 3}),
        "rate": RateLimited(retry_after=7),
        "unavailable": Unavailable(),
    }

    def get(self, request, kind):  # type: ignore[no-untyped-def]
        raise self.errors[kind]


class _Echo(APIView):
    def post(self, request):  # type: ignore[no-untyped-def]
        return Response({"ok": True, "keys": sorted(request.data)})


def _plain_django_boom(request):  # type: ignore[no-untyped-def]
    raise ValueError("not a DRF view")


urlpatterns = [
    path("api/v1/boom/", _Boom.as_view()),
    path("api/v1/raise/<str:kind>/", _Raises.as_view()),
    path("api/v1/echo/", _Echo.as_view()),
    path("api/v1/plain-boom/", _plain_django_boom),
]


def _assert_envelope(response, status: int, error_type: str) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"type", "message", "details", "request_id"}
    assert body["error"]["type"] == error_type
    assert body["error"]["message"]
    assert body["error"]["request_id"] == response["X-Request-ID"]
    return body["error"]


@pytest.fixture
def client_a(api_client, org_world):  # type: ignore[no-untyped-def]
    return bearer(api_client, org_world.a.keys["member"])


def test_unknown_api_path_is_404_envelope(client_a):
    _assert_envelope(client_a.get("/api/v1/does-not-exist/"), 404, "not_found")


def test_method_not_allowed_envelope(client_a):
    _assert_envelope(client_a.delete("/api/v1/me/"), 405, "method_not_allowed")


def test_validation_error_envelope(api_client, org_world):
    client = bearer(api_client, org_world.a.keys["admin"])
    error = _assert_envelope(client.post("/api/v1/api-keys/", {"role": "nonsense"}, format="json"), 400, "validation_error")
    assert set(error["details"]) == {"name", "role"}


def test_malformed_json_is_validation_error(api_client, org_world):
    client = bearer(api_client, org_world.a.keys["admin"])
    response = client.post("/api/v1/api-keys/", data="{not json", content_type="application/json")
    _assert_envelope(response, 400, "validation_error")


@override_settings(ROOT_URLCONF=__name__)
def test_unhandled_exception_is_500_without_traceback(client_a):
    error = _assert_envelope(client_a.get("/api/v1/boom/"), 500, "internal_error")
    assert "secret internals" not in error["message"]
    assert "Traceback" not in str(error)


@override_settings(ROOT_URLCONF=__name__)
def test_exception_outside_drf_is_500_envelope(db):
    from django.test import Client

    response = Client(raise_request_exception=False).get("/api/v1/plain-boom/")
    error = _assert_envelope(response, 500, "internal_error")
    assert "not a DRF view" not in str(error)


@override_settings(ROOT_URLCONF=__name__)
@pytest.mark.parametrize(
    ("kind", "status", "error_type"),
    [
        ("conflict", 409, "conflict"),
        ("policy", 403, "policy_denied"),
        ("provider", 502, "provider_error"),
        ("rate", 429, "rate_limited"),
        ("unavailable", 503, "unavailable"),
    ],
)
def test_application_errors_map_to_envelope(client_a, kind, status, error_type):
    response = client_a.get(f"/api/v1/raise/{kind}/")
    error = _assert_envelope(response, status, error_type)
    if kind == "rate":
        assert response["Retry-After"] == "7"
    if kind == "provider":
        assert error["details"] == {"type": "unavailable", "retries": 3}


@override_settings(ROOT_URLCONF=__name__, DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
def test_too_large_body_is_413(client_a):
    response = client_a.post("/api/v1/echo/", data={"x": "y" * 5000}, format="json")
    _assert_envelope(response, 413, "payload_too_large")


def test_throttle_gives_429_with_retry_after(client_a, settings):
    from django.core.cache import cache

    from benchhub.api.throttling import OrgRateThrottle

    cache.clear()
    original = OrgRateThrottle.THROTTLE_RATES
    OrgRateThrottle.THROTTLE_RATES = {"org": "2/min"}
    try:
        assert client_a.get("/api/v1/me/").status_code == 200
        assert client_a.get("/api/v1/me/").status_code == 200
        response = client_a.get("/api/v1/me/")
    finally:
        OrgRateThrottle.THROTTLE_RATES = original
        cache.clear()
    error = _assert_envelope(response, 429, "rate_limited")
    assert int(response["Retry-After"]) >= 1
    assert error["details"]["retry_after"] >= 1


def test_request_id_is_echoed(client_a):
    response = client_a.get("/api/v1/me/", HTTP_X_REQUEST_ID="trace-abc.123")
    assert response["X-Request-ID"] == "trace-abc.123"


def test_request_id_is_generated_and_unsafe_ids_replaced(client_a):
    generated = client_a.get("/api/v1/me/")
    assert len(generated["X-Request-ID"]) == 32
    unsafe = client_a.get("/api/v1/me/", HTTP_X_REQUEST_ID="bad id\nwith newline")
    assert unsafe["X-Request-ID"] != "bad id\nwith newline"


def test_request_id_on_non_api_pages(client, db):
    assert client.get("/healthz", HTTP_X_REQUEST_ID="r1")["X-Request-ID"] == "r1"
