"""Fuzzing the real STT server: generated frames on ``/v1/listen`` and ``/ws``, generated uploads.

Whatever a client sends, the server answers with its own errors and never fails: no 5xx and no
1011 close, every WebSocket error a JSON event with a stable code, ``/health`` answering after
each example, sessions released (``stt_active_sessions`` back to 0) once the client is gone, and
no traceback in the server's log. Every example runs against the one session-wide ``stt_server``
on loopback; examples are bounded so the file runs in well under a minute (examples that send
noise and flush cost a real decode). Failing inputs are printed by hypothesis; nothing is stored.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection

from fuzz_support import FUZZ, TIMEOUT_S, WatchedServer, assert_error_event, hostile_json_texts, json_values, send_all
from stt.stt_helpers import WAV_HEADER_FIELDS, patched_wav
from voice_agent.processes import ServiceProcess
from voice_common.audio import wav_bytes
from voice_stt.settings import STTSettings

pytestmark = pytest.mark.slow

MAX_FRAME_BYTES = STTSettings.model_fields["max_frame_bytes"].default
LISTEN_EVENTS = {"ready", "partial", "final", "error"}
STT_FUZZ = settings(FUZZ, max_examples=80)

# -- strategies ------------------------------------------------------------------------------
start_messages = st.fixed_dictionaries(
    {"type": st.just("start")},
    optional={
        "sample_rate": st.integers(-1, 200_000) | json_values,
        "language": st.sampled_from(["en", "de", "xx", ""]) | json_values,
        "interim_results": st.booleans() | json_values,
    },
)
control_messages = start_messages | st.fixed_dictionaries({"type": st.sampled_from(["flush", "reset", "stop"]) | json_values})
text_frames = st.one_of(control_messages.map(json.dumps), json_values.map(json.dumps), hostile_json_texts)
binary_frames = st.binary(max_size=4096) | st.sampled_from([b"", b"\x01", bytes(MAX_FRAME_BYTES + 2)])
header_fields = st.fixed_dictionaries(
    {},
    optional={
        name: st.integers(0, 2 ** (8 * (2 if layout == "<H" else 4)) - 1) | st.sampled_from([0, 1, 2, 8000, 16000])
        for name, (_offset, layout) in WAV_HEADER_FIELDS.items()
    },
)
wav_uploads = st.builds(
    lambda pcm, rate, fields, cut: patched_wav(wav_bytes(pcm, rate), **fields)[:cut],
    st.binary(max_size=8000).map(lambda pcm: pcm[: len(pcm) // 2 * 2]),
    st.sampled_from([8000, 16000, 44100]),
    header_fields,
    st.integers(0, 9000),
)
form_fields = st.fixed_dictionaries(
    {},
    optional={
        "sample_rate": st.integers(-1, 100_000).map(str) | st.text(max_size=8),
        "response_format": st.sampled_from(["json", "text", "verbose_json", "srt"]) | st.text(max_size=8),
        "language": st.sampled_from(["en", "xx"]) | st.text(max_size=8),
        "model": st.text(max_size=8),
    },
)


# -- the server ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def watched(stt_server: ServiceProcess) -> Iterator[WatchedServer]:
    with httpx.Client(base_url=stt_server.spec.base_url, timeout=TIMEOUT_S) as http:
        yield WatchedServer(stt_server, http, "stt_active_sessions")


def drain(ws: ClientConnection) -> list[str | bytes]:
    """Everything the server sends until it closes the connection (a hang fails on the timeout)."""
    received = []
    while True:
        try:
            received.append(ws.recv(timeout=TIMEOUT_S))
        except ConnectionClosed:
            return received


# -- the examples ----------------------------------------------------------------------------
@STT_FUZZ
@given(started=st.booleans(), frames=st.lists(text_frames | binary_frames, max_size=6))
def test_listen_survives_any_frames_in_any_order(watched, started, frames):
    ws = watched.open_ws("/v1/listen")
    with ws:
        send_all(ws, ([json.dumps({"type": "start"})] if started else []) + frames + [json.dumps({"type": "stop"})])
        received = drain(ws)  # `stop` ends every session: flushed and closed 1000
    for message in received:
        assert isinstance(message, str), f"a binary frame from the server ({len(message)} bytes)"
        event = json.loads(message)
        assert event["type"] in LISTEN_EVENTS, event
        if event["type"] == "error":
            assert_error_event(event)
    oversized = any(isinstance(f, bytes) and len(f) > MAX_FRAME_BYTES for f in frames)
    assert ws.close_code in ({1000, 1009} if oversized else {1000}), (ws.close_code, received[-3:])
    watched.assert_healthy(sessions_left=True)


@STT_FUZZ
@given(frames=st.lists(text_frames | st.binary(max_size=4096), min_size=1, max_size=3))
def test_legacy_ws_answers_every_frame(watched, frames):
    with watched.open_ws("/ws") as ws:
        for frame in frames:
            ws.send(frame)
            reply = ws.recv(timeout=TIMEOUT_S)
            assert isinstance(reply, str), reply
            if reply.startswith("{"):  # an error; transcripts are plain text
                error = json.loads(reply)
                assert_error_event({"code": error.get("code"), "message": error.get("error")})
    watched.assert_healthy(sessions_left=True)


@STT_FUZZ
@given(content=wav_uploads | st.binary(max_size=4096), fields=form_fields)
def test_uploads_get_a_transcript_or_a_4xx_with_a_code(watched, content, fields):
    response = watched.http.post("/v1/audio/transcriptions", files={"file": ("upload", content)}, data=fields)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        error = response.json()["error"]
        assert_error_event(error)
        assert error["param"] is None or isinstance(error["param"], str), error
    elif response.headers["content-type"].startswith("application/json"):
        assert isinstance(response.json()["text"], str), response.text
    watched.assert_healthy(sessions_left=False)
