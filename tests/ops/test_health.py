from __future__ import annotations

import json
import logging

import pytest
from django.test import override_settings

from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.django_db


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@override_settings(REDIS_URL="")
def test_readyz_without_redis_checks_database_only(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database"}


def test_readyz_degraded_when_redis_down_and_ok_when_back(client):
    server = RedisServer().start()
    redis_settings = {
        "REDIS_URL": server.url,
        "CELERY_BROKER_URL": server.url,
        "CACHES": {"default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": server.url,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }},
    }
    try:
        with override_settings(**redis_settings):
            up = client.get("/readyz")
            assert up.status_code == 200, up.json()
            assert set(up.json()["checks"]) == {"database", "broker", "cache"}

            server.stop()
            down = client.get("/readyz")
            assert down.status_code == 503
            body = down.json()
            assert body["status"] == "degraded"
            assert body["checks"]["broker"]["status"] == "error"
            assert "broker" in body["failing"]
            assert body["checks"]["database"]["status"] == "ok"

            server.start()
            again = client.get("/readyz")
            assert again.status_code == 200, again.json()
            assert again.json()["status"] == "ok"
    finally:
        server.stop()


def test_metrics_is_prometheus_text(client, settings):
    settings.BENCHHUB_METRICS_TOKEN = "scrape-token-for-tests"
    client.get("/healthz")
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-token-for-tests")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert b"django_http_requests_total_by_method_total" in response.content


def test_openapi_schema_and_docs(client):
    schema = client.get("/api/schema/?format=json")
    assert schema.status_code == 200
    paths = json.loads(schema.content)["paths"]
    assert "/api/v1/me/" in paths
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger" in docs.content.lower()
    assert b"cdn." not in docs.content


def test_log_lines_are_json_with_request_id(client, org_world, caplog):
    from pythonjsonlogger.json import JsonFormatter

    from benchhub.logging import RequestIdFilter

    formatter = JsonFormatter("%(levelname)s %(name)s %(message)s %(request_id)s")
    records: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(formatter.format(record))

    handler = Capture()
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("benchhub.api")
    logger.addHandler(handler)
    try:
        from django.test import override_settings as _ovr

        with _ovr(ROOT_URLCONF="tests.ops.test_envelope"):
            from rest_framework.test import APIClient

            api = APIClient()
            api.credentials(HTTP_AUTHORIZATION=f"Bearer {org_world.a.keys['member']}")
            api.get("/api/v1/boom/", HTTP_X_REQUEST_ID="log-trace-1")
    finally:
        logger.removeHandler(handler)
    lines = [json.loads(line) for line in records]
    assert any(line["request_id"] == "log-trace-1" and line["levelname"] == "ERROR" for line in lines)
