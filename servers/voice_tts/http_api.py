"""``POST /v1/audio/speech`` (OpenAI / Kokoro-FastAPI compatible) and ``GET /v1/audio/voices``.

A speech request is answered with a status only once its first audio piece exists: input the
phonemizer finds nothing to say in, or a model that fails on it, gets an error status instead
of a 200 whose body is then cut. Errors are raised as ApiError and answered in OpenAI's shape by
the app's handlers (``voice_common.http_errors``).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from voice_common import tracing
from voice_common.audio import PCM_SAMPLE_WIDTH, wav_bytes
from voice_common.http_errors import not_ready
from voice_common.protocol.constants import TTS_SAMPLE_RATE
from voice_common.protocol.errors import ApiError
from voice_tts import metrics
from voice_tts.engine import KokoroEngine, SynthesisError
from voice_tts.requests import SpeechRequest, read_json_body, validated
from voice_tts.settings import TTSSettings

logger = logging.getLogger("voice_tts")

PCM_MEDIA_TYPE = f"audio/pcm;rate={TTS_SAMPLE_RATE};encoding=s16le;channels=1"


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


async def _streamed(head: bytes, pieces: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """A streamed body: ``head`` (what was ready before the status was sent), then the rest as it is
    made; a body that stops early (a client gone) closes ``pieces``, which cancels the synthesis."""
    async with contextlib.aclosing(pieces):
        yield head
        async for piece in pieces:
            yield piece


def speech_router(engine: KokoroEngine, settings: TTSSettings) -> APIRouter:
    router = APIRouter()

    @router.get("/v1/audio/voices")
    async def voices() -> JSONResponse:
        if not engine.ready:
            raise not_ready("model")
        return JSONResponse({"voices": engine.voices, "default": settings.default_voice})

    @router.post("/v1/audio/speech")
    async def speech(request: Request) -> Response:
        received_at = time.perf_counter()
        if not engine.ready:
            raise not_ready("model")
        body = validated(SpeechRequest, await read_json_body(request, settings.max_body_bytes), engine.limits)
        # Chunk spans under FastAPI's span of this request (which took the caller's traceparent header).
        pieces = engine.stream(body.input, body.voice, body.speed, trace=tracing.current())
        try:
            # The first piece before the status: what fails now gets a 4xx/5xx, not a cut 200.
            first = await anext(pieces)
            metrics.TTFB.labels(endpoint="speech").observe(time.perf_counter() - received_at)
            if not body.stream:  # one body with exact sizes, for clients that want a plain file
                pcm = first + b"".join([piece async for piece in pieces])
        except SynthesisError as exc:
            logger.exception("synthesis failed")
            failed = "the model failed on this input; the server log has the cause"
            raise ApiError("synthesis_failed", failed, "input", 500) from exc

        headers = {"X-Sample-Rate": str(TTS_SAMPLE_RATE)}
        if not body.stream:
            if body.response_format == "wav":
                return Response(wav_bytes(pcm, TTS_SAMPLE_RATE), media_type="audio/wav", headers=headers)
            return Response(pcm, media_type=PCM_MEDIA_TYPE, headers=headers)
        if body.response_format == "wav":
            return StreamingResponse(_streamed(streaming_wav_header() + first, pieces), media_type="audio/wav", headers=headers)
        return StreamingResponse(_streamed(first, pieces), media_type=PCM_MEDIA_TYPE, headers=headers)

    return router
