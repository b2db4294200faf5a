"""Admit callers only to an LLM that has served this gateway's own request once.

``/v1/models`` answering says the server is up, not that it serves the configured model with
this prompt: a wrong ``GATEWAY_LLM_MODEL`` used to pass readiness and fail every turn with
``llm_error``. And a fresh server's first completion can be slow (a `make demo` on a fresh
2-core machine measured ~2.9 s to the first token on turn 1 against ~130 ms later). So the
gateway sends one completion with its system prompt as soon as it starts, which also leaves that
prompt's prefix in the server's cache, and reports ready only once it succeeded. It retries until
the LLM answers, as the LLM may start later; the reason it does not is logged and in ``/ready``.
"""

from __future__ import annotations

import asyncio
import time

from loguru import logger

from voice_gateway.llm import shared_client
from voice_gateway.settings import GatewaySettings

RETRY_SECS = 1.0


class LLMWarmup:
    """Runs the warm-up in the background; ``done`` is part of the gateway's readiness."""

    def __init__(self, settings: GatewaySettings) -> None:
        self._settings = settings
        self.done = not settings.llm_warmup

    async def run(self) -> None:
        settings = self._settings
        client = shared_client(settings.llm_api_key.get_secret_value(), settings.llm_base_url, settings.llm_reuse_connections)
        messages = [{"role": "system", "content": settings.system_prompt}, {"role": "user", "content": "Hello."}]
        while not self.done:
            started = time.perf_counter()
            try:
                await client.chat.completions.create(
                    model=settings.llm_model, messages=messages, max_tokens=1, timeout=settings.upstream_timeout_secs * 6
                )
            except Exception as exc:  # noqa: BLE001 - not up yet, or refusing: try again shortly
                logger.info(f"LLM warm-up: no answer yet ({exc.__class__.__name__}: {str(exc)[:200]}); retrying")
                await asyncio.sleep(RETRY_SECS)
                continue
            self.done = True
            logger.info(f"LLM warm-up done in {time.perf_counter() - started:.2f} s")
