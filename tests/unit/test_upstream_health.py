"""The gateway's view of its model servers, against real sockets on loopback.

A busy LLM (llama-cpp-python answered /v1/models only between replies; other OpenAI-compatible
servers may be as slow under load) counts as up; an LLM that refuses connections, or answers with
an error, is down. Down keeps a fresh gateway unready; once all were seen up, down refuses new
calls with a code instead.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from voice_gateway import metrics
from voice_gateway.settings import GatewaySettings
from voice_gateway.upstream_health import DOWN_AFTER_FAILED_POLLS, UpstreamWatch, check_upstreams

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], object]


async def answer(status: str) -> Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(f"HTTP/1.1 {status}\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{{}}".encode())
        await writer.drain()
        writer.close()

    return handle


async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Accepts and reads the request, then holds it, as llama-cpp-python did while a reply streamed."""
    await reader.readuntil(b"\r\n\r\n")
    await asyncio.sleep(30)
    writer.close()


def closed_port() -> int:
    """A loopback port nobody listens on: connecting is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[int]]]:
    servers = []

    async def start(handler: Handler) -> int:
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        servers.append(server)
        return server.sockets[0].getsockname()[1]

    yield start
    for server in servers:
        server.close()


def settings_for(stt_port: int, tts_port: int, llm_port: int) -> GatewaySettings:
    return GatewaySettings(
        stt_url=f"ws://127.0.0.1:{stt_port}/v1/listen",
        tts_url=f"ws://127.0.0.1:{tts_port}/ws",
        llm_base_url=f"http://127.0.0.1:{llm_port}/v1",
    )


async def upstreams(serve, stt: Handler, tts: Handler, llm: Handler | None) -> dict[str, bool]:
    settings = settings_for(await serve(stt), await serve(tts), await serve(llm) if llm else closed_port())
    return await check_upstreams(settings, timeout_s=0.3)


async def test_every_server_answering_is_ready(serve):
    ok = await answer("200 OK")
    assert await upstreams(serve, ok, ok, ok) == {"stt": True, "tts": True, "llm": True}


async def test_an_llm_too_busy_to_answer_in_time_is_still_up(serve):
    ok = await answer("200 OK")
    assert await upstreams(serve, ok, ok, never_answer) == {"stt": True, "tts": True, "llm": True}


async def test_an_llm_that_refuses_connections_is_down(serve):
    ok = await answer("200 OK")
    assert await upstreams(serve, ok, ok, None) == {"stt": True, "tts": True, "llm": False}


async def test_an_llm_answering_an_error_is_down(serve):
    ok = await answer("200 OK")
    assert await upstreams(serve, ok, ok, await answer("503 Service Unavailable")) == {"stt": True, "tts": True, "llm": False}


async def test_a_speech_server_that_does_not_answer_is_down(serve):
    """STT and TTS answer /ready off their work queues: silence from them is a fault, not load."""
    ok = await answer("200 OK")
    assert await upstreams(serve, never_answer, ok, ok) == {"stt": False, "tts": True, "llm": True}


def upstream_up_gauge() -> dict[str, float]:
    return {s: metrics.REGISTRY.get_sample_value("voice_gateway_upstream_up", {"service": s}) for s in ("stt", "llm", "tts")}


async def test_the_watch_admits_until_it_has_polled_and_refuses_while_a_server_it_saw_is_down():
    ok = await answer("200 OK")
    stt, tts = await asyncio.start_server(ok, "127.0.0.1", 0), await asyncio.start_server(ok, "127.0.0.1", 0)
    llm = await asyncio.start_server(ok, "127.0.0.1", 0)
    llm_port = llm.sockets[0].getsockname()[1]
    watch = UpstreamWatch(settings_for(stt.sockets[0].getsockname()[1], tts.sockets[0].getsockname()[1], llm_port))
    try:
        assert watch.refusal() is None and not watch.all_seen_up, "nothing known yet: no reason to refuse"

        await watch.poll()
        assert watch.all_seen_up and watch.refusal() is None
        assert upstream_up_gauge() == {"stt": 1, "llm": 1, "tts": 1}

        llm.close()
        await llm.wait_closed()
        for _ in range(DOWN_AFTER_FAILED_POLLS - 1):
            await watch.poll()
            assert watch.refusal() is None, "one failed poll may be a blip"
        await watch.poll()
        code, message, service = watch.refusal()
        assert (code, service) == ("llm_unavailable", "llm") and "LLM" in message
        assert watch.all_seen_up, "an outage after start does not undo it (readiness stays)"
        assert upstream_up_gauge() == {"stt": 1, "llm": 0, "tts": 1}

        llm = await asyncio.start_server(ok, "127.0.0.1", llm_port)  # back at the same address
        await watch.poll()
        assert watch.refusal() is None and upstream_up_gauge()["llm"] == 1
    finally:
        for server in (stt, tts, llm):
            server.close()


async def test_a_watch_that_never_saw_every_server_up_is_not_seen_up(serve):
    ok = await answer("200 OK")
    watch = UpstreamWatch(settings_for(closed_port(), await serve(ok), await serve(ok)))
    for _ in range(DOWN_AFTER_FAILED_POLLS):
        await watch.poll()
    assert not watch.all_seen_up and watch.refusal()[0] == "stt_unavailable"
