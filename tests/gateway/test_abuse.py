"""What one client with a script must not be able to do to the gateway (all traffic on loopback).

Each test names a fault found by a black-box probe: sessions leaked by callers who hang up at
once, silent callers holding upstream capacity, a drain anyone could trigger, hostile frames
that ended a session without a word, and unbounded headers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys

import httpx
import pytest
import websockets

from loadtest.soak import process_resources, storm
from support import metric_value, ready_within
from voice_agent.client import Caller

pytestmark = pytest.mark.slow


def rss_mib(pid: int) -> float:
    return process_resources(pid)["rss_mib"]


async def _metrics(url: str) -> str:
    async with httpx.AsyncClient(timeout=10) as http:
        return (await http.get(url + "/metrics")).text


async def _gauges_settle(local_stack, timeout_s: float = 10.0) -> tuple[float, float]:
    """(gateway sessions, STT sessions) once both are back to zero, or their values at the timeout."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        gateway = metric_value(await _metrics(local_stack.gateway_http), "voice_active_sessions")
        stt = metric_value(await _metrics(local_stack.stt_http), "stt_active_sessions")
        if (gateway, stt) == (0, 0) or asyncio.get_running_loop().time() > deadline:
            return gateway, stt
        await asyncio.sleep(0.2)


async def test_callers_hanging_up_at_once_leak_nothing_and_are_not_refused(local_stack):
    gateway_pid = local_stack.group.running["gateway"].process.pid
    # half of them wait for the greeting event, half leave before it; errors and refusals are counted
    assert await storm(local_stack.gateway_ws, 20) == 0  # warm-up: shared models load, allocator arenas fill
    assert await _gauges_settle(local_stack) == (0, 0)
    rss_before = rss_mib(gateway_pid)
    assert await storm(local_stack.gateway_ws, 150) == 0, "ten callers at a time are far below the limit of 32"
    assert await _gauges_settle(local_stack) == (0, 0), "no gateway session and no STT stream outlives its caller"
    # Leaked sessions cost 2-11 MiB each (a Silero model, sockets, buffers): 150 would be 300+ MiB.
    assert rss_mib(gateway_pid) - rss_before < 60


async def test_silent_callers_hold_no_stt_stream_and_do_not_lock_out_a_speaker(local_stack, speech):
    async with contextlib.AsyncExitStack() as calls:
        silent = [await calls.enter_async_context(Caller(local_stack.gateway_ws)) for _ in range(12)]
        await asyncio.gather(*(call.silence(0.5) for call in silent))
        assert metric_value(await _metrics(local_stack.stt_http), "stt_active_sessions") == 0
        async with Caller(local_stack.gateway_ws) as speaker:
            await speaker.silence(0.3)
            turn = await speaker.say_and_listen(speech("What is the capital of France?"), timeout=90)
    assert not speaker.conversation.errors and "france" in turn.transcript.lower()


async def test_a_caller_who_never_speaks_is_ended_with_a_reason(gateway_with):
    gateway = gateway_with(GATEWAY_FIRST_SPEECH_TIMEOUT_SECS="1.5")
    async with Caller(f"ws://127.0.0.1:{gateway.spec.port}/ws") as call:
        keep_streaming = asyncio.create_task(call.silence(10))
        assert await call.wait_for(lambda: call.conversation.errors, 10), call.conversation.events
        await asyncio.wait_for(call.websocket.wait_closed(), 5)  # the gateway closes the call
        keep_streaming.cancel()
    assert [e["code"] for e in call.conversation.errors] == ["first_speech_timeout"]
    assert metric_value(await _metrics(gateway.spec.base_url), "voice_active_sessions") == 0


async def test_a_call_where_nobody_speaks_for_the_idle_timeout_is_ended_with_a_reason(gateway_with, speech):
    gateway = gateway_with(GATEWAY_IDLE_TIMEOUT_SECS="3")
    hello = speech("Hello.")  # synthesized before the call: on a busy machine that can take longer than the timeout
    async with Caller(f"ws://127.0.0.1:{gateway.spec.port}/ws") as call:
        await call.silence(0.3)
        await call.say(hello)
        keep_streaming = asyncio.create_task(call.silence(60))
        assert await call.wait_for(lambda: call.conversation.errors, 60), call.conversation.events
        keep_streaming.cancel()
    assert [e["code"] for e in call.conversation.errors] == ["idle_timeout"]


async def test_drain_needs_the_drain_token_and_the_pre_stop_hook_has_it(gateway_with):
    gateway = gateway_with(GATEWAY_AUTH_TOKEN="caller-token", GATEWAY_DRAIN_TOKEN="operator-token")
    assert (await ready_within(gateway.spec.base_url, 60)).status_code == 200, "warmed up before the refusals"
    async with httpx.AsyncClient(base_url=gateway.spec.base_url, timeout=30) as http:
        for headers in ({}, {"Authorization": "Bearer caller-token"}, {"Authorization": "operator-token"}):
            refused = await http.post("/drain", headers=headers)
            assert refused.status_code == 401 and refused.json()["code"] == "unauthorized"
        assert (await http.get("/ready")).status_code == 200, "a refused drain changes nothing"

        env = {**os.environ, "GATEWAY_PORT": str(gateway.spec.port), "GATEWAY_DRAIN_TOKEN": "operator-token"}
        drain = [sys.executable, "-m", "voice_gateway.drain"]
        hook = await asyncio.to_thread(subprocess.run, drain, env=env, check=False, capture_output=True, text=True, timeout=60)
        assert hook.returncode == 0, hook.stderr
        assert json.loads(hook.stdout) == {"draining": True, "sessions_left": 0}
        assert (await http.get("/ready")).status_code == 503


async def test_tokens_are_bearer_scheme_case_insensitive_and_bare_tokens_are_refused(gateway_with):
    gateway = gateway_with(GATEWAY_AUTH_TOKEN="caller-token")
    url = f"ws://127.0.0.1:{gateway.spec.port}/ws"
    async with websockets.connect(url, additional_headers={"Authorization": "bearer caller-token"}) as ws:
        assert json.loads(await ws.recv())["type"] == "ready"
    async with websockets.connect(url, additional_headers={"Authorization": "caller-token"}) as ws:
        assert json.loads(await ws.recv())["code"] == "unauthorized"


async def test_hostile_frames_get_coded_errors_and_the_session_goes_on(local_stack):
    async with Caller(local_stack.gateway_ws) as call:
        for junk in ("[" * 60_000, '{"type": "start", "sample_rate": ' + "9" * 5000 + "}", "[" * 100_000):
            await call.websocket.send(junk)
        await call.websocket.send(bytes(300_000))  # over GATEWAY_MAX_FRAME_BYTES, under the transport's cap
        assert await call.wait_for(lambda: len(call.conversation.errors) >= 4, 10), call.conversation.events
        await call.silence(0.2)
        assert call.websocket.state.name == "OPEN"
    assert [e["code"] for e in call.conversation.errors] == [
        "invalid_json", "invalid_json", "message_too_large", "frame_too_large"
    ]


async def test_a_frame_over_the_transport_cap_is_explained_before_the_close(local_stack):
    async with websockets.connect(local_stack.gateway_ws, max_size=None) as ws:
        assert json.loads(await ws.recv())["type"] == "ready"
        with contextlib.suppress(websockets.ConnectionClosed):  # the server may close while it is sent
            await ws.send(bytes(8 * 2**20))
        events = []
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                message = await asyncio.wait_for(ws.recv(), 10)
                if isinstance(message, str):
                    events.append(json.loads(message))
    assert closed.value.rcvd.code == 1009
    assert [e.get("code") for e in events if e["type"] == "error"] == ["frame_too_large"]


def _status_of_request_with_header_bytes(port: int, size: int) -> bytes:
    """The status line answered to a request carrying a ``size``-byte header ("" if the server dropped it)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        try:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: gateway\r\nX-Padding: " + b"x" * size + b"\r\n\r\n")
            return sock.recv(4096).split(b"\r\n", 1)[0]
        except ConnectionError:
            return b""


async def test_oversized_headers_are_refused_and_the_gateway_stays_up(local_stack):
    for size in (200_000, 2_000_000):
        status = await asyncio.to_thread(_status_of_request_with_header_bytes, local_stack.ports.gateway, size)
        assert status in (b"HTTP/1.1 400 Bad Request", b""), status
    async with httpx.AsyncClient(base_url=local_stack.gateway_http, timeout=10) as http:
        assert (await http.get("/health", headers={"X-Small": "x" * 4000})).status_code == 200


async def test_a_caller_who_stops_reading_hurts_no_other_caller_and_leaves_nothing(local_stack, speech):
    gateway_pid = local_stack.group.running["gateway"].process.pid
    rss_before = rss_mib(gateway_pid)
    # max_queue=1: the client library stops reading the socket after one message, and its receive
    # buffer is tiny, so the gateway's sends back up, as with a stalled line or a frozen browser tab.
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", local_stack.ports.gateway))
    async with websockets.connect(local_stack.gateway_ws, sock=sock, max_queue=1) as slow_reader:
        question = speech("Tell me a long story about the sea.")
        for offset in range(0, len(question) + 32_000, 640):  # the question, then a second of silence
            await slow_reader.send((question + bytes(32_000))[offset : offset + 640])
            await asyncio.sleep(0.02)
        async with Caller(local_stack.gateway_ws) as other:
            await other.silence(0.3)
            turn = await other.say_and_listen(speech("What is the capital of France?"), timeout=90)
        assert not other.conversation.errors and turn.reply_audio_bytes > 0, "the other caller is served as usual"
    assert await _gauges_settle(local_stack, timeout_s=30) == (0, 0), "the stuck call is gone once its client is"
    assert rss_mib(gateway_pid) - rss_before < 60
