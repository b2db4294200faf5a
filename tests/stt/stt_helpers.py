"""Helpers for the STT tests: real WebSocket clients of ``/v1/listen`` and ``/ws``, word checks,
Prometheus samples and WAV files with doctored headers."""

from __future__ import annotations

import asyncio
import json
import re
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import websockets
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import ClientConnection

from support import spoken

TIMEOUT_S = 60.0
FRAME_BYTES = 640  # 20 ms at 16 kHz, what the gateway sends

# Spoken sentences and the words their transcript must contain.
CAPITAL = "What is the capital of France?"
CAPITAL_WORDS = {"capital", "france"}
FOX = "The quick brown fox jumps over the lazy dog."
FOX_WORDS = {"quick", "brown", "fox", "lazy", "dog"}
LIGHTS = "Please turn on the kitchen lights."
LIGHTS_WORDS = {"please", "turn", "kitchen"}  # "lights" may come out "light" at 8 kHz


def words(text: str) -> set[str]:
    """Lowercase words without punctuation, so "France?" matches "france"."""
    return set(re.findall(r"[a-z0-9']+", text.lower()))


def silence(seconds: float, sample_rate: int = 16000) -> bytes:
    return bytes(int(seconds * sample_rate) * 2)


def long_speech(seconds: float) -> bytes:
    """About ``seconds`` of 16 kHz speech that starts with FOX and ends with CAPITAL (LIGHTS in
    between), so both ends of a long transcript can be checked."""
    head, tail, pause = spoken(FOX), spoken(CAPITAL), silence(0.5)
    middle = spoken(LIGHTS) + pause
    repeats = max(0, int(seconds * 16000) * 2 - len(head) - len(tail)) // len(middle)
    return head + pause + middle * repeats + tail


@asynccontextmanager
async def connect(url: str) -> AsyncIterator[ClientConnection]:
    async with websockets.connect(url, proxy=None, compression=None, max_size=None, open_timeout=TIMEOUT_S) as ws:
        yield ws


@asynccontextmanager
async def listening(base_ws: str, **start: object) -> AsyncIterator[ClientConnection]:
    """An open ``/v1/listen`` session after ``start`` -> ``ready``."""
    async with connect(base_ws + "/v1/listen") as ws:
        await ws.send(json.dumps({"type": "start", **start}))
        ready = await recv_json(ws)
        assert ready["type"] == "ready", ready
        yield ws


async def recv_json(ws: ClientConnection, timeout: float = TIMEOUT_S) -> dict:
    message = await asyncio.wait_for(ws.recv(), timeout)
    assert isinstance(message, str), f"expected a JSON text frame, got {len(message)} bytes"
    return json.loads(message)


async def send_audio(ws: ClientConnection, pcm: bytes, frame_bytes: int = FRAME_BYTES, pace_s: float = 0.0) -> None:
    """Send ``pcm`` in frames; ``pace_s`` > 0 sleeps between frames (real time: frame duration)."""
    for offset in range(0, len(pcm), frame_bytes):
        await ws.send(pcm[offset : offset + frame_bytes])
        if pace_s:
            await asyncio.sleep(pace_s)


async def flush(ws: ClientConnection) -> dict:
    """Send ``flush`` and return the ``final`` (failing on anything else, partials included)."""
    await ws.send(json.dumps({"type": "flush"}))
    event = await recv_json(ws)
    assert event["type"] == "final", event
    return event


async def expect_error(ws: ClientConnection, code: str) -> dict:
    event = await recv_json(ws)
    assert event["type"] == "error" and event["code"] == code, event
    assert event["message"], event
    return event


async def close_code(ws: ClientConnection) -> int | None:
    """Wait for the server to close the connection and return its close code."""
    await asyncio.wait_for(ws.wait_closed(), TIMEOUT_S)
    return ws.close_code


async def active_sessions(base_http: str, expected: int, within_s: float = 5.0) -> int:
    """Poll ``/ready`` until the server counts ``expected`` sessions (closing sessions release a moment later)."""
    async with httpx.AsyncClient() as client:
        deadline = asyncio.get_running_loop().time() + within_s
        while True:
            active = (await client.get(base_http + "/ready")).json()["active_sessions"]
            if active == expected or asyncio.get_running_loop().time() > deadline:
                return active
            await asyncio.sleep(0.05)


def metric_samples(exposition: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """``/metrics`` text as {(sample name, sorted labels): value}."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


# Offsets and struct formats of the fields of the 44-byte header that ``wav_bytes`` writes.
WAV_HEADER_FIELDS = {
    "format": (20, "<H"),
    "channels": (22, "<H"),
    "sample_rate": (24, "<I"),
    "byte_rate": (28, "<I"),
    "block_align": (32, "<H"),
    "bits": (34, "<H"),
    "data_size": (40, "<I"),
}


def patched_wav(wav: bytes, **fields: int) -> bytes:
    """``wav`` (as ``voice_common.audio.wav_bytes`` writes it) with header fields overwritten."""
    doctored = bytearray(wav)
    for name, value in fields.items():
        offset, layout = WAV_HEADER_FIELDS[name]
        struct.pack_into(layout, doctored, offset, value)
    return bytes(doctored)
