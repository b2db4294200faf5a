"""How every server of the stack is served: uvicorn with limits on what one client can send.

uvicorn's defaults trust the client more than a public voice service can:
- its httptools parser accepts request headers of any size (a 50 MB header got a 200), so the
  servers use h11 with a bound on the request line plus headers (``MAX_HEADER_BYTES``);
- a WebSocket message over ``ws_max_size`` is refused by the protocol layer with a bare close
  1009, so the client never learns why. :class:`ExplainingWebSocketProtocol` sends the stack's
  ``frame_too_large`` error event just before that close frame.
"""

from __future__ import annotations

import json

import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import PayloadTooBig
from websockets.frames import Frame, Opcode

from voice_common.protocol.errors import error_event

MAX_HEADER_BYTES = 64 * 1024  # request line + headers; browsers and SDKs send a few KiB


class ExplainingWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol, but an oversized message gets a JSON reason before the 1009 close."""

    def handle_parser_exception(self) -> None:
        exc = self.conn.parser_exc
        if isinstance(exc, PayloadTooBig):
            event = error_event("frame_too_large", f"{exc}; the connection cannot continue")
            self.transport.write(Frame(Opcode.TEXT, json.dumps(event).encode()).serialize(mask=False))
        super().handle_parser_exception()


def serve(app: FastAPI, host: str, port: int, ws_max_bytes: int) -> None:
    """Run ``app`` until stopped, with the stack's header and WebSocket message limits."""
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="info",
        http="h11",
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        ws=ExplainingWebSocketProtocol,
        ws_max_size=ws_max_bytes,
    )
