"""``POST /v1/audio/transcriptions``: OpenAI-compatible file transcription.

Takes what OpenAI's clients send (multipart ``file``, ``model``, ``language``,
``response_format``; other fields such as ``temperature`` are accepted and ignored), plus
``sample_rate`` for raw PCM uploads. Errors are raised as ApiError and answered in OpenAI's shape
``{"error": {"code", "message", "param"}}`` by the app's handlers (``voice_common.http_errors``),
so those clients surface them properly.

Uploads are the server's second job: they decode at upload priority (a bounded share of the
slots, behind live turns) and their length is capped before any decode.
"""

from __future__ import annotations

import logging
import time
from typing import Literal

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import JSONResponse, PlainTextResponse

from voice_common import tracing
from voice_common.audio import PCM_SAMPLE_WIDTH, read_wav
from voice_common.http_errors import not_ready
from voice_common.protocol.errors import ApiError
from voice_stt import metrics
from voice_stt.engine import Transcript, WhisperEngine
from voice_stt.settings import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE, STTSettings
from voice_stt.slots import Priority

logger = logging.getLogger("voice_stt")

ResponseFormat = Literal["json", "text", "verbose_json"]


def _pcm_of_upload(data: bytes, sample_rate: int | None) -> tuple[bytes, int]:
    """A 16-bit WAV file, or raw s16le mono PCM when the client says its ``sample_rate``."""
    if data[:4] == b"RIFF":
        try:
            pcm, rate = read_wav(data)
        except ValueError as exc:  # read_wav names the problem: bad header, not 16-bit, truncated...
            raise ApiError("unsupported_format", f"unreadable WAV file: {exc}", "file") from exc
    elif sample_rate is None:
        raise ApiError(
            "unsupported_format", "send a 16-bit WAV file, or raw s16le mono PCM with the sample_rate field", "file"
        )
    elif len(data) % PCM_SAMPLE_WIDTH:
        raise ApiError("odd_length_frame", f"raw PCM s16le holds whole samples; got {len(data)} bytes", "file")
    else:
        pcm, rate = data, sample_rate
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise ApiError(
            "unsupported_sample_rate", f"sample rate {rate} is outside {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz", "sample_rate"
        )
    return pcm, rate


def _check_duration(pcm: bytes, rate: int, max_seconds: float) -> None:
    """Refuse audio longer than ``max_seconds`` from its PCM length, before it costs a decode."""
    seconds = len(pcm) // PCM_SAMPLE_WIDTH / rate
    if seconds > max_seconds:
        raise ApiError("audio_too_long", f"audio is limited to {max_seconds:g} s, got {seconds:.1f} s", "file", 413)


def _render(transcript: Transcript, response_format: ResponseFormat) -> JSONResponse | PlainTextResponse:
    if response_format == "text":
        return PlainTextResponse(transcript.text)
    if response_format == "json":
        return JSONResponse({"text": transcript.text})
    return JSONResponse(
        {
            "task": "transcribe",
            "language": transcript.language,
            "duration": transcript.audio_seconds,
            "text": transcript.text,
            "segments": [
                {"id": index, "start": s.start, "end": s.end, "text": s.text}
                for index, s in enumerate(transcript.segments)
            ],
        }
    )


def transcriptions_router(engine: WhisperEngine, settings: STTSettings) -> APIRouter:
    router = APIRouter()

    @router.post("/v1/audio/transcriptions", response_model=None)
    async def transcriptions(
        file: UploadFile = File(...),
        model: str = Form("whisper-1"),  # accepted for compatibility; one model is served
        language: str | None = Form(None),
        response_format: ResponseFormat = Form("json"),
        sample_rate: int | None = Form(None),
    ) -> JSONResponse | PlainTextResponse:
        started = time.perf_counter()
        if not engine.ready:
            raise not_ready()
        data = await file.read(settings.max_upload_bytes + 1)
        if len(data) > settings.max_upload_bytes:
            raise ApiError("file_too_large", f"files are limited to {settings.max_upload_bytes} bytes", "file", 413)
        pcm, rate = _pcm_of_upload(data, sample_rate)
        _check_duration(pcm, rate, settings.max_upload_seconds)
        language = language or settings.language
        if not engine.supports(language):
            raise ApiError("unsupported_language", f"the model does not know language {language!r}", "language")
        try:
            transcript = await engine.transcribe(
                pcm, rate, language, timestamps=response_format == "verbose_json", priority=Priority.UPLOAD,
                trace=tracing.current(),  # slot waits and model runs under FastAPI's span of this request
            )
        except Exception as exc:  # reported as a 500 with a stable code
            logger.exception("decode failed on /v1/audio/transcriptions")
            raise ApiError("transcription_failed", f"could not transcribe: {exc}", status=500) from exc
        metrics.REQUEST_LATENCY.labels(endpoint="transcriptions").observe(time.perf_counter() - started)
        return _render(transcript, response_format)

    return router
