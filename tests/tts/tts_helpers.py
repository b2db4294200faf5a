"""Helpers for the TTS tests: the texts spoken, audio checks, and real clients of both endpoints."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
import websockets
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import ClientConnection

from voice_common.audio import pcm16_to_float32, pcm_seconds, rms_dbfs
from voice_common.protocol.constants import TTS_SAMPLE_RATE

TIMEOUT_S = 60.0
SAMPLE_RATE = TTS_SAMPLE_RATE

FOX = "The quick brown fox jumps over the lazy dog."
# Three sentences: the server sends the first alone (short first chunk), the rest after it.
REPLY = (
    "Paris is the capital of France. It sits on the river Seine, in the north of the country. "
    "About two million people live in the city itself, and many more in the region around it."
)
# Long enough that synthesis is still running when a test cancels it.
LONG = " ".join([REPLY] * 6)


def seconds(pcm: bytes) -> float:
    return pcm_seconds(len(pcm), SAMPLE_RATE)


def assert_speech(pcm: bytes, text: str) -> None:
    """PCM at 24 kHz that is audible and as long as ``text`` takes to say (Kokoro at speed 1)."""
    assert len(pcm) % 2 == 0, "half a sample"
    assert rms_dbfs(pcm16_to_float32(pcm)) > -35.0, "audio is (nearly) silent"
    n_words = len(text.split())
    # People and Kokoro speak 2-4 words per second; at any other rate the length is wrong.
    assert n_words / 5.0 < seconds(pcm) < n_words / 1.5 + 1.0, f"{seconds(pcm):.2f} s of audio for {n_words} words"


@dataclass
class Spoken:
    """What ``WS /ws`` sent back for one text: its audio frames, then the final text frame."""

    frames: list[bytes] = field(default_factory=list)
    final: str | dict | None = None

    @property
    def pcm(self) -> bytes:
        return b"".join(self.frames)


@asynccontextmanager
async def connect(url: str) -> AsyncIterator[ClientConnection]:
    async with websockets.connect(url, proxy=None, compression=None, max_size=None, open_timeout=TIMEOUT_S) as ws:
        yield ws


async def receive_until_text(ws: ClientConnection, timeout: float = TIMEOUT_S) -> Spoken:
    """Audio frames up to the next text frame (``END``, or a JSON event, parsed)."""
    spoken = Spoken()
    while True:
        message = await asyncio.wait_for(ws.recv(), timeout)
        if isinstance(message, bytes):
            spoken.frames.append(message)
            continue
        spoken.final = message if message == "END" else json.loads(message)
        return spoken


async def metric_samples(http: httpx.AsyncClient) -> dict[tuple[str, tuple], float]:
    """``/metrics`` as {(sample name, sorted labels): value}."""
    text = (await http.get("/metrics")).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
