"""The gateway's readiness view of its model servers, against real sockets on loopback.

A busy LLM (llama-cpp-python answered /v1/models only between replies; other OpenAI-compatible
servers may be as slow under load) must not take the gateway out of its Service; an LLM that
refuses connections, or answers with an error, must.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from voice_gateway.settings import GatewaySettings
from voice_gateway.upstream_health import check_upstreams

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


async def upstreams(serve, stt: Handler, tts: Handler, llm: Handler | None) -> dict[str, bool]:
    ports = [await serve(stt), await serve(tts), await serve(llm) if llm else closed_port()]
    settings = GatewaySettings(
        stt_url=f"ws://127.0.0.1:{ports[0]}/v1/listen",
        tts_url=f"ws://127.0.0.1:{ports[1]}/ws",
        llm_base_url=f"http://127.0.0.1:{ports[2]}/v1",
    )
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
