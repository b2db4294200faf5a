"""W3C trace context on our wires: nothing at all when tracing is off, the current span's id when it is on.

A local TracerProvider, never the global one: the gateway's span tests install theirs in the same process.
"""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import format_span_id, format_trace_id, get_current_span

from voice_common import tracing
from voice_gateway.tracing import turn_trace_ids

TRACER = TracerProvider().get_tracer("test")


@pytest.fixture
def tracing_on(monkeypatch):
    monkeypatch.setitem(tracing._STATE, "enabled", True)


def test_without_an_endpoint_nothing_is_configured_sent_or_parsed(monkeypatch):
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    assert not tracing.configure("test") and not tracing.enabled()
    with TRACER.start_as_current_span("turn"):
        assert tracing.traceparent() == {}  # no field in the message, no header on the request
    assert tracing.remote_parent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01") is None
    assert tracing.start_span("stt.decode", None) is None
    tracing.end_span(None)  # the servers' hooks are no-ops on None


def test_the_current_spans_context_goes_out_and_comes_back_as_its_child(tracing_on):
    with TRACER.start_as_current_span("llm") as span:
        header = tracing.traceparent()
    ids = span.get_span_context()
    version, trace_id, span_id, _flags = header["traceparent"].split("-")
    assert (version, trace_id, span_id) == ("00", format_trace_id(ids.trace_id), format_span_id(ids.span_id))
    parent = get_current_span(tracing.remote_parent(header["traceparent"])).get_span_context()
    assert (parent.trace_id, parent.span_id, parent.is_remote) == (ids.trace_id, ids.span_id, True)


@pytest.mark.parametrize("value", [None, 42, "", "garbage", "00-00000000000000000000000000000000-b7ad6b7169203331-01"])
def test_a_missing_or_malformed_traceparent_is_ignored(tracing_on, value):
    assert tracing.remote_parent(value) is None  # unknown and bad fields never fail a request


def test_the_exemplar_names_the_current_turns_trace(tracing_on):
    class TurnObserver:  # Pipecat's TurnTraceObserver, as far as the exemplar needs it
        def __init__(self, span):
            self.span = span

        def get_current_turn_context(self):
            return self.span.get_span_context() if self.span else None

    with TRACER.start_as_current_span("turn") as span:
        ids = turn_trace_ids(TurnObserver(span))
    context = span.get_span_context()
    assert ids == {"trace_id": format_trace_id(context.trace_id), "span_id": format_span_id(context.span_id)}
    assert turn_trace_ids(TurnObserver(None)) == {} and turn_trace_ids(None) == {}
