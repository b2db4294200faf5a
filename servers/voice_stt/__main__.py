"""``python -m voice_stt`` / ``voice-stt``: serve the STT server with uvicorn."""

from __future__ import annotations

import uvicorn

from voice_stt.app import create_app
from voice_stt.settings import STTSettings


def main() -> None:
    settings = STTSettings()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info", ws_max_size=settings.max_frame_bytes * 4)


if __name__ == "__main__":
    main()
