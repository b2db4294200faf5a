"""FastAPI app of the STT server: streaming WebSocket, seed-compatible WebSocket, OpenAI HTTP API."""

from __future__ import annotations

import io
import time
from contextlib import asynccontextmanager

import numpy as np
from fastapi import FastAPI, File, Form, UploadFile, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, PlainTextResponse
from faster_whisper import decode_audio

from voice_common.audio import pcm16_to_float32
from voice_common.ops import add_ops_routes, error_event
from voice_stt import metrics
from voice_stt.engine import SAMPLE_RATE, WhisperEngine
from voice_stt.listen import ListenSession
from voice_stt.settings import STTSettings

CLOSE_TRY_AGAIN_LATER = 1013
RESPONSE_FORMATS = ("json", "text", "verbose_json")


class SessionLimit:
    """Shared cap on open streaming sessions, so one busy pod refuses clearly instead of slowing all."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0

    def try_open(self) -> bool:
        if self.open >= self.limit:
            return False
        self.open += 1
        metrics.ACTIVE_SESSIONS.set(self.open)
        return True

    def close(self) -> None:
        self.open -= 1
        metrics.ACTIVE_SESSIONS.set(self.open)


def _http_error(status: int, code: str, message: str, param: str | None = None) -> JSONResponse:
    metrics.ERRORS.labels(code=code).inc()
    return JSONResponse({"error": {"code": code, "message": message, "param": param}}, status_code=status)


def create_app(settings: STTSettings | None = None) -> FastAPI:
    settings = settings or STTSettings()
    engine = WhisperEngine(settings)
    sessions = SessionLimit(settings.max_sessions)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        await engine.warm_up()
        yield

    app = FastAPI(title="voice-stt", version="0.1.0", lifespan=lifespan)

    async def readiness() -> tuple[bool, dict]:
        return engine.ready, {"model": settings.model_path, "device": settings.device}

    add_ops_routes(app, readiness, registry=metrics.REGISTRY)

    async def refuse_if_full(websocket: WebSocket) -> bool:
        if sessions.try_open():
            return False
        metrics.ERRORS.labels(code="too_many_sessions").inc()
        await websocket.accept()
        await websocket.send_json(error_event("too_many_sessions", f"this server is at its limit of {sessions.limit} sessions"))
        await websocket.close(CLOSE_TRY_AGAIN_LATER)
        return True

    @app.websocket("/v1/listen")
    async def listen(websocket: WebSocket) -> None:
        if await refuse_if_full(websocket):
            return
        await websocket.accept()
        session = ListenSession(engine, settings, websocket.send_json)
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                if message.get("bytes") is not None:
                    outcome = await session.on_audio(message["bytes"])
                else:
                    outcome = await session.on_text(message.get("text") or "")
                if outcome.close_code is not None:
                    await websocket.close(outcome.close_code)
                    break
        except WebSocketDisconnect:
            pass
        finally:
            session.close()
            sessions.close()

    @app.websocket("/ws")
    async def legacy(websocket: WebSocket) -> None:
        """The seed's protocol: one binary frame is one 16 kHz utterance; the reply is its text."""
        if await refuse_if_full(websocket):
            return
        await websocket.accept()
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                data = message.get("bytes")
                if data is None:
                    await _legacy_error(websocket, "expected_audio", "send one utterance of 16 kHz s16le PCM per binary frame")
                elif len(data) > settings.max_frame_bytes:
                    await _legacy_error(websocket, "frame_too_large", f"at most {settings.max_frame_bytes} bytes per utterance")
                elif len(data) % 2:
                    await _legacy_error(websocket, "odd_length_frame", "PCM s16le frames must hold an even number of bytes")
                else:
                    started = time.perf_counter()
                    result = await engine.transcribe(pcm16_to_float32(data))
                    metrics.REQUEST_LATENCY.labels(endpoint="ws").observe(time.perf_counter() - started)
                    await websocket.send_text(result.text)
        except WebSocketDisconnect:
            pass
        finally:
            sessions.close()

    @app.post("/v1/audio/transcriptions")
    async def transcriptions(
        file: UploadFile = File(...),
        model: str = Form("whisper-1"),
        language: str | None = Form(None),
        response_format: str = Form("json"),
        temperature: float = Form(0.0),
    ):
        """OpenAI-compatible: any container PyAV decodes (wav, mp3, ogg, flac, webm...)."""
        if response_format not in RESPONSE_FORMATS:
            return _http_error(400, "unsupported_response_format", f"response_format must be one of {RESPONSE_FORMATS}", "response_format")
        data = await file.read()
        if not data:
            return _http_error(400, "empty_file", "the uploaded file is empty", "file")
        try:
            audio = decode_audio(io.BytesIO(data), sampling_rate=SAMPLE_RATE)
        except Exception as exc:  # noqa: BLE001 - PyAV raises many types for undecodable input
            return _http_error(400, "invalid_audio", f"could not decode the file as audio: {exc}", "file")
        started = time.perf_counter()
        result = await engine.transcribe(np.asarray(audio, dtype=np.float32), language)
        metrics.REQUEST_LATENCY.labels(endpoint="transcriptions").observe(time.perf_counter() - started)
        if response_format == "text":
            return PlainTextResponse(result.text)
        if response_format == "verbose_json":
            return {
                "task": "transcribe",
                "language": result.language,
                "duration": round(result.audio_seconds, 3),
                "text": result.text,
                "segments": [{"id": i, **segment} for i, segment in enumerate(result.segments)],
            }
        return {"text": result.text}

    return app


async def _legacy_error(websocket: WebSocket, code: str, message: str) -> None:
    metrics.ERRORS.labels(code=code).inc()
    await websocket.send_json({"error": message, "code": code})
