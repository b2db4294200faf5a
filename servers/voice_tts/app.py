"""FastAPI app of the TTS server: OpenAI-compatible streaming speech, voices, WebSocket, probes.

The model loads in the background after the server starts, so ``/health`` answers at once
(liveness) while ``/ready`` stays 503 until the model is loaded and warmed up; until then
speech requests get 503 ``not_ready``. A model that fails to load stops the process: a crash is
visible to Kubernetes and to the local supervisor, an alive-but-never-ready server is not.

A speech request is answered with a status only once its first audio piece exists: input the
phonemizer finds nothing to say in, or a model that fails on it, gets an error status instead
of a 200 whose body is then cut.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request, Response, WebSocket
from fastapi.responses import JSONResponse, StreamingResponse

from voice_common import tracing
from voice_common.audio import PCM_SAMPLE_WIDTH, wav_bytes
from voice_common.ops import add_ops_routes, background_model_lifespan
from voice_common.protocol.constants import CLOSE_TRY_AGAIN_LATER, TTS_SAMPLE_RATE
from voice_common.protocol.errors import ApiError, error_event
from voice_tts import metrics
from voice_tts.engine import KokoroEngine, SynthesisError
from voice_tts.requests import check_speech, read_json_body
from voice_tts.settings import TTSSettings
from voice_tts.ws import SpeechSession

logger = logging.getLogger("voice_tts")

PCM_MEDIA_TYPE = f"audio/pcm;rate={TTS_SAMPLE_RATE};encoding=s16le;channels=1"
NOT_READY = ApiError("not_ready", "the model is still loading; retry when /ready answers 200", "model", 503)
SYNTHESIS_FAILED = ApiError("synthesis_failed", "the model failed on this input; the server log has the cause", "input", 500)


def streaming_wav_header(sample_rate: int = TTS_SAMPLE_RATE) -> bytes:
    """A WAV header for a stream of unknown length (sizes set to the maximum, as streamers do)."""
    byte_rate = sample_rate * PCM_SAMPLE_WIDTH
    return (
        b"RIFF" + (0xFFFFFFFF).to_bytes(4, "little") + b"WAVE"
        + b"fmt " + (16).to_bytes(4, "little") + (1).to_bytes(2, "little") + (1).to_bytes(2, "little")
        + sample_rate.to_bytes(4, "little") + byte_rate.to_bytes(4, "little")
        + PCM_SAMPLE_WIDTH.to_bytes(2, "little") + (16).to_bytes(2, "little")
        + b"data" + (0xFFFFFFFF).to_bytes(4, "little")
    )


def _error(exc: ApiError) -> JSONResponse:
    metrics.ERRORS.labels(code=exc.code).inc()
    return JSONResponse(exc.body(), status_code=exc.status)


async def _streamed(head: bytes, pieces: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """A streamed body: ``head`` (what was ready before the status was sent), then the rest as it is
    made; a body that stops early (a client gone) closes ``pieces``, which cancels the synthesis."""
    async with contextlib.aclosing(pieces):
        yield head
        async for piece in pieces:
            yield piece


def create_app(settings: TTSSettings | None = None) -> FastAPI:
    settings = settings or TTSSettings()
    engine = KokoroEngine(settings)

    lifespan = background_model_lifespan(
        engine, f"the model from {settings.model_path} with voices {settings.voices_path}", logger
    )
    app = FastAPI(title="voice-tts", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.engine = engine

    async def readiness() -> tuple[bool, dict]:
        return engine.ready, {"model": settings.model_path, "device": settings.device, "voices": len(engine.voices)}

    add_ops_routes(app, readiness, registry=metrics.REGISTRY)

    @app.get("/v1/audio/voices")
    async def voices() -> Response:
        if not engine.ready:
            return _error(NOT_READY)
        return JSONResponse({"voices": engine.voices, "default": settings.default_voice})

    @app.post("/v1/audio/speech")
    async def speech(request: Request) -> Response:
        received_at = time.perf_counter()
        if not engine.ready:
            return _error(NOT_READY)
        try:
            body = await read_json_body(request, settings.max_body_bytes)
            response_format = body.get("response_format", "wav")
            stream = body.get("stream", True)
            text, voice, speed = check_speech(
                body.get("input"),
                body.get("voice", settings.default_voice),
                body.get("speed", 1.0),
                engine.voices,
                settings.max_input_chars,
                model=body.get("model", "kokoro"),
                response_format=response_format,
            )
            if not isinstance(stream, bool):
                raise ApiError("invalid_stream", "stream must be true or false", "stream")
            # Chunk spans under FastAPI's span of this request (which took the caller's traceparent header).
            pieces = engine.stream(text, voice, speed, trace=tracing.current())
            # The first piece before the status: what fails now gets a 4xx/5xx, not a cut 200.
            first = await anext(pieces)
            metrics.TTFB.labels(endpoint="speech").observe(time.perf_counter() - received_at)
            if not stream:  # one body with exact sizes, for clients that want a plain file
                pcm = first + b"".join([piece async for piece in pieces])
        except ApiError as exc:
            return _error(exc)
        except SynthesisError:
            logger.exception("synthesis failed")
            return _error(SYNTHESIS_FAILED)

        headers = {"X-Sample-Rate": str(TTS_SAMPLE_RATE)}
        if not stream:
            if response_format == "wav":
                return Response(wav_bytes(pcm, TTS_SAMPLE_RATE), media_type="audio/wav", headers=headers)
            return Response(pcm, media_type=PCM_MEDIA_TYPE, headers=headers)
        if response_format == "wav":
            return StreamingResponse(_streamed(streaming_wav_header() + first, pieces), media_type="audio/wav", headers=headers)
        return StreamingResponse(_streamed(first, pieces), media_type=PCM_MEDIA_TYPE, headers=headers)

    @app.websocket("/ws")
    async def websocket(websocket: WebSocket) -> None:
        await websocket.accept()
        if not engine.ready:
            metrics.ERRORS.labels(code=NOT_READY.code).inc()
            await websocket.send_json(error_event(NOT_READY.code, NOT_READY.message))
            await websocket.close(CLOSE_TRY_AGAIN_LATER)
            return
        await SpeechSession(websocket, engine).run()

    return app
