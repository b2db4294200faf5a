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


async def check_upstreams(settings: GatewaySettings, timeout_s: float = 2.0) -> dict[str, bool]:
    async with httpx.AsyncClient(timeout=timeout_s) as client:

        async def ok(url: str) -> bool:
            try:
                return (await client.get(url)).status_code == 200
            except httpx.HTTPError:
                return False

        names, urls = zip(*readiness_urls(settings).items())
        return dict(zip(names, await asyncio.gather(*(ok(url) for url in urls))))
