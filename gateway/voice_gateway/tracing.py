"""OpenTelemetry: Pipecat's conversation -> turn -> stt/llm/tts spans, exported over OTLP/HTTP
when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (the standard variable, so the chart passes it as is)."""

from __future__ import annotations

import os

from pipecat.utils.tracing.setup import setup_tracing


def configure_tracing(service_name: str = "voice-gateway") -> bool:
    """Install the OTLP exporter if an endpoint is configured; returns whether spans are exported."""
    if not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return setup_tracing(service_name=os.environ.get("OTEL_SERVICE_NAME", service_name), exporter=OTLPSpanExporter())
