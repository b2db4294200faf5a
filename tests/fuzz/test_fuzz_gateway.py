"""Fuzzing the real gateway: generated caller frames (raw PCM and protobuf formats) and HTTP requests.

The gateway runs against the real local stack (STT, LLM, TTS). Whatever a caller sends, each
text message back is a JSON event, each error event has a stable code, the server never closes
with 1011, the call stays open unless the frame was over the transport's cap (1009), no request
gets a 5xx, ``POST /drain`` never succeeds without the drain token, ``voice_active_sessions``
returns to 0 and the gateway's log gains no traceback.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pipecat.frames.protobufs import frames_pb2

from fuzz_support import (
    FUZZ,
    TIMEOUT_S,
    WatchedServer,
    assert_error_event,
    hostile_json_texts,
    json_events,
    json_values,
    receive_for,
    send_all,
)
from voice_agent.stack import LLM_MODEL_ALIAS
from voice_gateway.settings import GatewaySettings
from voice_testkit.services import start_service

pytestmark = pytest.mark.slow

SETTINGS = GatewaySettings()
DRAIN_TOKEN = "fuzz-operator-token"
GATEWAY_FUZZ = settings(FUZZ, max_examples=30)  # every call builds a real pipeline: fewer, costlier examples

control_messages = st.fixed_dictionaries(
    {"type": st.sampled_from(["start", "ping", "dance"]) | json_values},
    optional={"sample_rate": st.sampled_from([16000, 8000, 44100]) | json_values},
)
text_frames = control_messages.map(json.dumps) | json_values.map(json.dumps) | hostile_json_texts
binary_frames = st.binary(max_size=4096) | st.sampled_from([b"\x01", bytes(SETTINGS.max_frame_bytes + 2)])
protobuf_frames = st.one_of(
    st.binary(max_size=512),
    st.builds(
        lambda rate, channels, audio: frames_pb2.Frame(
            audio=frames_pb2.AudioRawFrame(audio=audio, sample_rate=rate, num_channels=channels)
        ).SerializeToString(),
        st.sampled_from([16000, 8000, 0, 2**31 - 1]),
        st.integers(0, 3),
        st.binary(max_size=2048),
    ),
    st.text(max_size=50),
)


@pytest.fixture(scope="module")
def watched(local_stack) -> Iterator[WatchedServer]:
    gateway = start_service(
        "gateway",
        "voice_gateway",
        {
            "GATEWAY_STT_URL": f"ws://127.0.0.1:{local_stack.ports.stt}/v1/listen",
            "GATEWAY_TTS_URL": f"ws://127.0.0.1:{local_stack.ports.tts}/ws",
            "GATEWAY_LLM_BASE_URL": local_stack.llm_base_url,
            "GATEWAY_LLM_MODEL": LLM_MODEL_ALIAS,
            "GATEWAY_DRAIN_TOKEN": DRAIN_TOKEN,
        },
        ready_path="/health",
    )
    with httpx.Client(base_url=gateway.spec.base_url, timeout=TIMEOUT_S) as http:
        yield WatchedServer(gateway, http, "voice_active_sessions")
    gateway.stop()


def check_call(ws, frames: list[str | bytes], over_cap: bool) -> None:
    send_all(ws, frames)
    events = json_events(receive_for(ws, 0.3))
    assert events and events[0]["type"] in ("ready", "error"), events
    for event in events:
        if event["type"] == "error":
            assert_error_event(event)
    if over_cap:
        assert ws.close_code in (None, 1009), ws.close_code
    else:
        assert ws.close_code is None, (ws.close_code, events[-3:])  # the call goes on


@GATEWAY_FUZZ
@given(frames=st.lists(text_frames | binary_frames, max_size=6))
def test_raw_calls_survive_any_frames(watched, frames):
    with watched.open_ws("/ws") as ws:
        check_call(ws, frames, over_cap=False)
    watched.assert_healthy(sessions_left=True)


@GATEWAY_FUZZ
@given(frames=st.lists(protobuf_frames, max_size=5))
def test_protobuf_calls_survive_any_frames(watched, frames):
    with watched.open_ws("/ws?format=protobuf") as ws:
        send_all(ws, frames)
        received = receive_for(ws, 0.3)
        assert ws.close_code is None, ws.close_code
    for message in received:
        if isinstance(message, bytes):  # protobuf events: an error arrives as a JSON message frame
            frame = frames_pb2.Frame.FromString(message)
            if frame.WhichOneof("frame") == "message":
                data = json.loads(frame.message.data)
                if data.get("type") == "error":
                    assert_error_event(data)
    watched.assert_healthy(sessions_left=True)


@FUZZ
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "OPTIONS"]),
    path=st.sampled_from(
        ["/", "/ws", "/drain", "/ready", "/metrics", "/budget.json", "/static/app.js", "/static/../../etc/passwd"]
    )
    | st.text(alphabet=st.characters(codec="ascii", exclude_categories=["Cc"]), max_size=30).map(lambda p: "/" + p),
    headers=st.dictionaries(
        st.sampled_from(["authorization", "x-token", "content-type"]),
        st.text(alphabet=st.characters(codec="latin-1", exclude_categories=["Cc"]), max_size=40)
        .map(lambda v: v.encode("latin-1")),
        max_size=2,
    ),
    body=st.binary(max_size=512),
)
def test_http_requests_never_fail_and_never_drain_without_the_token(watched, method, path, headers, body):
    try:
        response = watched.http.request(method, path, headers=headers, content=body)
    except (httpx.InvalidURL, httpx.LocalProtocolError):
        return  # the client itself refuses the URL or a header: nothing reached the server
    assert response.status_code < 500, (method, path, response.status_code, response.text[:300])
    if path == "/drain" and method == "POST":
        assert response.status_code == 401, response.text
    watched.assert_healthy(sessions_left=False)
    assert watched.http.get("/ready").json()["draining"] is False
