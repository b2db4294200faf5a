"""``?format=protobuf``: a caller speaking Pipecat's protobuf frames (as Pipecat's client SDK does)."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets
from pipecat.frames.protobufs import frames_pb2

from voice_agent.client import FRAME_BYTES, FRAME_MS, SILENCE_FRAME

pytestmark = pytest.mark.slow


def audio_frame(pcm: bytes) -> bytes:
    proto = frames_pb2.Frame()
    proto.audio.audio, proto.audio.sample_rate, proto.audio.num_channels = pcm, 16000, 1
    return proto.SerializeToString()


async def test_protobuf_caller_gets_protobuf_audio_and_events(local_stack, speech):
    pcm = speech("What is the capital of France?") + SILENCE_FRAME * 150  # 3 s of silence after
    audio_bytes, events = 0, []
    async with websockets.connect(local_stack.gateway_ws + "?format=protobuf", max_size=None) as ws:

        async def receive():
            nonlocal audio_bytes
            async for message in ws:
                proto = frames_pb2.Frame.FromString(message)
                kind = proto.WhichOneof("frame")
                if kind == "audio":
                    assert proto.audio.sample_rate == 24000
                    audio_bytes += len(proto.audio.audio)
                elif kind == "message":
                    events.append(json.loads(proto.message.data))

        receiver = asyncio.create_task(receive())
        for offset in range(0, len(pcm), FRAME_BYTES):
            await ws.send(audio_frame(pcm[offset : offset + FRAME_BYTES]))
            await asyncio.sleep(FRAME_MS / 1000)
        for _ in range(400):  # keep the line open up to 8 s for the reply
            if any(e.get("type") == "turn_metrics" for e in events):
                break
            await ws.send(audio_frame(SILENCE_FRAME))
            await asyncio.sleep(FRAME_MS / 1000)
        receiver.cancel()

    transcripts = [e["text"].lower() for e in events if e.get("type") == "transcript"]
    assert any("france" in text for text in transcripts), events
    assert any(e.get("type") == "turn_metrics" for e in events)
    assert audio_bytes > 24000 * 2 * 0.5, "at least half a second of reply audio in protobuf audio frames"
