"""Readiness of the gateway = every model server it needs answers its own readiness check."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit, urlunsplit

import httpx

from voice_gateway.settings import GatewaySettings


def http_base(url: str) -> str:
    """ws://host:port/path -> http://host:port (wss -> https)."""
    parts = urlsplit(url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    return urlunsplit((scheme, parts.netloc, "", "", ""))


def readiness_urls(settings: GatewaySettings) -> dict[str, str]:
    return {
        "stt": http_base(settings.stt_url) + "/ready",
        "tts": http_base(settings.tts_url) + "/ready",
        "llm": settings.llm_base_url.rstrip("/") + "/models",
    }


# An OpenAI-compatible server may answer /v1/models only between replies (llama-cpp-python did;
# a loaded CPU server can be as slow): a connected server that is slow to answer is busy, not
# down. Without this, every gateway turned unready whenever their shared LLM was streaming a long
# reply. A refused connection (no ready LLM pod behind its Service) or an error status still
# counts as down; a hung LLM is its own liveness probe's to restart, not the gateways' to hide.
# STT and TTS answer /ready off their work queues, so silence from them is a fault.
BUSY_MEANS_UP = {"llm"}


async def check_upstreams(settings: GatewaySettings, timeout_s: float = 2.0) -> dict[str, bool]:
    async with httpx.AsyncClient(timeout=timeout_s) as client:

        async def ok(name: str, url: str) -> bool:
            try:
                return (await client.get(url)).status_code == 200
            except httpx.ReadTimeout:
                return name in BUSY_MEANS_UP
            except httpx.HTTPError:
                return False

        checks = readiness_urls(settings)
        return dict(zip(checks, await asyncio.gather(*(ok(name, url) for name, url in checks.items())), strict=True))
