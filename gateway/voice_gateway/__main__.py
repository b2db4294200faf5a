"""``python -m voice_gateway`` / ``voice-gateway``: serve the gateway with uvicorn."""

from __future__ import annotations

from voice_common.serve import serve
from voice_gateway.app import create_app
from voice_gateway.settings import GatewaySettings
from voice_gateway.tracing import configure_tracing


def main() -> None:
    settings = GatewaySettings()
    configure_tracing()
    serve(create_app(settings), settings.host, settings.port, ws_max_bytes=settings.ws_max_message_bytes)


if __name__ == "__main__":
    main()
