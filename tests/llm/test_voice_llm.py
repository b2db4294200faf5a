"""The CPU LLM server (``python -m voice_llm``) started as the local stack starts it, with the real model.

What the gateway and the chart rely on: OpenAI-style streaming, a /health that answers while a
reply streams, Prometheus /metrics, two conversations decoded at once, and a clean exit on
SIGTERM. Plus the gateway's own client against it: llama.cpp closes each connection after a
streamed reply, and the client must not trip over that.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from voice_agent.processes import ServiceProcess
from voice_agent.stack import LLM_MODEL_ALIAS, llm_spec
from voice_gateway.llm import shared_client
from voice_testkit.services import LOG_DIR, free_port

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def llm(models_dir: Path) -> Iterator[ServiceProcess]:
    proc = ServiceProcess(llm_spec(models_dir, free_port(), name="llm-server-test"), LOG_DIR)
    proc.wait_ready(120)
    yield proc
    proc.stop()


def chat(content: str, max_tokens: int) -> dict:
    messages = [{"role": "user", "content": content}]
    return {"model": LLM_MODEL_ALIAS, "messages": messages, "max_tokens": max_tokens, "stream": True}


def long_reply(max_tokens: int) -> dict:
    """A reply that runs to ``max_tokens`` (llama.cpp's ``ignore_eos``): a sampled story may end early."""
    return {**chat("Write a long story about the sea.", max_tokens), "ignore_eos": True}


async def stream_reply(client: httpx.AsyncClient, base: str, body: dict) -> tuple[str, int, float, float]:
    """(reply text, content chunks, first chunk's time, end time) of one streamed chat completion."""
    text, chunks, first = "", 0, 0.0
    async with client.stream("POST", base + "/v1/chat/completions", json=body, headers={"Connection": "close"}) as reply:
        assert reply.status_code == 200
        async for line in reply.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            content = json.loads(line[6:])["choices"][0]["delta"].get("content")
            if content:
                chunks += 1
                first = first or time.monotonic()
                text += content
    return text, chunks, first, time.monotonic()


async def test_it_is_healthy_and_answers_to_its_alias(llm: ServiceProcess):
    async with httpx.AsyncClient(base_url=llm.spec.base_url, timeout=10) as client:
        assert (await client.get("/health")).json() == {"status": "ok"}
        models = (await client.get("/v1/models")).json()
    assert [model["id"] for model in models["data"]] == [LLM_MODEL_ALIAS]


async def test_a_reply_streams_in_many_chunks_and_is_right(llm: ServiceProcess):
    async with httpx.AsyncClient(timeout=60) as client:
        text, chunks, _, _ = await stream_reply(client, llm.spec.base_url, chat("What is the capital of France?", 30))
    assert "paris" in text.lower(), text
    assert chunks >= 3, f"one blob, not a stream: {chunks} chunk(s)"


async def test_health_answers_while_a_reply_streams(llm: ServiceProcess):
    """The chart probes /health: a busy LLM must stay Ready and alive (llama-cpp-python's did not)."""
    async with httpx.AsyncClient(timeout=60) as client:
        story = asyncio.create_task(stream_reply(client, llm.spec.base_url, long_reply(150)))
        await asyncio.sleep(1.0)
        started = time.monotonic()
        health = await client.get(llm.spec.base_url + "/health", timeout=2)
        health_secs = time.monotonic() - started
        assert not story.done(), "the story ended before the probe: make it longer"
        await story
    assert health.status_code == 200 and health_secs < 1.0, health_secs


async def test_a_second_caller_is_answered_while_the_first_reply_streams(llm: ServiceProcess):
    """Two slots, continuously batched: a second conversation does not queue behind a long reply."""
    async with httpx.AsyncClient(timeout=120) as client:
        first = asyncio.create_task(stream_reply(client, llm.spec.base_url, long_reply(200)))
        await asyncio.sleep(1.0)
        short = await stream_reply(client, llm.spec.base_url, chat("What is the capital of Italy?", 20))
        _, _, _, long_end = await first
    assert "rome" in short[0].lower(), short[0]
    assert short[3] < long_end, "the second reply waited for the first to end"


async def test_metrics_count_the_work_done(llm: ServiceProcess):
    async with httpx.AsyncClient(timeout=60) as client:
        await stream_reply(client, llm.spec.base_url, chat("Say hello.", 8))
        metrics = (await client.get(llm.spec.base_url + "/metrics")).text
    values = {line.split()[0]: float(line.split()[1]) for line in metrics.splitlines() if line and not line.startswith("#")}
    assert values["llamacpp:tokens_predicted_total"] > 0, metrics
    assert "llamacpp:requests_processing" in values and "llamacpp:requests_deferred" in values


def test_it_closes_the_connection_after_a_streamed_reply(llm: ServiceProcess):
    """Why the gateway keeps no idle LLM connections by default (GATEWAY_LLM_REUSE_CONNECTIONS):
    the reply says ``Keep-Alive``, yet the server hangs up as soon as the stream ends, so a pooled
    connection reused at that moment fails (1 to 4 in 20 back-to-back requests, measured)."""
    body = json.dumps(chat("Say hello.", 4)).encode()
    headers = ["POST /v1/chat/completions HTTP/1.1", "Host: x", "Content-Type: application/json",
               f"Content-Length: {len(body)}"]
    head = "\r\n".join(headers) + "\r\n\r\n"
    with socket.create_connection(("127.0.0.1", llm.spec.port), timeout=30) as sock:
        sock.sendall(head.encode() + body)
        received = b""
        while not (b"data: [DONE]" in received and received.endswith(b"\r\n0\r\n\r\n")):
            chunk = sock.recv(65536)
            assert chunk, ("closed before the reply ended", received)
            received += chunk
        assert b"Keep-Alive" in received.split(b"\r\n\r\n")[0]
        sock.settimeout(2)
        assert sock.recv(1) == b"", "llama.cpp now keeps the connection open: GATEWAY_LLM_REUSE_CONNECTIONS could default to true"


async def test_the_gateways_client_survives_back_to_back_replies(llm: ServiceProcess):
    """The gateway's client as configured by default: a new connection per request, none fails."""
    client = shared_client("EMPTY", llm.spec.base_url + "/v1", False).with_options(max_retries=0)
    for question in range(25):
        messages = [{"role": "user", "content": f"Say the number {question}."}]
        stream = await client.chat.completions.create(model=LLM_MODEL_ALIAS, messages=messages, max_tokens=4, stream=True)
        async for _ in stream:
            pass


def test_sigterm_stops_it_cleanly(models_dir: Path):
    proc = ServiceProcess(llm_spec(models_dir, free_port(), name="llm-sigterm"), LOG_DIR)
    proc.wait_ready(120)
    proc.process.send_signal(signal.SIGTERM)
    assert proc.process.wait(timeout=10) == 0


def test_llm_nice_lowers_every_thread_and_the_servers_own_autogroup(models_dir: Path):
    """``LLM_NICE`` as the local stack passes it (its servers run each in a session of its own):
    every thread llama.cpp starts, its decode and prompt threads included, runs at that nice, and so
    does the session's autogroup, without which the nice would not count against the TTS."""
    spec = llm_spec(models_dir, free_port(), name="llm-nice")
    proc = ServiceProcess(dataclasses.replace(spec, env={**spec.env, "LLM_NICE": "5"}), LOG_DIR)
    try:
        proc.wait_ready(120)
        body = chat("Say hello.", max_tokens=8)
        httpx.post(proc.spec.base_url + "/v1/chat/completions", json={**body, "stream": False}, timeout=60).raise_for_status()
        pid = proc.process.pid
        threads = [int(tid) for tid in os.listdir(f"/proc/{pid}/task")]
        assert len(threads) > 2
        assert {tid: os.getpriority(os.PRIO_PROCESS, tid) for tid in threads} == dict.fromkeys(threads, 5)
        autogroup = Path(f"/proc/{pid}/autogroup")
        if autogroup.exists():  # kernels built without autogroup scheduling have no such file
            assert autogroup.read_text().split()[-2:] == ["nice", "5"]
    finally:
        proc.stop()
