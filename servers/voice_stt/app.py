"""The STT server's FastAPI app: streaming WebSockets, the OpenAI-compatible endpoint, probes, metrics.

The model loads in the background after the server starts, so ``/health`` answers at once
(liveness) while ``/ready`` stays 503 until the model is loaded and warmed up. A model that
fails to load stops the process: a crash is visible to Kubernetes and to the local supervisor,
an alive-but-never-ready server is not.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, WebSocket

from voice_common.http_errors import add_error_handlers
from voice_common.ops import add_ops_routes, background_model_lifespan
from voice_common.sessions import SessionLimiter
from voice_stt import metrics
from voice_stt.engine import WhisperEngine
from voice_stt.http_api import transcriptions_router
from voice_stt.legacy import LegacySession
from voice_stt.listen import ListenSession
from voice_stt.settings import STTSettings

logger = logging.getLogger("voice_stt")


def create_app(settings: STTSettings | None = None) -> FastAPI:
    settings = settings or STTSettings()
    engine = WhisperEngine(settings)
    sessions = SessionLimiter(settings.max_sessions, engine, metrics.ACTIVE_SESSIONS)

    lifespan = background_model_lifespan(engine, f"the model from {settings.model_path}", logger)
    app = FastAPI(title="voice-stt", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.engine = engine

    async def readiness() -> tuple[bool, dict]:
        return engine.ready, {
            "model": settings.model_path,
            "device": settings.device,
            "compute_type": settings.compute_type,
            "active_sessions": sessions.active,
        }

    add_ops_routes(app, readiness, registry=metrics.REGISTRY)
    add_error_handlers(app, metrics.ERRORS)
    app.include_router(transcriptions_router(engine, settings))

    @app.websocket("/v1/listen")
    async def listen(websocket: WebSocket) -> None:
        await sessions.serve(ListenSession(websocket, engine, settings))

    @app.websocket("/ws")
    async def legacy(websocket: WebSocket) -> None:
        await sessions.serve(LegacySession(websocket, engine, settings))

    return app
