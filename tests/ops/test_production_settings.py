"""Production settings: `check --deploy` passes with the required env, and unsafe setups refuse to start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GOOD_ENV = {
    "DJANGO_SETTINGS_MODULE": "benchhub.settings.production",
    "SECRET_KEY": "p" * 20 + "-production-secret-key-for-the-deploy-check-0123456789",
    "ALLOWED_HOSTS": "benchhub.example.com",
    "BENCHHUB_CREDENTIALS_KEY": "x7pM1bq0KsqkE3Ad4XJ0q9UO3c8QbCqJ6o7n8g0Zb1A=",
    "BENCHHUB_JWT_SIGNING_KEY": "j" * 20 + "-production-jwt-signing-key-for-the-deploy-check-0123",
}


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "DJANGO_SETTINGS_MODULE"}}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_passes_under_production_settings():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", **GOOD_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_debug():
    result = _manage("check", **{**GOOD_ENV, "DEBUG": "true"})
    assert result.returncode != 0
    assert "DEBUG" in result.stderr


def test_production_refuses_default_secret_key():
    from benchhub.settings.base import DEFAULT_SECRET_KEY

    result = _manage("check", **{**GOOD_ENV, "SECRET_KEY": DEFAULT_SECRET_KEY})
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_production_requires_secret_key():
    env = {k: v for k, v in GOOD_ENV.items() if k != "SECRET_KEY"}
    result = _manage("check", **env)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr
