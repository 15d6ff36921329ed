"""Server entry points and production settings fail closed.

Before: wsgi.py, asgi.py and celery.py defaulted to `benchhub.settings.local` (DEBUG on, the public
development SECRET_KEY), and production started with an empty or malformed
BENCHHUB_CREDENTIALS_KEY (falling back to a key derived from SECRET_KEY), with ALLOWED_HOSTS=*,
and signed JWTs with SECRET_KEY.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.ops.test_production_settings import GOOD_ENV, ROOT, _manage

# What a server process inherits when nobody set the settings module or any secret.
_BARE_ENV = {
    k: v for k, v in os.environ.items()
    if k not in {"DJANGO_SETTINGS_MODULE", "SECRET_KEY", "DEBUG", "BENCHHUB_CREDENTIALS_KEY", "BENCHHUB_JWT_SIGNING_KEY"}
}


def _python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env={**_BARE_ENV, **env}, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("module", ["benchhub.wsgi", "benchhub.asgi"])
def test_servers_default_to_production_and_refuse_without_secrets(module):
    result = _python(f"import {module}")
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_celery_defaults_to_production_settings():
    result = _python("import os, benchhub.celery; print(os.environ['DJANGO_SETTINGS_MODULE'])")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "benchhub.settings.production"


def test_manage_py_still_defaults_to_local():
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", "from django.conf import settings; print(settings.SETTINGS_MODULE)"],
        cwd=ROOT, env=_BARE_ENV, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "benchhub.settings.local"


def test_production_wsgi_starts_with_its_secrets():
    result = _python("import benchhub.wsgi; print('ok')", **GOOD_ENV)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"BENCHHUB_CREDENTIALS_KEY": ""}, "BENCHHUB_CREDENTIALS_KEY"),
        ({"BENCHHUB_CREDENTIALS_KEY": " , "}, "BENCHHUB_CREDENTIALS_KEY"),
        ({"BENCHHUB_CREDENTIALS_KEY": "not-a-fernet-key"}, "BENCHHUB_CREDENTIALS_KEY"),
        ({"BENCHHUB_CREDENTIALS_KEY": GOOD_ENV["BENCHHUB_CREDENTIALS_KEY"] + ",short"}, "key #2"),
        ({"ALLOWED_HOSTS": "*"}, "ALLOWED_HOSTS"),
        ({"ALLOWED_HOSTS": "benchhub.example.com,*"}, "ALLOWED_HOSTS"),
        ({"BENCHHUB_JWT_SIGNING_KEY": ""}, "BENCHHUB_JWT_SIGNING_KEY"),
        ({"BENCHHUB_JWT_SIGNING_KEY": GOOD_ENV["SECRET_KEY"]}, "BENCHHUB_JWT_SIGNING_KEY"),
    ],
)
def test_production_refuses_unsafe_secrets(change, named):
    result = _manage("check", **{**GOOD_ENV, **change})
    assert result.returncode != 0, result.stdout
    assert named in result.stderr


def test_production_requires_a_jwt_signing_key():
    env = {k: v for k, v in GOOD_ENV.items() if k != "BENCHHUB_JWT_SIGNING_KEY"}
    result = _manage("check", **env)
    assert result.returncode != 0
    assert "BENCHHUB_JWT_SIGNING_KEY" in result.stderr
