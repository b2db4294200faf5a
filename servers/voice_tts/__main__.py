"""``python -m voice_tts`` / ``voice-tts``: serve the TTS server with uvicorn."""

from __future__ import annotations

import uvicorn

from voice_tts.app import create_app
from voice_tts.settings import TTSSettings


def main() -> None:
    settings = TTSSettings()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info")


if __name__ == "__main__":
    main()
