"""What both streaming endpoints (``/v1/listen`` and the legacy ``/ws``) share: admission
against the session limit, safe sends, error reporting with metrics, and the receive loop.

A client that vanishes mid-reply must never take the server or another session down, so every
send tolerates a dead socket and simply ends the session.
"""

from __future__ import annotations

import contextlib
import json
import logging
from typing import ClassVar

from fastapi import WebSocket, WebSocketDisconnect

from voice_common.protocol.constants import CLOSE_INTERNAL_ERROR, CLOSE_TRY_AGAIN_LATER
from voice_common.protocol.errors import error_event
from voice_stt import metrics
from voice_stt.engine import WhisperEngine

logger = logging.getLogger("voice_stt")


class WireSession:
    """One WebSocket connection; subclasses implement ``on_text``/``on_audio`` and the error shape."""

    endpoint: ClassVar[str]

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        self.closed = False

    def error_payload(self, code: str, message: str, **extra: object) -> dict:
        return error_event(code, message, **extra)

    async def report(self, code: str, message: str, close_code: int | None = None, **extra: object) -> None:
        """Send the error event (counted by code); close afterwards when the session cannot go on."""
        metrics.ERRORS.labels(code=code).inc()
        await self.send_json(self.error_payload(code, message, **extra))
        if close_code is not None:
            await self.close(close_code)

    async def send_json(self, payload: dict) -> None:
        await self.send_text(json.dumps(payload))

    async def send_text(self, text: str) -> None:
        if self.closed:
            return
        try:
            await self.websocket.send_text(text)
        except (WebSocketDisconnect, RuntimeError, OSError):
            self.closed = True  # the client left; the receive loop ends

    async def close(self, code: int) -> None:
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(RuntimeError, OSError):  # already closed by the client
            await self.websocket.close(code)

    async def run(self) -> None:
        """Dispatch frames until the client disconnects or the session closes itself."""
        while not self.closed:
            try:
                message = await self.websocket.receive()
            except (WebSocketDisconnect, RuntimeError, OSError):
                return
            if message["type"] == "websocket.disconnect":
                self.closed = True
                return
            if message.get("bytes") is not None:
                await self.on_audio(message["bytes"])
            elif message.get("text") is not None:
                await self.on_text(message["text"])

    async def on_text(self, text: str) -> None:
        raise NotImplementedError

    async def on_audio(self, frame: bytes) -> None:
        raise NotImplementedError

    async def finish(self) -> None:
        """Release per-session resources (background tasks) when the connection ends."""


class SessionLimiter:
    """Admits at most ``limit`` streaming sessions at once; the count is the ``stt_active_sessions`` gauge."""

    def __init__(self, limit: int, engine: WhisperEngine) -> None:
        self.limit = limit
        self.active = 0
        self._engine = engine

    async def serve(self, session: WireSession) -> None:
        """Accept, refuse with a reason and 1013 when not ready or full, else run the session to its end."""
        await session.websocket.accept()
        if not self._engine.ready:
            await session.report("not_ready", "the model is still loading; retry shortly", CLOSE_TRY_AGAIN_LATER)
            return
        if self.active >= self.limit:
            await session.report(
                "too_many_sessions", f"this server holds at most {self.limit} sessions; retry later", CLOSE_TRY_AGAIN_LATER
            )
            return
        self.active += 1
        metrics.ACTIVE_SESSIONS.set(self.active)
        try:
            await session.run()
        except Exception:  # a bug hit by one session must not leave its client waiting for a reply
            logger.exception("%s session failed", session.endpoint)
            await session.report("internal_error", "the server failed this session; reconnect", CLOSE_INTERNAL_ERROR)
        finally:
            self.active -= 1
            metrics.ACTIVE_SESSIONS.set(self.active)
            await session.finish()
