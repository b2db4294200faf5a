"""``python -m voice_tts`` / ``voice-tts``: serve the TTS server with uvicorn."""

from __future__ import annotations

from voice_common import tracing
from voice_common.logs import configure_logging
from voice_common.serve import serve
from voice_tts.app import create_app
from voice_tts.settings import TTSSettings


def main() -> None:
    settings = TTSSettings()
    configure_logging()
    tracing.configure("voice-tts")  # spans under the gateway's, when OTEL_EXPORTER_OTLP_ENDPOINT is set
    serve(create_app(settings), settings.host, settings.port, ws_max_bytes=settings.ws_max_message_bytes)


if __name__ == "__main__":
    main()
