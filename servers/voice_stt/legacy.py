"""``WS /ws``: drop-in for the seed's STT clients (one binary frame = one utterance, reply = one text frame).

What changed from the seed, on purpose: silence gets an empty reply instead of none (clients
waiting for a reply no longer hang), and errors arrive as ``{"error": ..., "code": ...}`` JSON
instead of looking like a transcript.
"""

from __future__ import annotations

import logging
import time

from fastapi import WebSocket

from voice_common.audio import PCM_SAMPLE_WIDTH
from voice_common.protocol.stt import LegacyError
from voice_stt import metrics
from voice_stt.engine import WhisperEngine
from voice_stt.settings import MODEL_SAMPLE_RATE, STTSettings
from voice_stt.ws import WireSession

logger = logging.getLogger("voice_stt")


class LegacySession(WireSession):
    endpoint = "ws"

    def __init__(self, websocket: WebSocket, engine: WhisperEngine, settings: STTSettings) -> None:
        super().__init__(websocket)
        self.engine = engine
        self.settings = settings

    def error_payload(self, code: str, message: str, **extra: object) -> dict:
        return LegacyError(error=message, code=code, **extra).wire()

    async def on_text(self, text: str) -> None:
        await self.report("bad_message", "send each utterance as one binary frame of 16 kHz s16le mono PCM")

    async def on_audio(self, frame: bytes) -> None:
        limit = self.settings.utterance_bytes(MODEL_SAMPLE_RATE)
        if len(frame) > limit:
            await self.report(
                "utterance_too_long", f"utterances are limited to {self.settings.max_utterance_seconds:g} s ({limit} bytes)"
            )
            return
        if len(frame) % PCM_SAMPLE_WIDTH:
            await self.report("odd_length_frame", f"PCM s16le frames hold whole samples; got {len(frame)} bytes")
            return
        received = time.perf_counter()
        try:
            transcript = await self.engine.transcribe(frame, MODEL_SAMPLE_RATE)
        except Exception as exc:  # reported to the client, the session goes on
            logger.exception("decode failed on /ws")
            await self.report("transcription_failed", f"could not transcribe: {exc}")
            return
        metrics.REQUEST_LATENCY.labels(endpoint=self.endpoint).observe(time.perf_counter() - received)
        await self.send_text(transcript.text)
