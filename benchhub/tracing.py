"""Tracing hooks: OpenTelemetry spans for an API request, the Celery tasks it sends, each provider
call (and each of its tries) and each scorer, all carrying the request id.

Off unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set and the `tracing` extra is installed (then spans go
out over OTLP/HTTP in batches; `OTEL_SERVICE_NAME` names the service, default `benchhub`). Off, a
hook is one module-level flag read and a shared `nullcontext`: nothing is imported, allocated or
timed, which is why the hot path (one span per call and per score) may carry them.

Django requests and Celery tasks are traced by OpenTelemetry's own instrumentations (the Celery one
carries the trace context in the task's headers, so a task's spans join the request's trace).
Work handed to another thread or event loop (the run executor's call loop) carries the context
with `context_capture()` / `context_attached(ctx)`.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from typing import Any

from benchhub.request_context import get_request_id

logger = logging.getLogger("benchhub.tracing")

_NOOP = contextlib.nullcontext()
_enabled = False
_tracer: Any = None
_instrumentors: list[Any] = []


def tracing_enabled() -> bool:
    return _enabled


def tracing_setup(*, exporter: Any = None, force: bool = False) -> bool:
    """Install tracing in this process (once; `force` again, e.g. in a forked worker process whose
    parent's span-export thread did not survive the fork). `exporter`: where spans go (tests pass
    an in-memory one, exported synchronously); default OTLP/HTTP from the environment."""
    global _enabled, _tracer
    if _enabled and not force:
        return True
    if exporter is None and not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return False
    try:
        from opentelemetry import trace
        from opentelemetry.instrumentation.celery import CeleryInstrumentor
        from opentelemetry.instrumentation.django import DjangoInstrumentor
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    except ImportError:
        logger.warning("OTEL_EXPORTER_OTLP_ENDPOINT is set but the 'tracing' extra is not installed: no tracing")
        return False
    provider = TracerProvider(resource=Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", "benchhub")}))
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    else:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    _set_provider(trace, provider)
    for instrumentor in (DjangoInstrumentor(), CeleryInstrumentor()):
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument(tracer_provider=provider)
            _instrumentors.append(instrumentor)
    _tracer = provider.get_tracer("benchhub")
    _enabled = True
    return True


def tracing_teardown() -> None:
    """Back to off (tests): uninstrument Django and Celery, drop the tracer."""
    global _enabled, _tracer
    while _instrumentors:
        _instrumentors.pop().uninstrument()
    _enabled, _tracer = False, None


def _set_provider(trace: Any, provider: Any) -> None:
    # The API lets a process set its global provider once; a forked worker or a test sets it again.
    trace._TRACER_PROVIDER_SET_ONCE._done = False  # noqa: SLF001 - no public way to reset it
    trace.set_tracer_provider(provider)


def span(name: str, **attributes: Any) -> contextlib.AbstractContextManager[Any]:
    """A span named `name` under the current one, with `attributes` (None values left out) and the
    request id; the shared no-op when tracing is off."""
    if not _enabled:
        return _NOOP
    return _span(name, attributes)


@contextlib.contextmanager
def _span(name: str, attributes: dict[str, Any]) -> Iterator[Any]:
    attributes = {k: v for k, v in attributes.items() if v is not None}
    request_id = get_request_id()
    if request_id:
        attributes["benchhub.request_id"] = request_id
    with _tracer.start_as_current_span(name, attributes=attributes) as current:
        yield current


def context_capture() -> Any:
    """The current trace context, to carry into another thread or loop (None when off)."""
    if not _enabled:
        return None
    from opentelemetry import context

    return context.get_current()


def context_attached(captured: Any) -> contextlib.AbstractContextManager[Any]:
    """Make `captured` (from `context_capture`) current for the block."""
    if captured is None:
        return _NOOP
    return _attached(captured)


@contextlib.contextmanager
def _attached(captured: Any) -> Iterator[None]:
    from opentelemetry import context

    token = context.attach(captured)
    try:
        yield
    finally:
        context.detach(token)
