"""Bad input on ``WS /v1/listen``: each gets its JSON error with a stable code; only oversized frames
and a full server close the connection (1009, 1013), and the server and other sessions keep working."""

from __future__ import annotations

import contextlib
import json
from contextlib import AsyncExitStack

import pytest
from websockets.exceptions import ConnectionClosed

from stt_helpers import active_sessions, close_code, connect, expect_error, flush, listening, recv_json, send_audio
from voice_stt.settings import STTSettings
from voice_testkit.speech import CAPITAL, CAPITAL_WORDS, LIGHTS, silence, words

pytestmark = pytest.mark.slow

MAX_FRAME_BYTES = STTSettings.model_fields["max_frame_bytes"].default
MAX_UTTERANCE_SECONDS = STTSettings.model_fields["max_utterance_seconds"].default
MAX_SESSIONS = 8  # tests/conftest.py starts the server with STT_MAX_SESSIONS=8
START = json.dumps({"type": "start"})


async def start_and_flush_silence(ws) -> None:
    """Prove the session still works after an error: start (if needed), stream, flush, get a final."""
    await ws.send(START)
    event = await recv_json(ws)
    assert event["type"] == "ready" or event.get("code") == "already_started", event
    await send_audio(ws, silence(0.2))
    assert (await flush(ws))["text"] == ""


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("hello?", "invalid_json"),
        ("[1, 2]", "bad_message"),
        ('{"kind": "start"}', "bad_message"),
        ('{"type": "start", "sample_rate": "fast"}', "bad_message"),
        ('{"type": "start", "interim_results": "yes"}', "bad_message"),
        ('{"type": "start", "language": "xx"}', "bad_message"),
        ('{"type": "dance"}', "unknown_type"),
        ('{"type": "flush"}', "not_started"),
        ('{"type": "reset"}', "not_started"),
        ('{"type": "resume"}', "not_started"),
        ('{"type": "start", "sample_rate": 96000}', "unsupported_sample_rate"),
        ('{"type": "start", "sample_rate": 4000}', "unsupported_sample_rate"),
        ("[" * 100_000, "message_too_large"),  # the probe's frame: the session closed 1011
        ("[" * 60_000, "invalid_json"),  # under the size cap, too deep: json.loads raised RecursionError
        ('{"type": "start", "sample_rate": ' + "9" * 5000 + "}", "invalid_json"),  # past Python's int-digit limit
    ],
    ids=lambda value: value if len(value) < 60 else f"{value[:20]}...({len(value)} chars)",
)
async def test_bad_control_message_gets_its_code_and_the_session_goes_on(stt_ws, message, code):
    async with connect(stt_ws + "/v1/listen") as ws:
        await ws.send(message)
        await expect_error(ws, code)
        await start_and_flush_silence(ws)


async def test_audio_before_start_is_refused(stt_ws):
    async with connect(stt_ws + "/v1/listen") as ws:
        await ws.send(silence(0.1))
        await expect_error(ws, "not_started")
        await start_and_flush_silence(ws)


async def test_second_start_is_refused(stt_ws):
    async with listening(stt_ws) as ws:
        await ws.send(START)
        await expect_error(ws, "already_started")
        await send_audio(ws, silence(0.2))
        assert (await flush(ws))["text"] == ""


async def test_odd_length_frame_is_dropped_and_the_stream_stays_aligned(stt_ws, speech):
    async with listening(stt_ws) as ws:
        await ws.send(b"\x01\x02\x03")
        await expect_error(ws, "odd_length_frame")
        await send_audio(ws, speech(CAPITAL))
        assert CAPITAL_WORDS <= words((await flush(ws))["text"])


async def test_oversized_frame_closes_1009_while_other_sessions_keep_working(stt_ws, speech):
    async with listening(stt_ws) as healthy:
        async with listening(stt_ws) as offender:
            await offender.send(bytes(MAX_FRAME_BYTES + 2))
            await expect_error(offender, "frame_too_large")
            assert await close_code(offender) == 1009
        async with listening(stt_ws) as huge:  # beyond the WebSocket layer's own cap: closed there, same code
            with contextlib.suppress(ConnectionClosed):  # the server may close while the frame is still going out
                await huge.send(bytes(8 * 1024 * 1024))
            assert await close_code(huge) == 1009
        await send_audio(healthy, speech(CAPITAL))
        assert CAPITAL_WORDS <= words((await flush(healthy))["text"])
    async with listening(stt_ws) as fresh:
        assert (await flush(fresh))["text"] == ""


async def test_too_long_segment_is_reported_once_and_capped(stt_ws):
    async with listening(stt_ws) as ws:
        await send_audio(ws, silence(MAX_UTTERANCE_SECONDS + 3), frame_bytes=64000)
        event = await expect_error(ws, "utterance_too_long")
        assert event["segment"] == 0
        final = await flush(ws)  # no second error came before it
        assert final["text"] == "" and final["audio_ms"] == MAX_UTTERANCE_SECONDS * 1000, final


async def test_sessions_beyond_the_limit_are_refused_with_1013(stt_ws, stt_http):
    assert await active_sessions(stt_http, 0) == 0
    async with AsyncExitStack() as stack:
        held = []
        for index in range(MAX_SESSIONS):  # both streaming endpoints count
            if index % 2:
                held.append(await stack.enter_async_context(listening(stt_ws)))
            else:
                held.append(await stack.enter_async_context(connect(stt_ws + "/ws")))
        assert await active_sessions(stt_http, MAX_SESSIONS) == MAX_SESSIONS

        async with connect(stt_ws + "/v1/listen") as refused:
            await expect_error(refused, "too_many_sessions")
            assert await close_code(refused) == 1013
        async with connect(stt_ws + "/ws") as refused:
            reply = json.loads(await refused.recv())
            assert reply["code"] == "too_many_sessions" and reply["error"], reply
            assert await close_code(refused) == 1013

        await held[1].close()
        assert await active_sessions(stt_http, MAX_SESSIONS - 1) == MAX_SESSIONS - 1
        async with listening(stt_ws) as admitted:
            assert (await flush(admitted))["text"] == ""


async def test_resume_with_no_flushed_segment_is_refused_and_the_session_goes_on(stt_ws, speech):
    async with listening(stt_ws) as ws:
        await ws.send(json.dumps({"type": "resume"}))
        await expect_error(ws, "nothing_to_resume")
        await send_audio(ws, speech(LIGHTS))
        await ws.send(json.dumps({"type": "reset"}))  # a reset forgets the flushed segment too
        await flush(ws)
        await ws.send(json.dumps({"type": "reset"}))
        await ws.send(json.dumps({"type": "resume"}))
        await expect_error(ws, "nothing_to_resume")
        final = await flush(ws)
        assert final["text"] == "" and "revises" not in final, final
