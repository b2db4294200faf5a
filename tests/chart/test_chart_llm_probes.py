"""The CPU LLM's rendered probes, run as the kubelet runs them against the real llama.cpp server.

llama-cpp-python's server (what images/llm-cpu.Dockerfile runs) serves every API endpoint behind
the model lock that a streaming reply holds: a probe on one of them times out while the LLM is
busy, and the kubelet then marks it unready and restarts it mid-reply.
"""

from __future__ import annotations

import asyncio
import socket
import time

import httpx
import pytest

from chart_support import render
from voice_agent.processes import ServiceProcess, ServiceSpec, python_module
from voice_common.models import LLM_GGUF_NAME
from voice_testkit.services import LOG_DIR, MODELS_DIR, free_port

pytestmark = pytest.mark.slow


def server_command(container: dict, port: int) -> list[str]:
    """The chart's llama.cpp command, with this checkout's model, a free port and one thread."""
    args = list(container["command"][3:])  # after python -m llama_cpp.server
    for flag, value in (
        ("--model", str(MODELS_DIR / "llm" / LLM_GGUF_NAME)),
        ("--port", str(port)),
        ("--host", "127.0.0.1"),
        ("--n_threads", "1"),
    ):
        args[args.index(flag) + 1] = value
    return python_module("llama_cpp.server", *args)


async def kubelet_probe(probe: dict, port: int) -> str:
    """What the kubelet concludes from one probe: 'success', or why it failed."""
    timeout = probe["timeoutSeconds"]
    if "tcpSocket" in probe:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=timeout).close()
        except OSError as e:
            return f"tcp: {e}"
        return "success"
    started = time.monotonic()
    try:
        async with httpx.AsyncClient(timeout=timeout) as http:
            status = (await http.get(f"http://127.0.0.1:{port}{probe['httpGet']['path']}")).status_code
    except httpx.HTTPError as e:
        return f"{probe['httpGet']['path']}: {type(e).__name__} after {time.monotonic() - started:.1f} s"
    return "success" if 200 <= status < 400 else f"{probe['httpGet']['path']}: HTTP {status}"


async def test_readiness_and_liveness_pass_while_the_llm_streams_a_reply():
    container = render("cpu").container("llm")
    port = free_port()
    server = ServiceProcess(
        ServiceSpec("llm-probes", server_command(container, port), port, ready_path=container["startupProbe"]["httpGet"]["path"]),
        LOG_DIR,
    )
    try:
        server.wait_ready(180)
        long_reply = {
            "model": container["command"][container["command"].index("--model_alias") + 1],
            "messages": [{"role": "user", "content": "Write a very long story about the sea, with many chapters."}],
            "max_tokens": 400,
            "stream": True,
        }
        verdicts, chunks, kinds = {}, 0, ("readinessProbe", "livenessProbe")
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        async with httpx.AsyncClient(timeout=120) as http, http.stream("POST", url, json=long_reply) as reply:
            async for _ in reply.aiter_lines():
                chunks += 1
                if chunks == 3:  # the reply is streaming and holds the model lock
                    results = await asyncio.gather(*(kubelet_probe(container[k], port) for k in kinds))
                    verdicts = dict(zip(kinds, results, strict=True))
                    break
        assert verdicts == {"readinessProbe": "success", "livenessProbe": "success"}, verdicts
    finally:
        server.stop()
