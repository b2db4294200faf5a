"""What the gateway knows of the model servers it needs, and what it does about it.

Each server's own readiness check is polled in the background (``GATEWAY_UPSTREAM_POLL_SECS``).
The gateway turns ready once every server has answered at the same time (and the LLM warm-up
has passed): a new gateway pod takes no calls it could not serve, so a rollout that cannot reach
its model servers stalls with the old pods still serving.

After that, an upstream outage does not make the gateway unready. Every replica shares the same
model Services, so unreadiness would take them all out together: a single gateway's Service would
refuse connections, and callers would get a closed port instead of a reason. Instead the gateway
stays in rotation, refuses each new call with ``<service>_unavailable`` (close 1013: try again
later) while that server fails its polls (``DOWN_AFTER_FAILED_POLLS`` in a row), and reports what
it sees in ``/ready``'s body and in ``voice_gateway_upstream_up``. Live calls carry on and get the
service's error in their turns.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit, urlunsplit

import httpx

from voice_gateway import metrics
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


# Polls a server must fail in a row before new calls are refused: one failed poll can be a blip (a
# Service still sending a connection to a pod that just died while its other replicas serve).
DOWN_AFTER_FAILED_POLLS = 2


class UpstreamWatch:
    """Each model server as the gateway last saw it (``None``: not polled yet), kept fresh by ``run``."""

    def __init__(self, settings: GatewaySettings) -> None:
        self._settings = settings
        self.up: dict[str, bool | None] = dict.fromkeys(readiness_urls(settings))
        self._failed_in_a_row = dict.fromkeys(self.up, 0)
        self.all_seen_up = False  # every server answered in one poll, at least once since start

    async def poll(self) -> None:
        answered = await check_upstreams(self._settings)
        for service, ok in answered.items():
            self._failed_in_a_row[service] = 0 if ok else self._failed_in_a_row[service] + 1
            self.up[service] = self._failed_in_a_row[service] < DOWN_AFTER_FAILED_POLLS
            metrics.UPSTREAM_UP.labels(service=service).set(int(self.up[service]))
        self.all_seen_up = self.all_seen_up or all(answered.values())

    async def run(self) -> None:
        while True:
            await self.poll()
            await asyncio.sleep(self._settings.upstream_poll_secs)

    def refusal(self) -> tuple[str, str, str] | None:
        """(code, message, service) if a new call must be refused because a server it needs is down."""
        down = [service for service, is_up in self.up.items() if is_up is False]
        if not down:
            return None
        names = " and ".join(service.upper() for service in down)
        return f"{down[0]}_unavailable", f"the {names} server cannot be reached; try again shortly", down[0]
