"""The CPU LLM's rendered probes and scrape, run as the kubelet and Prometheus run them against the real server.

The chart runs llama.cpp's own server (``python -m voice_llm``) and probes GET /health. A probe
that waits behind a streaming reply would get a busy LLM marked unready and restarted mid-reply
(llama-cpp-python's server, used before, did exactly that on its API endpoints and had no /health).
"""

from __future__ import annotations

import asyncio
import socket
import time

import httpx
import pytest

from chart_support import env_of, render
from voice_agent.processes import ServiceProcess, ServiceSpec, python_module
from voice_common.models import LLM_GGUF_NAME
from voice_testkit.services import LOG_DIR, MODELS_DIR, free_port

pytestmark = pytest.mark.slow


def server_env(container: dict, port: int) -> dict[str, str]:
    """The chart's LLM_* environment, with this checkout's model, loopback, a free port and one thread."""
    env = {k: v for k, v in env_of(container).items() if k.startswith("LLM_") and isinstance(v, str)}
    return env | {"LLM_MODEL_PATH": str(MODELS_DIR / "llm" / LLM_GGUF_NAME), "LLM_HOST": "127.0.0.1",
                  "LLM_PORT": str(port), "LLM_THREADS": "1", "LLM_BATCH_THREADS": "1"}


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


async def scrape(path: str, port: int, timeout: float) -> str:
    """What Prometheus gets from the ServiceMonitor's path within a scrape timeout ('' if nothing)."""
    async with httpx.AsyncClient(timeout=timeout) as http:
        reply = await http.get(f"http://127.0.0.1:{port}{path}")
    return reply.text if reply.status_code == 200 else ""


async def test_probes_and_the_scrape_pass_while_the_llm_streams_a_reply():
    manifest = render("cpu", values={"observability.serviceMonitor.enabled": True,
                                     "networkPolicy.metricsFrom": [{"namespaceSelector": {}}]})
    container = manifest.container("llm")
    assert container["command"] == ["python", "-m", "voice_llm"]
    metrics_path = manifest.component("ServiceMonitor", "llm")["spec"]["endpoints"][0]["path"]
    port = free_port()
    env = server_env(container, port)
    server = ServiceProcess(
        ServiceSpec("llm-probes", python_module(*container["command"][2:]), port,
                    ready_path=container["startupProbe"]["httpGet"]["path"], env=env),
        LOG_DIR,
    )
    try:
        server.wait_ready(180)
        long_reply = {
            "model": env["LLM_MODEL_ALIAS"],
            "messages": [{"role": "user", "content": "Write a very long story about the sea, with many chapters."}],
            "max_tokens": 400,
            "stream": True,
        }
        verdicts, chunks, kinds = {}, 0, ("startupProbe", "readinessProbe", "livenessProbe")
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        async with httpx.AsyncClient(timeout=120) as http, http.stream("POST", url, json=long_reply) as reply:
            async for _ in reply.aiter_lines():
                chunks += 1
                if chunks == 3:  # the reply is streaming
                    results = await asyncio.gather(*(kubelet_probe(container[k], port) for k in kinds),
                                                   scrape(metrics_path, port, timeout=10))
                    verdicts = dict(zip(kinds, results[:3], strict=True))
                    metrics = results[3]
                    break
        assert verdicts == dict.fromkeys(kinds, "success"), verdicts
        assert "llamacpp:requests_processing 1" in metrics, metrics[:2000]
        for series in ("llamacpp:requests_deferred", "llamacpp:tokens_predicted_total", "llamacpp:prompt_tokens_total"):
            assert f"\n{series} " in metrics, f"{series} missing from {metrics_path}: the dashboards query it"
    finally:
        server.stop()
