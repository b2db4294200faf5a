"""``python -m voice_gateway`` / ``voice-gateway``: serve the gateway with uvicorn."""

from __future__ import annotations

import uvicorn

from voice_gateway.app import create_app
from voice_gateway.settings import GatewaySettings
from voice_gateway.tracing import configure_tracing


def main() -> None:
    settings = GatewaySettings()
    configure_tracing()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info", ws_max_size=max(1 << 20, settings.max_frame_bytes * 4))


if __name__ == "__main__":
    main()
