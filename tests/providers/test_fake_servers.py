"""The fake servers run standalone too (`python -m tests.fakes.openai_server --port P --latency-ms N`),
which is how the throughput benchmark drives 10,000 calls through them."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchhub.net import free_local_port
from providers.gateway import complete
from providers.requests import completion_request
from tests.providers.conftest import connect

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def _standalone(module: str, latency_ms: int) -> Iterator[str]:
    port = free_local_port()
    process = subprocess.Popen(
        [sys.executable, "-m", module, "--port", str(port), "--latency-ms", str(latency_ms)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                assert process.poll() is None, process.stdout.read().decode()
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def standalone_openai() -> Iterator[str]:
    yield from _standalone("tests.fakes.openai_server", 120)


@pytest.fixture
def standalone_anthropic() -> Iterator[str]:
    yield from _standalone("tests.fakes.anthropic_server", 120)


def test_standalone_openai_server_with_fixed_latency(gw_org, standalone_openai) -> None:  # type: ignore[no-untyped-def]
    connect(gw_org, "openai", standalone_openai)
    request = completion_request(model="gpt-4o-mini", messages=[{"role": "user", "content": "ping"}])
    result = complete(org_id=gw_org.pk, provider="openai", request=request)
    assert result.text == "Echo: ping" and result.latency_ms >= 120


def test_standalone_anthropic_server(gw_org, standalone_anthropic) -> None:  # type: ignore[no-untyped-def]
    connect(gw_org, "anthropic", standalone_anthropic)
    request = completion_request(model="claude-haiku-4-5", messages=[{"role": "user", "content": "ping"}],
                                 config={"stream": True})
    result = complete(org_id=gw_org.pk, provider="anthropic", request=request)
    assert result.text == "Echo: ping" and result.ttft_ms >= 120
