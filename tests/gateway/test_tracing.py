"""OpenTelemetry spans of a real turn: conversation -> turn -> stt / llm / tts, with latencies."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
import uvicorn
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pipecat.utils.tracing.setup import setup_tracing

from voice_agent.client import Caller
from voice_agent.stack import LLM_MODEL_ALIAS
from voice_gateway.app import create_app
from voice_gateway.settings import GatewaySettings
from voice_testkit.services import free_port

pytestmark = pytest.mark.slow


@pytest.fixture
def traced_gateway(local_stack):
    """The gateway app in this process (so spans land in an in-memory exporter), on the real stack."""
    exporter = InMemorySpanExporter()
    assert setup_tracing("voice-gateway-test", exporter=exporter)
    port = free_port()
    settings = GatewaySettings(
        host="127.0.0.1",
        port=port,
        stt_url=f"ws://127.0.0.1:{local_stack.ports.stt}/v1/listen",
        tts_url=f"ws://127.0.0.1:{local_stack.ports.tts}/ws",
        llm_base_url=local_stack.llm_base_url,
        llm_model=LLM_MODEL_ALIAS,
    )
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield f"ws://127.0.0.1:{port}/ws", exporter
    server.should_exit = True
    thread.join(10)


async def test_a_turn_produces_the_span_tree(traced_gateway, speech):
    url, exporter = traced_gateway
    async with Caller(url) as call:
        await call.silence(0.3)
        turn = await call.say_and_listen(speech("What colour is the sky?"), timeout=90)
    assert turn.server, call.conversation.events
    await asyncio.sleep(0.5)  # the conversation span ends when the session does
    trace.get_tracer_provider().force_flush()
    spans = exporter.get_finished_spans()
    by_name: dict[str, list] = {}
    for span in spans:
        by_name.setdefault(span.name, []).append(span)
    assert {"conversation", "turn", "stt", "llm", "tts"} <= set(by_name), sorted(by_name)

    conversation = by_name["conversation"][0]
    turns = {span.context.span_id: span for span in by_name["turn"]}
    assert all(span.parent.span_id == conversation.context.span_id for span in turns.values())
    for service in ("stt", "llm", "tts"):
        assert any(span.parent and span.parent.span_id in turns for span in by_name[service]), service
    llm_span = by_name["llm"][0]
    assert llm_span.attributes.get("metrics.ttfb", 0) > 0, dict(llm_span.attributes)
