"""Tracing hooks (benchhub/tracing.py): one trace from an API request through the provider call and
its tries, with the request id on the spans; nothing at all while tracing is off."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from benchhub import tracing
from providers.services import policy_set
from tests.conftest import bearer

pytestmark = pytest.mark.django_db


@pytest.fixture
def spans():  # type: ignore[no-untyped-def]
    exporter = InMemorySpanExporter()
    assert tracing.tracing_setup(exporter=exporter, force=True)
    yield exporter
    tracing.tracing_teardown()


def by_name(exporter: InMemorySpanExporter) -> dict[str, list]:
    found: dict[str, list] = {}
    for finished in exporter.get_finished_spans():
        found.setdefault(finished.name, []).append(finished)
    return found


def ancestors(span, everything) -> list[str]:  # type: ignore[no-untyped-def]
    by_id = {s.context.span_id: s for s in everything}
    names = []
    while span.parent is not None and span.parent.span_id in by_id:
        span = by_id[span.parent.span_id]
        names.append(span.name)
    return names


def test_an_api_call_is_one_trace_down_to_each_provider_try(spans, api_client, org_world) -> None:  # type: ignore[no-untyped-def]
    policy_set(org=org_world.a.org, rules=[{"provider": "mock", "models": ["*"]}])
    client = bearer(api_client, org_world.a.keys["member"])
    response = client.post(
        "/api/v1/chat/", {"provider": "mock", "model": "mock-small", "messages": [{"role": "user", "content": "hi"}],
                          "cache": False},
        format="json", HTTP_X_REQUEST_ID="trace-me-123",
    )
    assert response.status_code == 200
    found = by_name(spans)
    call, = found["provider.call"]
    tries = found["provider.try"]
    everything = spans.get_finished_spans()
    assert len(tries) == 1 and tries[0].parent.span_id == call.context.span_id
    assert {s.context.trace_id for s in everything} == {call.context.trace_id}  # one trace
    assert any(name.startswith("POST") for name in ancestors(call, everything))  # under the request's span
    assert call.attributes["benchhub.request_id"] == "trace-me-123"
    assert call.attributes["llm.provider"] == "mock" and call.attributes["llm.model"] == "mock-small"


def test_scorers_are_spans_of_their_own(spans) -> None:  # type: ignore[no-untyped-def]
    from evaluation.services import scores_compute, scoring_plan_build

    plan = scoring_plan_build(specs=[{"type": "exact"}, {"type": "contains"}])
    scores_compute(plan.fast, output="Paris", case_kind="qa", payload={"reference": "Paris"})
    assert sorted(s.attributes["benchhub.scorer"] for s in by_name(spans)["score"]) == ["contains", "exact"]


def test_off_the_hooks_are_one_shared_no_op() -> None:
    assert not tracing.tracing_enabled()
    assert tracing.span("provider.call", x=1) is tracing.span("score") is tracing.context_attached(None)
    assert tracing.context_capture() is None
