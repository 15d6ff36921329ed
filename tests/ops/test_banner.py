from __future__ import annotations

import pytest
from django.test import override_settings

pytestmark = pytest.mark.django_db


def test_banner_is_empty_when_ready(client):
    response = client.get("/status/banner")
    assert response.status_code == 200
    assert b"degraded" not in response.content


@override_settings(REDIS_URL="redis://127.0.0.1:1/0", CELERY_BROKER_URL="redis://127.0.0.1:1/0")
def test_banner_names_failing_dependency(client):
    response = client.get("/status/banner")
    assert response.status_code == 200
    assert b"degraded" in response.content
    assert b"broker" in response.content
