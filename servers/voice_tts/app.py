"""FastAPI app of the TTS server: OpenAI-compatible streaming speech, voices, WebSocket, probes."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import JSONResponse, StreamingResponse

from voice_common.audio import PCM_SAMPLE_WIDTH
from voice_common.ops import add_ops_routes
from voice_tts import metrics
from voice_tts.engine import SAMPLE_RATE, KokoroEngine
from voice_tts.requests import RequestError, check_speech
from voice_tts.settings import TTSSettings
from voice_tts.ws import SpeechSession


def streaming_wav_header(sample_rate: int = SAMPLE_RATE) -> bytes:
    """A WAV header for a stream of unknown length (sizes set to the maximum, as streamers do)."""
    byte_rate = sample_rate * PCM_SAMPLE_WIDTH
    return (
        b"RIFF" + (0xFFFFFFFF).to_bytes(4, "little") + b"WAVE"
        + b"fmt " + (16).to_bytes(4, "little") + (1).to_bytes(2, "little") + (1).to_bytes(2, "little")
        + sample_rate.to_bytes(4, "little") + byte_rate.to_bytes(4, "little")
        + PCM_SAMPLE_WIDTH.to_bytes(2, "little") + (16).to_bytes(2, "little")
        + b"data" + (0xFFFFFFFF).to_bytes(4, "little")
    )


def _error(exc: RequestError, status: int = 400) -> JSONResponse:
    metrics.ERRORS.labels(code=exc.code).inc()
    return JSONResponse(exc.body(), status_code=status)


def create_app(settings: TTSSettings | None = None) -> FastAPI:
    settings = settings or TTSSettings()
    engine = KokoroEngine(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        await engine.warm_up()
        yield

    app = FastAPI(title="voice-tts", version="0.1.0", lifespan=lifespan)

    async def readiness() -> tuple[bool, dict]:
        return engine.ready, {"model": settings.model_path, "device": settings.device, "voices": len(engine.voices)}

    add_ops_routes(app, readiness, registry=metrics.REGISTRY)

    @app.get("/v1/audio/voices")
    async def voices() -> dict:
        return {"voices": engine.voices, "default": settings.default_voice}

    @app.post("/v1/audio/speech")
    async def speech(request: Request):
        received_at = time.perf_counter()
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return _error(RequestError("invalid_json", "the request body must be JSON", "body"))
        if not isinstance(body, dict):
            return _error(RequestError("invalid_json", "the request body must be a JSON object", "body"))
        response_format = body.get("response_format", "wav")
        try:
            text, voice, speed = check_speech(
                body.get("input"),
                body.get("voice", settings.default_voice),
                body.get("speed", 1.0),
                engine.voices,
                settings.max_input_chars,
                model=body.get("model", "kokoro"),
                response_format=response_format,
            )
        except RequestError as exc:
            return _error(exc)

        async def audio() -> AsyncIterator[bytes]:
            metrics.ACTIVE_STREAMS.inc()
            try:
                if response_format == "wav":
                    yield streaming_wav_header()
                first = True
                async for piece in engine.stream(text, voice, speed):
                    if first:
                        metrics.TTFB.labels(endpoint="speech").observe(time.perf_counter() - received_at)
                        first = False
                    yield piece
            finally:
                metrics.ACTIVE_STREAMS.dec()

        media_type = "audio/wav" if response_format == "wav" else f"audio/pcm;rate={SAMPLE_RATE};encoding=s16le;channels=1"
        return StreamingResponse(audio(), media_type=media_type, headers={"X-Sample-Rate": str(SAMPLE_RATE)})

    @app.websocket("/ws")
    async def websocket(websocket: WebSocket) -> None:
        await websocket.accept()
        await SpeechSession(websocket, engine).run()

    return app
