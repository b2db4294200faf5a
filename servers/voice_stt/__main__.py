"""``python -m voice_stt`` / ``voice-stt``: serve the STT server with uvicorn."""

from __future__ import annotations

from voice_common import tracing
from voice_common.logs import configure_logging
from voice_common.serve import serve
from voice_stt.app import create_app
from voice_stt.settings import STTSettings


def main() -> None:
    settings = STTSettings()
    configure_logging("faster_whisper")  # it logs every decode at INFO
    tracing.configure("voice-stt")  # spans under the gateway's turn, when OTEL_EXPORTER_OTLP_ENDPOINT is set
    serve(create_app(settings), settings.host, settings.port, ws_max_bytes=settings.ws_max_message_bytes)


if __name__ == "__main__":
    main()
