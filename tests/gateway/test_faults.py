"""Bad input and failing model servers: the caller is told (an ``error`` event with a code), the
session stays usable or closes cleanly, and other sessions are unaffected."""

from __future__ import annotations

import asyncio
import functools
import json
import signal

import httpx
import pytest
import websockets

from support import async_get, established_connections_to, metric_by_label, ready_within
from voice_agent.client import Caller
from voice_agent.processes import ServiceProcess
from voice_agent.stack import LLM_MODEL_ALIAS, llm_spec
from voice_testkit.services import LOG_DIR, free_port, start_service

pytestmark = pytest.mark.slow


def error_codes(call: Caller) -> list[str]:
    return [error["code"] for error in call.conversation.errors]


async def test_garbage_from_one_caller_is_refused_and_does_not_hurt_another(local_stack, speech):
    async def well_behaved_call():
        async with Caller(local_stack.gateway_ws) as call:
            await call.silence(0.3)
            return await call.say_and_listen(speech("What is two plus two?"), timeout=90), call

    async def garbage_call():
        async with Caller(local_stack.gateway_ws) as call:
            for junk in (b"\x01\x02\x03", "hello there", json.dumps({"type": "dance"}), bytes(200_000),
                         json.dumps({"type": "start", "sample_rate": 44100})):
                await call.websocket.send(junk)
            await call.wait_for(lambda: len(call.conversation.errors) >= 5, 10)
            # still usable after all that: a real question gets a real answer
            await call.silence(0.3)
            turn = await call.say_and_listen(speech("Hello, are you there?"), timeout=90)
            return turn, call

    (good_turn, good_call), (garbage_turn, garbage) = await asyncio.gather(well_behaved_call(), garbage_call())
    assert error_codes(garbage) == [
        "odd_length_frame", "invalid_json", "unknown_type", "frame_too_large", "unsupported_sample_rate"
    ]
    assert garbage_turn.transcript and garbage_turn.reply_text, "the session survived its bad input"
    assert not good_call.conversation.errors and good_turn.reply_text


async def test_unknown_format_and_bad_token_are_refused_with_a_reason(local_stack):
    async with websockets.connect(local_stack.gateway_ws + "?format=mp3") as ws:
        event = json.loads(await ws.recv())
        assert event["code"] == "unknown_format"
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd.code == 1008


async def test_while_a_model_server_is_down_new_calls_are_refused_with_a_reason_and_the_gateway_stays_ready(
    gateway_with, speech
):
    """A shared model server's outage must not take the gateway out of its Service (a single gateway
    would refuse connections then): new callers get a coded refusal, live ones the service's error."""
    stt = start_service("stt", "voice_stt", {})
    try:
        gateway = gateway_with(GATEWAY_STT_URL=f"ws://127.0.0.1:{stt.spec.port}/v1/listen", GATEWAY_UPSTREAM_POLL_SECS="0.3")
        url = f"ws://127.0.0.1:{gateway.spec.port}/ws"
        assert (await ready_within(gateway.spec.base_url, 60)).status_code == 200
        async with Caller(url) as live_call:
            await live_call.silence(0.3)
            stt.stop(grace_s=0)
            # two failed polls; a poll waits up to 2 s on a busy LLM
            ready = await ready_within(gateway.spec.base_url, 20, until=lambda r: r.json()["upstreams"]["stt"] is False)
            assert ready.status_code == 200 and ready.json()["upstreams"]["stt"] is False, ready.json()

            async with websockets.connect(url) as refused:
                event = json.loads(await refused.recv())
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await refused.recv()
            assert (event["code"], event["service"]) == ("stt_unavailable", "stt") and "STT" in event["message"]
            assert closed.value.rcvd.code == 1013, "try again later"

            # The live call's STT stream opens at its first speech, so that is when the outage reaches it.
            keep_talking = asyncio.create_task(live_call.stream(speech("Is anybody there?") + bytes(32000)))
            heard = await live_call.wait_for(lambda: "stt_unavailable" in error_codes(live_call), 15)
            assert heard, live_call.conversation.events
            await keep_talking  # the line stays open; audio is still accepted
            assert live_call.websocket.state.name == "OPEN"
        assert live_call.conversation.errors[0]["service"] == "stt"
        up = await metric_by_label(gateway.spec.base_url, "voice_gateway_upstream_up", "service", ("stt", "llm", "tts"))
        assert up == {"stt": 0, "llm": 1, "tts": 1}
        rejected = await metric_by_label(gateway.spec.base_url, "voice_sessions_rejected_total", "reason", ("stt_unavailable",))
        assert rejected == {"stt_unavailable": 1}
    finally:
        stt.stop()


async def test_a_gateway_that_never_reached_its_stt_is_not_ready(gateway_with):
    gateway = gateway_with(GATEWAY_STT_URL=f"ws://127.0.0.1:{free_port()}/v1/listen")
    ready = await ready_within(gateway.spec.base_url, 3)
    assert ready.status_code == 503 and ready.json()["upstreams_seen_up"] is False, ready.json()
    assert (await async_get(gateway.spec.base_url + "/health")).status_code == 200


def _start_llm(models_dir) -> ServiceProcess:
    proc = ServiceProcess(llm_spec(models_dir, free_port(), name="llm-doomed"), LOG_DIR)
    proc.wait_ready(120)
    return proc


async def test_a_call_is_heard_again_when_its_stt_server_comes_back_after_pipecats_reconnects_gave_up(gateway_with, speech):
    """Down longer than Pipecat's three reconnect attempts (+0, +4, +12 s), as a replaced pod can be."""
    stt = start_service("stt", "voice_stt", {})
    try:
        gateway = gateway_with(GATEWAY_STT_URL=f"ws://127.0.0.1:{stt.spec.port}/v1/listen", GATEWAY_UPSTREAM_TIMEOUT_SECS="30")
        async with Caller(f"ws://127.0.0.1:{gateway.spec.port}/ws") as call:
            await call.silence(0.3)
            first = await call.say_and_listen(speech("What is the capital of France?"), timeout=90)
            assert first.transcript, call.conversation.events
            stt.stop(grace_s=0)
            await call.silence(17.0)  # the gateway's reconnects fail and run out meanwhile
            assert "stt_unavailable" in error_codes(call), call.conversation.events
            stt = ServiceProcess(stt.spec, LOG_DIR)  # back at the same address
            stt.wait_ready(180)
            await call.silence(0.5)
            again = await call.say_and_listen(speech("What is the capital of Japan?"), timeout=90)
            assert "japan" in again.transcript.lower(), ("the caller was not heard again", call.conversation.events)
            assert again.reply_audio_bytes > 0
    finally:
        stt.stop()


async def test_llm_dying_mid_turn_is_reported_and_the_session_stays_up(gateway_with, models_dir, speech):
    llm = _start_llm(models_dir)
    try:
        gateway = gateway_with(GATEWAY_LLM_BASE_URL=f"http://127.0.0.1:{llm.spec.port}/v1")
        async with Caller(f"ws://127.0.0.1:{gateway.spec.port}/ws") as call:
            await call.silence(0.3)
            await call.say(speech("Tell me about the moon."))
            assert await call.wait_for(lambda: call.conversation.first_event("transcript"), 30)
            llm.stop(grace_s=0)  # the LLM server dies as the turn reaches it
            keep_talking = asyncio.create_task(call.silence(10))
            llm_failed = await call.wait_for(lambda: any(e["service"] == "llm" for e in call.conversation.errors), 30)
            assert llm_failed, call.conversation.events
            keep_talking.cancel()
            assert call.websocket.state.name == "OPEN", "the caller's session survives its LLM"
    finally:
        llm.stop()
    assert (await async_get(gateway.spec.base_url + "/health")).status_code == 200


async def ask_then_break_tts(call: Caller, question: bytes, when: str, fault) -> None:
    """Ask, and at the caller's event ``when`` break the TTS server with ``fault()``; the caller must
    then get an error from the TTS service while the call stays open."""
    await call.silence(0.3)
    await call.say(question)
    keep_talking = asyncio.create_task(call.silence(40))
    try:
        assert await call.wait_for(lambda: call.conversation.first_event(when), 60), call.conversation.events
        fault()
        tts_failed = await call.wait_for(lambda: any(e["service"] == "tts" for e in call.conversation.errors), 30)
        assert tts_failed, call.conversation.events
    finally:
        keep_talking.cancel()
    assert call.websocket.state.name == "OPEN"


async def test_tts_server_dying_mid_turn_is_reported_and_the_call_speaks_again_when_it_is_back(gateway_with, speech):
    tts = start_service("tts", "voice_tts", {})
    try:
        # a death is seen at once (connection closed); the long timeout is for the spoken turn after
        gateway = gateway_with(GATEWAY_TTS_URL=f"ws://127.0.0.1:{tts.spec.port}/ws", GATEWAY_UPSTREAM_TIMEOUT_SECS="30")
        async with Caller(f"ws://127.0.0.1:{gateway.spec.port}/ws") as call:
            # dies while the LLM is answering, before the reply is spoken
            await ask_then_break_tts(call, speech("Tell me about the sea."), "transcript", lambda: tts.stop(grace_s=0))

            # The pod restarts (same address); the same call gets spoken answers again.
            tts = ServiceProcess(tts.spec, LOG_DIR)
            tts.wait_ready(180)
            await call.silence(1.0)
            turn = await call.say_and_listen(speech("What is the capital of France?"), timeout=90)
            assert turn.reply_audio_bytes > 0, ("no speech after the TTS server came back", call.conversation.events)
    finally:
        tts.stop()


async def test_a_tts_server_that_stalls_mid_reply_is_reported_and_its_connection_is_not_leaked(gateway_with, speech):
    tts = start_service("tts", "voice_tts", {})
    try:
        # The stall must outlast the timeout, and the timeout a first phrase synthesized while the
        # other test worker loads both cores: in one parallel run that took over 3 s, so the gateway
        # (rightly) gave up before the bot spoke and the stall was never reached.
        gateway = gateway_with(GATEWAY_TTS_URL=f"ws://127.0.0.1:{tts.spec.port}/ws", GATEWAY_UPSTREAM_TIMEOUT_SECS="6")
        async with Caller(f"ws://127.0.0.1:{gateway.spec.port}/ws") as call:
            # mid-reply, alive and connected but silent: the receive times out
            stall = functools.partial(tts.process.send_signal, signal.SIGSTOP)
            try:
                await ask_then_break_tts(call, speech("Tell me a long story about the sea."), "bot_started_speaking", stall)
            finally:
                tts.process.send_signal(signal.SIGCONT)
        # The call is over: no connection from the gateway to the TTS server may be left open.
        for _ in range(50):
            if established_connections_to(tts.spec.port) == 0:
                break
            await asyncio.sleep(0.1)
        assert established_connections_to(tts.spec.port) == 0
    finally:
        tts.stop()


async def test_the_gateway_is_ready_only_once_its_llm_has_answered_a_warm_up(gateway_with, models_dir):
    llm_port = free_port()
    gateway = gateway_with(GATEWAY_LLM_BASE_URL=f"http://127.0.0.1:{llm_port}/v1")
    ready = await async_get(gateway.spec.base_url + "/ready")
    assert ready.status_code == 503 and ready.json()["llm_warm"] is False, "no LLM yet: not warm, not ready"

    llm = ServiceProcess(llm_spec(models_dir, llm_port, name="llm-late"), LOG_DIR)  # the LLM starts after the gateway
    try:
        llm.wait_ready(120)
        ready = await ready_within(gateway.spec.base_url, 30)
        assert ready.status_code == 200 and ready.json()["llm_warm"] is True, ready.json()
        assert "LLM warm-up done" in gateway.log_path.read_text()
    finally:
        llm.stop()


async def test_a_busy_llm_does_not_make_the_gateway_unready(local_stack):
    """A long reply must not take the gateway out (llama-cpp-python answered /v1/models only between replies)."""
    long_reply = {
        "model": LLM_MODEL_ALIAS,
        "messages": [{"role": "user", "content": "Write a very long story about the sea, with many chapters."}],
        "max_tokens": 1500,
        "stream": True,
    }
    statuses = []
    async with (
        httpx.AsyncClient(timeout=120) as http,
        http.stream("POST", local_stack.llm_base_url + "/chat/completions", json=long_reply) as reply,
    ):
        async for _ in reply.aiter_lines():
            if len(statuses) < 3:  # a probe's timeout (2 s) runs out while the reply streams
                statuses.append((await http.get(local_stack.gateway_http + "/ready")).status_code)
            if len(statuses) == 3:
                break
    assert statuses == [200, 200, 200]
