"""What both streaming endpoints (``/v1/listen`` and the legacy ``/ws``) share: safe sends, error
reporting with metrics, and the receive loop (admission is ``voice_common.sessions``'s).

A client that vanishes mid-reply must never take the server or another session down, so every
send tolerates a dead socket and simply ends the session.
"""

from __future__ import annotations

import contextlib
import json
from typing import ClassVar

from fastapi import WebSocket, WebSocketDisconnect

from voice_common.protocol.errors import error_event
from voice_stt import metrics


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
        """Dispatch frames until the client disconnects or the session closes itself, then ``finish``."""
        try:
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
        finally:
            await self.finish()

    async def on_text(self, text: str) -> None:
        raise NotImplementedError

    async def on_audio(self, frame: bytes) -> None:
        raise NotImplementedError

    async def finish(self) -> None:
        """Release per-session resources (background tasks) when the connection ends."""
