"""Helpers for the STT tests: real WebSocket clients of ``/v1/listen`` and ``/ws``, word checks,
Prometheus samples and WAV files with doctored headers."""

from __future__ import annotations

import asyncio
import json
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import websockets
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import ClientConnection

TIMEOUT_S = 60.0
FRAME_BYTES = 640  # 20 ms at 16 kHz, what the gateway sends

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
