"""One spoken turn, traced across the gateway, the STT server and the TTS server, read back from a
real Jaeger (tools/jaeger/build.sh) through its HTTP API, and linked from Prometheus' exemplars.

The STT, TTS and gateway here are started with ``OTEL_EXPORTER_OTLP_ENDPOINT`` pointing at
Jaeger's OTLP receiver, as ``make observe`` starts them; the LLM is the session's llama.cpp
server behind a proxy that records the ``traceparent`` header of each request (llama.cpp makes
no spans of its own, so the header is what shows the propagation).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from jaeger_support import Jaeger, RecordingProxy, Trace
from prometheus_support import Prometheus
from voice_agent.client import Caller
from voice_agent.observe import JaegerPorts, ScrapeTarget, free_port, jaeger_spec, traced
from voice_agent.processes import ProcessGroup, start_ready
from voice_agent.stack import StackPorts, stack_specs
from voice_gateway import metrics as gateway_metrics
from voice_gateway.settings import GatewaySettings

pytestmark = [pytest.mark.slow, pytest.mark.observe]

REPO_ROOT = Path(__file__).resolve().parents[2]
LOG_DIR = REPO_ROOT / ".cache" / "test-logs"  # beside the other tests' server logs
LATENCY_DASHBOARD = REPO_ROOT / "charts" / "voice-agent" / "dashboards" / "voice-agent-latency.json"
QUESTION = "What is the capital of France?"
# Where the trace and the turn_metrics event measure the same thing, they agree within this.
SAME_MEASURE_MS = 20.0


@dataclass
class TracedTurn:
    trace: Trace
    turn: dict  # the turn_metrics event the caller received
    llm_requests: list[tuple[float, str, dict]]  # (time.time(), path, headers) the LLM server was sent
    prometheus: Prometheus
    jaeger: Jaeger
    ports: StackPorts  # the traced STT, TTS and gateway
    start: float
    end: float


def _complete(trace: Trace) -> bool:
    """Every process's batch has arrived: the gateway's conversation (sent when the call ended) and the servers' spans."""
    names = {span.name for span in trace.spans}
    return {"conversation", "turn", "stt", "llm", "tts", "stt.decode", "tts.synthesize"} <= names


@pytest.fixture(scope="module")
def traced_turn(local_stack, models_dir, prometheus_for, speech) -> TracedTurn:
    jaeger_ports = JaegerPorts.free()
    try:
        spec = jaeger_spec(jaeger_ports, name=f"jaeger-{jaeger_ports.query}")
    except FileNotFoundError as exc:
        pytest.fail(f"{exc} (a prerequisite of `make test`)", pytrace=False)
    jaeger_proc = start_ready(spec, LOG_DIR, 60)
    proxy = RecordingProxy(local_stack.llm_base_url.removesuffix("/v1"))
    group = ProcessGroup(LOG_DIR / "traced")
    try:
        llm_url = proxy.start() + "/v1"
        ports = StackPorts(stt=free_port(), tts=free_port(), llm=0, gateway=free_port())
        gateway_env = {"GATEWAY_LLM_BASE_URL": llm_url, "GATEWAY_LLM_MAX_TOKENS": "80", "GATEWAY_UPSTREAM_TIMEOUT_SECS": "30"}
        specs = [s for s in stack_specs(models_dir, ports, gateway_env=gateway_env) if s.name != "llm"]
        group.start(traced(specs, jaeger_ports.otlp_endpoint, export_delay_ms=200), timeout_s=300)
        prometheus = prometheus_for([ScrapeTarget("gateway", ports.gateway, pod="gateway-traced")])
        start = time.time()
        turn = asyncio.run(_one_turn(f"ws://127.0.0.1:{ports.gateway}/ws", speech(QUESTION)))
        jaeger = Jaeger(f"http://127.0.0.1:{jaeger_ports.query}")
        trace = jaeger.wait_for("voice-gateway", "conversation", _complete)
        time.sleep(2.5)  # a scrape after the turn: its exemplars are in Prometheus
        yield TracedTurn(trace, turn, list(proxy.requests), prometheus, jaeger, ports, start, time.time())
    finally:
        group.stop()
        proxy.stop()
        jaeger_proc.stop()


async def _one_turn(url: str, pcm: bytes) -> dict:
    async with Caller(url) as call:
        await call.silence(0.3)
        turn = await call.say_and_listen(pcm, timeout=90)
        assert turn.server, f"no turn_metrics: {call.conversation.events}"
    assert not call.conversation.errors, call.conversation.errors
    return turn.server


def test_one_trace_holds_the_turn_from_the_gateway_down_to_each_model_call(traced_turn):
    trace = traced_turn.trace
    conversation = trace.one("conversation", "voice-gateway")
    # The root, or under the call's WebSocket span and its endpoint where FastAPI traces connections (0.16x).
    by_id = {s.span_id: s for s in trace.spans}
    above, parent = [], by_id.get(conversation.parent_id)
    while parent is not None:
        above.append(parent)
        parent = by_id.get(parent.parent_id)
    assert all(s.service == "voice-gateway" and (s.name == "WS" or s.name.startswith(("WS ", "fastapi."))) for s in above), (
        trace.outline()
    )
    assert not above or above[-1].name.startswith("WS"), trace.outline()
    (turn,) = [t for t in trace.children(conversation, "turn") if t.tags.get("turn.number") == 1]
    for service in ("stt", "llm", "tts"):
        assert trace.children(turn, service), f"no {service} span under the turn: {trace.outline()}"

    # STT server: each flush's decode (one, or two where a pause was resumed) is the turn's child
    # (Pipecat opens its stt span only at the final transcript), inside the gateway's stt span, with
    # its slot wait and model run beneath.
    (stt,) = trace.children(turn, "stt")
    for decode in trace.named("stt.decode", "voice-stt"):
        assert decode.parent_id == turn.span_id, trace.outline()
        assert stt.start <= decode.start and decode.end <= stt.end + 0.005, trace.outline()
        assert {s.name for s in trace.children(decode)} == {"stt.slot_wait", "stt.inference"}, trace.outline()

    # TTS server: each text the gateway sent is a tts.synthesize under that reply's tts span, with a
    # span per chunk, each with its slot wait and model calls.
    tts_spans = {s.span_id for s in trace.children(turn, "tts")}
    syntheses = trace.named("tts.synthesize", "voice-tts")
    assert syntheses and all(s.parent_id in tts_spans for s in syntheses), trace.outline()
    for synthesis in syntheses:
        names = [s.name for s in trace.children(synthesis)]
        assert "tts.session_queue" in names and "tts.chunk" in names, trace.outline()
        for chunk in trace.children(synthesis, "tts.chunk"):
            assert {s.name for s in trace.children(chunk)} == {"tts.slot_wait", "tts.inference"}, trace.outline()
    assert {s.service for s in trace.spans} == {"voice-gateway", "voice-stt", "voice-tts"}


def test_the_llm_request_carries_the_llm_spans_trace_context(traced_turn):
    trace = traced_turn.trace
    llm_spans = {s.span_id for s in trace.named("llm", "voice-gateway")}
    # During the call (the gateway's warm-up request at start belongs to no call, and carries no traceparent).
    sent = [
        headers.get("traceparent")
        for at, path, headers in traced_turn.llm_requests
        if at >= traced_turn.start and path.endswith("/chat/completions")
    ]
    assert sent and all(sent), traced_turn.llm_requests
    for traceparent in sent:
        _version, trace_id, parent_id, _flags = traceparent.split("-")
        assert trace_id == trace.trace_id and parent_id in llm_spans, (traceparent, trace.outline())


def test_the_trace_measures_what_the_turn_metrics_event_reported(traced_turn):
    """Where a span and the caller's turn_metrics measure the same interval, they agree within 20 ms."""
    trace, event = traced_turn.trace, traced_turn.turn
    (turn,) = [t for t in trace.named("turn") if t.tags.get("turn.number") == 1]
    (stt,) = trace.children(turn, "stt")
    (llm,) = trace.children(turn, "llm")
    first_tts = min(trace.children(turn, "tts"), key=lambda s: s.start)
    decode = max(trace.named("stt.decode", "voice-stt"), key=lambda s: s.start)  # the final transcript's
    stop_s = GatewaySettings().vad_stop_secs  # the traced gateway runs with the default
    measured = {
        # Pipecat's STT TTFB runs from the real end of speech (the VAD's stop less its stop_secs) to
        # the final transcript; the event's STT latency from the VAD's stop to it.
        "stt_ms": (stt.tags["metrics.ttfb"] - stop_s) * 1000,
        # Pipecat's TTFB metrics, which the gateway's event reports too.
        "llm_ttft_ms": llm.tags["metrics.ttfb"] * 1000,
        "tts_ttfb_ms": first_tts.tags["metrics.ttfb"] * 1000,
        # End of speech to the bot's first audio: the turn span's user-bot latency.
        "mouth_to_ear_ms": turn.tags["turn.user_bot_latency_seconds"] * 1000,
    }
    report = {name: (round(value, 1), event[name]) for name, value in measured.items()}
    decode_ms = decode.duration * 1000
    print("\n(trace ms, turn_metrics ms):", report, f"STT server decode {decode_ms:.1f} ms of {event['stt_ms']} ms")
    for name, value in measured.items():
        assert value == pytest.approx(event[name], abs=SAME_MEASURE_MS), report
    # The STT server's decode (flush received to final sent) is the part of the STT latency spent
    # there; the rest is loopback and the gateway's event loop.
    assert 0 < decode_ms <= event["stt_ms"], (decode_ms, event["stt_ms"])


def test_the_latency_histograms_link_each_turn_to_its_trace(traced_turn):
    """Prometheus (with exemplar storage) holds the turn's trace id with every stage's observation."""
    trace = traced_turn.trace
    (turn,) = [t for t in trace.named("turn") if t.tags.get("turn.number") == 1]
    for stage, histogram in gateway_metrics.STAGE_HISTOGRAMS.items():
        name = histogram.describe()[0].name
        series = traced_turn.prometheus.exemplars(f"{name}_bucket", traced_turn.start, traced_turn.end)
        exemplars = [e for s in series for e in s["exemplars"]]
        assert exemplars, f"{stage}: no exemplar on {name}"
        assert {e["labels"]["trace_id"] for e in exemplars} == {trace.trace_id}, (stage, exemplars)
        assert {e["labels"]["span_id"] for e in exemplars} == {turn.span_id}, (stage, exemplars)
        assert float(exemplars[0]["value"]) * 1000 == pytest.approx(traced_turn.turn[f"{stage}_ms"], abs=0.1)


def test_the_latency_panels_exemplar_queries_find_the_turn(traced_turn):
    """What Grafana asks for each panel with exemplars on finds this turn's trace (the dots that link to it)."""
    board = json.loads(LATENCY_DASHBOARD.read_text())
    targets = [t for p in board["panels"] for t in p.get("targets", []) if t.get("exemplar")]
    assert len(targets) == len(gateway_metrics.STAGE_HISTOGRAMS), "one exemplar query per stage panel"
    for target in targets:
        expr = target["expr"].replace("$namespace", "local").replace("$__rate_interval", "4s")
        series = traced_turn.prometheus.exemplars(expr, traced_turn.start, traced_turn.end)
        trace_ids = {e["labels"]["trace_id"] for s in series for e in s["exemplars"]}
        assert trace_ids == {traced_turn.trace.trace_id}, (expr, series)


def test_the_servers_http_endpoints_put_their_spans_in_the_callers_trace(traced_turn, speech):
    """The OpenAI-compatible endpoints take a ``traceparent`` header: FastAPI's request span continues the
    caller's trace and the model work goes beneath it."""
    trace_id, parent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    headers = {"traceparent": f"00-{trace_id}-{parent}-01"}
    stt, tts = (f"http://127.0.0.1:{port}" for port in (traced_turn.ports.stt, traced_turn.ports.tts))
    pcm = speech("Hello there.")
    files = {"file": ("hello.pcm", pcm, "application/octet-stream")}
    heard = httpx.post(stt + "/v1/audio/transcriptions", files=files, data={"sample_rate": "16000"}, headers=headers, timeout=120)
    assert heard.status_code == 200, heard.text
    speech_request = {"input": "Hello there.", "response_format": "pcm"}
    spoken = httpx.post(tts + "/v1/audio/speech", json=speech_request, headers=headers, timeout=120)
    assert spoken.status_code == 200 and spoken.content

    def arrived(found: Trace | None) -> bool:  # each process's batch: the request spans end after the model work
        names = {(s.service, s.name.split()[0]) for s in found.spans} if found else set()
        return {("voice-stt", "POST"), ("voice-stt", "stt.inference"), ("voice-tts", "POST"), ("voice-tts", "tts.chunk")} <= names

    deadline, found = time.monotonic() + 30, None
    while not arrived(found) and time.monotonic() < deadline:
        time.sleep(0.5)
        try:
            found = traced_turn.jaeger.trace(trace_id)
        except AssertionError:  # 404 until the first batch arrives
            found = None
    assert found, f"no trace {trace_id} in Jaeger"
    for service, work in (("voice-stt", "stt.inference"), ("voice-tts", "tts.chunk")):
        request = [s for s in found.spans if s.service == service and s.parent_id == parent]
        assert len(request) == 1 and request[0].name.startswith("POST"), found.outline()
        below = {s.span_id for s in found.spans if s.parent_id == request[0].span_id}
        assert any(s.name == work and (s.parent_id in below or s.parent_id == request[0].span_id) for s in found.spans), (
            found.outline()
        )
