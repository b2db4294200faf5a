"""Fuzzing the real TTS server: generated frames on ``WS /ws``, generated bodies on ``POST /v1/audio/speech``.

Whatever a client sends, the server answers with its own errors and never fails: no 5xx, every
WebSocket frame answered by one text frame (``END``, ``cancelled`` or an error event with a
stable code) and the session still open after it, ``/health`` answering after each example, no
synthesis left streaming (``tts_active_streams`` back to 0) and no traceback in the server's log
(``fuzz_support.WatchedServer``). Every example runs against the one session-wide ``tts_server``
on loopback. Texts that could be spoken are at most a few characters, so a successful example
costs a short synthesis and the file runs in well under a minute. Failing inputs are printed by
hypothesis; nothing is stored.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.sync.client import ClientConnection

from fuzz_support import FUZZ, TIMEOUT_S, WatchedServer, assert_error_event, json_values
from voice_agent.processes import ServiceProcess

pytestmark = pytest.mark.slow

# A spoken example costs ~0.5 s of synthesis; the WebSocket ones speak more often.
FUZZ_WS = settings(FUZZ, max_examples=40)

# -- strategies ------------------------------------------------------------------------------
# Anything Unicode has (controls, emoji, unassigned...) but short: a speakable one is ~1 s of audio.
short_texts = st.text(max_size=3)
# What a text field may hold: a short text, or any JSON that is not a string (refused).
text_fields = short_texts | json_values.filter(lambda value: not isinstance(value, str))
# A lone surrogate is valid JSON but not valid UTF-8; hypothesis's text never holds one.
lone_surrogates = st.integers(0xD800, 0xDFFF).map(lambda code: f"\\u{code:04x}")
voices = st.sampled_from(["af_heart", "am_michael", "nobody", ""]) | json_values
speeds = st.floats(0.4, 2.1) | json_values
speech_bodies = st.fixed_dictionaries(
    {},
    optional={
        "input": text_fields,
        "voice": voices,
        "speed": speeds,
        "model": st.sampled_from(["kokoro", "tts-1", "whisper-1"]) | json_values,
        "response_format": st.sampled_from(["pcm", "wav", "mp3"]) | json_values,
        "stream": st.booleans() | json_values,
    },
)
ws_messages = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["speak", "cancel", "shout"]) | json_values,
        "text": text_fields,
        "config": st.fixed_dictionaries({}, optional={"voice": voices, "speed": speeds}) | json_values,
        "context_id": json_values,
    },
)
# Hostile JSON below the size limits (over them, the size check refuses it before any parsing).
hostile_json = st.one_of(
    st.integers(1, 60_000).map(lambda depth: "[" * depth),  # the probe's crash, kept under the 64 KiB frame limit
    st.integers(1, 10_000).map(lambda depth: '{"a":' * depth),
    st.integers(4000, 10_000).map(lambda digits: '{"input": ' + "7" * digits + ', "text": 1}'),
    lone_surrogates.map(lambda text: f'{{"input": "{text}", "text": "{text}"}}'),
    st.text(max_size=40).map(lambda text: "{" + text),
)
# Valid but for what the text holds: these reach the phonemizer (a 200, or unspeakable_input).
plausible_bodies = st.fixed_dictionaries(
    {"input": short_texts},
    optional={
        "voice": st.sampled_from(["af_heart", "am_michael"]),
        "response_format": st.sampled_from(["pcm", "wav"]),
        "stream": st.booleans(),
    },
)
body_bytes = st.one_of(
    plausible_bodies.map(lambda body: json.dumps(body, ensure_ascii=False).encode()),
    speech_bodies.map(lambda body: json.dumps(body).encode()),
    json_values.map(lambda value: json.dumps(value).encode()),
    hostile_json.map(str.encode),
    st.binary(max_size=64),
)
# Plain text, and JSON that is not an object (plain text too, spoken as it is): kept short. One
# branch of four, so that most frames are refused and the file stays fast.
short_non_objects = st.none() | st.booleans() | st.integers(-99, 99) | st.lists(st.integers(0, 9), max_size=2)
plain_texts = short_texts | short_non_objects.map(json.dumps)
frames = st.one_of(ws_messages.map(json.dumps), plain_texts, hostile_json, st.binary(max_size=64))


# -- the server and its checks ---------------------------------------------------------------
@pytest.fixture(scope="module")
def watched(tts_server: ServiceProcess) -> Iterator[WatchedServer]:
    # tts_active_streams: no synthesis may be left running once an example's client has gone.
    with httpx.Client(base_url=tts_server.spec.base_url, timeout=TIMEOUT_S) as http:
        yield WatchedServer(tts_server, http, "tts_active_streams")


def reply_to(ws: ClientConnection, frame: str | bytes) -> str:
    """Send one frame; the text frame that answers it, after any audio."""
    ws.send(frame)
    while isinstance(reply := ws.recv(timeout=TIMEOUT_S), bytes):
        pass
    return reply


# -- the examples ----------------------------------------------------------------------------
@FUZZ_WS
@given(frames=st.lists(frames, min_size=1, max_size=2))
def test_ws_answers_every_frame_and_the_session_goes_on(watched, frames):
    with watched.open_ws("/ws") as ws:
        for frame in frames:
            reply = reply_to(ws, frame)
            if reply == "END":
                continue
            event = json.loads(reply)
            assert event["type"] in ("error", "cancelled"), event
            if event["type"] == "error":
                assert_error_event(event)
        # Still open: an idle cancel is acknowledged without any synthesis.
        assert json.loads(reply_to(ws, json.dumps({"type": "cancel"})))["type"] == "cancelled"
    watched.assert_healthy(sessions_left=True)


@FUZZ
@given(body=body_bytes)
def test_speech_answers_audio_or_a_4xx_with_a_code(watched, body):
    response = watched.http.post("/v1/audio/speech", content=body, headers={"content-type": "application/json"})
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        error = response.json()["error"]
        assert_error_event(error)
        assert error["param"] is None or isinstance(error["param"], str), error
    else:
        assert response.content and response.headers["content-type"].startswith("audio/"), response.headers
    watched.assert_healthy(sessions_left=True)
