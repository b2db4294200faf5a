"""``python -m voice_stt`` / ``voice-stt``: serve the STT server with uvicorn."""

from __future__ import annotations

import logging

import uvicorn

from voice_stt.app import create_app
from voice_stt.settings import STTSettings


def main() -> None:
    settings = STTSettings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("faster_whisper").setLevel(logging.WARNING)  # it logs every decode at INFO
    app = create_app(settings)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info", ws_max_size=settings.ws_max_message_bytes)


if __name__ == "__main__":
    main()
