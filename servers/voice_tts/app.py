"""The TTS server's FastAPI app: OpenAI-compatible streaming speech, voices, WebSocket, probes, metrics.

The model loads in the background after the server starts, so ``/health`` answers at once
(liveness) while ``/ready`` stays 503 until the model is loaded and warmed up; until then
speech requests get 503 ``not_ready``. A model that fails to load stops the process: a crash is
visible to Kubernetes and to the local supervisor, an alive-but-never-ready server is not.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, WebSocket

from voice_common.http_errors import add_error_handlers
from voice_common.ops import add_ops_routes, background_model_lifespan
from voice_common.sessions import SessionLimiter
from voice_tts import metrics
from voice_tts.engine import KokoroEngine
from voice_tts.http_api import speech_router
from voice_tts.settings import TTSSettings
from voice_tts.ws import SpeechSession

logger = logging.getLogger("voice_tts")


def create_app(settings: TTSSettings | None = None) -> FastAPI:
    settings = settings or TTSSettings()
    engine = KokoroEngine(settings)
    sessions = SessionLimiter(settings.max_sessions, engine, metrics.ACTIVE_SESSIONS)

    lifespan = background_model_lifespan(
        engine, f"the model from {settings.model_path} with voices {settings.voices_path}", logger
    )
    app = FastAPI(title="voice-tts", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.engine = engine

    async def readiness() -> tuple[bool, dict]:
        return engine.ready, {
            "model": settings.model_path,
            "device": settings.device,
            "voices": len(engine.voices),
            "active_sessions": sessions.active,
        }

    add_ops_routes(app, readiness, registry=metrics.REGISTRY)
    add_error_handlers(app, metrics.ERRORS)
    app.include_router(speech_router(engine, settings))

    @app.websocket("/ws")
    async def websocket(websocket: WebSocket) -> None:
        await sessions.serve(SpeechSession(websocket, engine))

    return app
