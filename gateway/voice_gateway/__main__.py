"""``python -m voice_gateway`` / ``voice-gateway``: serve the gateway with uvicorn."""

from __future__ import annotations

import sys

from loguru import logger

from voice_common.serve import serve
from voice_gateway.app import create_app
from voice_gateway.settings import GatewaySettings
from voice_gateway.tracing import configure_tracing


def main() -> None:
    settings = GatewaySettings()
    # Pipecat logs ~90 DEBUG lines per call set-up and teardown: CPU that callers wait for.
    logger.remove()
    logger.add(sys.stderr, level=settings.log_level)
    configure_tracing()
    serve(create_app(settings), settings.host, settings.port, ws_max_bytes=settings.ws_max_message_bytes)


if __name__ == "__main__":
    main()
