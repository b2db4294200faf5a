"""OpenTelemetry for every process of the stack: one setup, and W3C trace context across our wires.

A process exports spans over OTLP/HTTP only when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (the
standard variable, as are ``OTEL_SERVICE_NAME`` and the exporter's other ``OTEL_*`` settings).
Otherwise ``configure`` installs nothing and every helper here returns at its first line: no span
objects, no context parsing, nothing on the wire.

The gateway sends the W3C ``traceparent`` of the span a request belongs to: as the HTTP header of
the LLM request, as a ``traceparent`` field of each TTS synthesis message and of the STT ``flush``
(docs/protocols.md). The STT and TTS servers start their spans as children of that context, so one
trace holds the caller's turn from the gateway down to each model call.
"""

from __future__ import annotations

import os
import time

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

TRACEPARENT = "traceparent"
# FastAPI (0.16x) traces every request once a tracer provider is set: Prometheus' scrape each second and
# the kubelet's probes would bury the calls' traces. Requests to these paths are not sampled.
UNTRACED_PATHS = frozenset({"/metrics", "/health", "/ready"})
_PROPAGATOR = TraceContextTextMapPropagator()
_STATE = {"enabled": False}  # set once, by configure


def configure(default_service_name: str) -> bool:
    """Export this process's spans over OTLP/HTTP if an endpoint is configured; returns whether it does."""
    if not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased

    # The provider's atexit hook flushes the batch when the server shuts down (SIGTERM included).
    service = os.environ.get("OTEL_SERVICE_NAME") or default_service_name
    sampler = ParentBased(root=_ProbesUnsampled(ALWAYS_ON))  # a dropped request's child spans go with it
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service}), sampler=sampler)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _STATE["enabled"] = True
    return True


class _ProbesUnsampled:
    """Samples as ``inner`` does, except the server spans of requests to ``UNTRACED_PATHS``."""

    def __init__(self, inner) -> None:
        self._inner = inner

    def should_sample(self, parent_context, trace_id, name, kind=None, attributes=None, links=None, trace_state=None):
        from opentelemetry.sdk.trace.sampling import Decision, SamplingResult

        if kind is SpanKind.SERVER and attributes and attributes.get("url.path") in UNTRACED_PATHS:
            return SamplingResult(Decision.DROP)
        return self._inner.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

    def get_description(self) -> str:
        return f"ProbesUnsampled{{{self._inner.get_description()}}}"


def enabled() -> bool:
    return _STATE["enabled"]


def traceparent(context: Context | None = None) -> dict[str, str]:
    """``{"traceparent": ...}`` for the span of ``context`` (default: the current one), or ``{}``
    when this process does not trace or there is no span: merge it into a message or headers."""
    if not _STATE["enabled"]:
        return {}
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier, context=context)
    return carrier


def remote_parent(value: object) -> Context | None:
    """The context a peer sent as ``traceparent``; None when untraced here, absent or malformed."""
    if not _STATE["enabled"] or not isinstance(value, str):
        return None
    context = _PROPAGATOR.extract({TRACEPARENT: value})
    return context if trace.get_current_span(context).get_span_context().is_valid else None


def current() -> Context | None:
    """The current context (e.g. FastAPI's span of the request being served), or None when untraced here."""
    if not _STATE["enabled"]:
        return None
    from opentelemetry.context import get_current

    return get_current()


def start_span(
    name: str,
    parent: Context | None,
    *,
    start: float | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: dict | None = None,
) -> Span | None:
    """A span under ``parent`` (a remote context or ``child_context`` of a span of ours), or None when
    there is nothing to trace under. ``start``: ``time.time()`` seconds, for work that began earlier."""
    if parent is None:
        return None
    return trace.get_tracer("voice-agent-stack").start_span(
        name, context=parent, kind=kind, attributes=attributes, start_time=_ns(start)
    )


def child_context(span: Span | None) -> Context | None:
    return None if span is None else trace.set_span_in_context(span)


def end_span(span: Span | None, *, end: float | None = None, **attributes: object) -> None:
    """End ``span`` (if any) with these attributes; ``end`` in ``time.time()`` seconds, default now."""
    if span is None:
        return
    for key, value in attributes.items():
        if value is not None:
            span.set_attribute(key, value)
    span.end(end_time=_ns(end))


def record_span(name: str, parent: Context | None, start: float, end: float, **attributes: object) -> None:
    """A span of work already done, from ``start`` to ``end`` (``time.time()`` seconds)."""
    end_span(start_span(name, parent, start=start), end=end, **attributes)


def _ns(seconds: float | None) -> int | None:
    return None if seconds is None else int(seconds * 1e9)


def now() -> float:
    """Wall-clock seconds, the clock span times are in (``time.perf_counter`` is not comparable across processes)."""
    return time.time()
