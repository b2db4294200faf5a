"""A real caller for the gateway's raw-PCM WebSocket: streams speech at real-time pace and
records what comes back, with client-side timings.

Used by ``voice-agent talk``, the end-to-end tests, the stack benchmark and the Locust load
test, so every one of them measures a turn the same way: mouth-to-ear on the client is from
the last frame of the caller's speech to the first byte of reply audio. The Locust test runs
under gevent, where asyncio cannot run, so it drives a blocking socket but records through the
same ``Conversation`` and paces through the same ``paced_frames``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import websockets

from voice_common.audio import (
    PCM_SAMPLE_WIDTH,
    float32_to_pcm16,
    pcm16_to_float32,
    read_wav,
    resample,
    trailing_silence_seconds,
)
from voice_common.protocol import gateway as events
from voice_common.protocol.constants import CALLER_SAMPLE_RATE, TTS_SAMPLE_RATE

FRAME_MS = 20
FRAME_BYTES = CALLER_SAMPLE_RATE * FRAME_MS // 1000 * PCM_SAMPLE_WIDTH
SILENCE_FRAME = bytes(FRAME_BYTES)


def caller_pcm(path: Path) -> bytes:
    """A WAV as the gateway wants it: 16 kHz mono s16le (other rates are resampled here)."""
    pcm, rate = read_wav(path)
    if rate == CALLER_SAMPLE_RATE:
        return pcm
    return float32_to_pcm16(resample(pcm16_to_float32(pcm), rate, CALLER_SAMPLE_RATE))


def paced_frames(pcm: bytes) -> Iterator[tuple[bytes, float]]:
    """20 ms frames of ``pcm``, each with the offset (seconds from the first send) at which its
    audio has been played out: a microphone's pace, which a sender waits for after each frame."""
    for index, offset in enumerate(range(0, len(pcm), FRAME_BYTES)):
        yield pcm[offset : offset + FRAME_BYTES], (index + 1) * FRAME_MS / 1000.0


@dataclass
class Turn:
    """One caller utterance and what the agent did with it."""

    speech_end: float  # monotonic time the last frame of speech was sent
    first_audio_at: float | None = None
    heard: list[str] = field(default_factory=list)  # the gateway's transcripts; a revision replaces the last
    reply_text: str = ""
    reply_audio_bytes: int = 0
    server: dict = field(default_factory=dict)  # the gateway's turn_metrics event, as it came

    @property
    def metrics(self) -> events.TurnMetrics | None:
        """The turn_metrics event, typed; None until the gateway reported the turn."""
        return events.TurnMetrics.read(self.server) if self.server else None

    @property
    def transcript(self) -> str:
        return " ".join(self.heard)

    @property
    def client_mouth_to_ear_ms(self) -> float | None:
        if self.first_audio_at is None:
            return None
        return round((self.first_audio_at - self.speech_end) * 1000.0, 1)

    def as_dict(self) -> dict:
        return {
            "transcript": self.transcript,
            "reply": self.reply_text.strip(),
            "client_mouth_to_ear_ms": self.client_mouth_to_ear_ms,
            "reply_audio_seconds": round(self.reply_audio_bytes / (PCM_SAMPLE_WIDTH * TTS_SAMPLE_RATE), 2),
            "server": self.server,
        }


@dataclass
class Conversation:
    """Everything received during one call, in order, with receive times."""

    events: list[tuple[float, dict]] = field(default_factory=list)
    audio: list[tuple[float, bytes]] = field(default_factory=list)
    turns: list[Turn] = field(default_factory=list)
    bot_speaking: bool = False
    bot_stopped_at: float = 0.0

    @property
    def errors(self) -> list[dict]:
        return [event for _, event in self.events if event.get("type") == events.ErrorEvent.type_name()]

    def reply_pcm(self) -> bytes:
        return b"".join(chunk for _, chunk in self.audio)

    def first_event(self, kind: str, after: float = 0.0) -> tuple[float, dict] | None:
        return next(((t, e) for t, e in self.events if e.get("type") == kind and t >= after), None)

    def start_turn(self, pcm: bytes) -> Turn:
        """A new turn for ``pcm`` just streamed: its clock starts where the speech (not its trailing silence) ended."""
        turn = Turn(speech_end=time.monotonic() - trailing_silence_seconds(pcm, CALLER_SAMPLE_RATE))
        self.turns.append(turn)
        return turn

    def record(self, now: float, message: bytes | str) -> None:
        """File one received message (reply audio or a JSON event) under the current turn."""
        if isinstance(message, bytes):
            self._on_audio(now, message)
        else:
            self._on_event(now, json.loads(message))

    def reply_finished(self, turn: Turn, now: float, settle_s: float) -> bool:
        """The gateway reported ``turn`` and the bot has been silent for ``settle_s`` since."""
        return bool(turn.server) and not self.bot_speaking and now - self.bot_stopped_at >= settle_s

    def _on_audio(self, now: float, chunk: bytes) -> None:
        self.audio.append((now, chunk))
        if self.turns:
            turn = self.turns[-1]
            if turn.first_audio_at is None:
                turn.first_audio_at = now
            turn.reply_audio_bytes += len(chunk)

    def _on_event(self, now: float, event: dict) -> None:
        self.events.append((now, event))
        kind = event.get("type")
        turn = self.turns[-1] if self.turns else None
        if kind == events.BotStartedSpeaking.type_name():
            self.bot_speaking = True
        elif kind == events.BotStoppedSpeaking.type_name():
            self.bot_speaking = False
            self.bot_stopped_at = now
        elif turn is None:
            return
        elif kind == events.Transcript.type_name():
            transcript = events.Transcript.read(event)
            if transcript.revises and turn.heard:
                turn.heard.pop()  # decoded again whole after a pause the caller spoke on from
            if transcript.text.strip():
                turn.heard.append(transcript.text.strip())
        elif kind == events.BotText.type_name():
            turn.reply_text += events.BotText.read(event).text
        elif kind == events.TurnMetrics.type_name():
            turn.server = event


class Caller:
    """One open call. ``async with Caller(url) as call: await call.say(pcm)``."""

    def __init__(self, url: str, *, open_timeout: float = 10.0) -> None:
        self.url = url
        self.open_timeout = open_timeout
        self.conversation = Conversation()
        self._ws: websockets.ClientConnection | None = None
        self._reader: asyncio.Task | None = None
        self._changed = asyncio.Condition()

    async def __aenter__(self) -> Caller:
        self._ws = await websockets.connect(self.url, open_timeout=self.open_timeout, max_size=None)
        self._reader = asyncio.create_task(self._read())
        await self.wait_for(lambda: self.conversation.first_event(events.Ready.type_name()) or self.conversation.errors, 30)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)

    @property
    def websocket(self) -> websockets.ClientConnection:
        assert self._ws is not None, "use Caller as an async context manager"
        return self._ws

    async def _read(self) -> None:
        try:
            async for message in self.websocket:
                now = time.monotonic()
                async with self._changed:
                    self.conversation.record(now, message)
                    self._changed.notify_all()
        except websockets.ConnectionClosed:
            pass
        finally:
            async with self._changed:
                self._changed.notify_all()

    async def wait_for(self, predicate, timeout: float) -> bool:
        """Wait until ``predicate()`` is truthy (re-checked on every message) or ``timeout`` passes."""
        try:
            async with asyncio.timeout(timeout):
                async with self._changed:
                    await self._changed.wait_for(lambda: bool(predicate()) or self._reader.done())
        except TimeoutError:
            return False
        return bool(predicate())

    async def stream(self, pcm: bytes) -> None:
        """Send PCM in 20 ms frames at real-time pace (as a microphone would)."""
        start = time.monotonic()
        for frame, played_out in paced_frames(pcm):
            await self.websocket.send(frame)
            delay = start + played_out - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)

    async def silence(self, seconds: float) -> None:
        await self.stream(SILENCE_FRAME * int(seconds * 1000 / FRAME_MS))

    async def say(self, pcm: bytes) -> Turn:
        """Speak ``pcm`` and start a new turn whose clock starts at the end of the speech."""
        await self.stream(pcm)
        return self.conversation.start_turn(pcm)

    async def say_and_listen(self, pcm: bytes, timeout: float = 60.0, settle_s: float = 1.0) -> Turn:
        """Speak, keep the microphone open (silence), and return once the bot finished replying
        (its turn reported and no bot audio for ``settle_s``), a new error arrived, or ``timeout``."""
        errors_before = len(self.conversation.errors)
        turn = await self.say(pcm)
        listener = asyncio.create_task(self._keep_streaming_silence())
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline and not self._reader.done():
                if len(self.conversation.errors) > errors_before:
                    break
                if self.conversation.reply_finished(turn, time.monotonic(), settle_s):
                    break
                await asyncio.sleep(0.05)
        finally:
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)
        return turn

    async def _keep_streaming_silence(self) -> None:
        while True:
            await self.silence(0.2)


def budget_rows(turn: Turn) -> list[tuple[str, float | None]]:
    """(stage, measured ms) for the budget table; network = client minus server mouth-to-ear."""
    server = turn.metrics
    client_m2e = turn.client_mouth_to_ear_ms
    server_m2e = server.mouth_to_ear_ms if server else None
    network = None if client_m2e is None or server_m2e is None else round(max(client_m2e - server_m2e, 0.0), 1)
    return [
        ("stt", server.stt_ms if server else None),
        ("llm_ttft", server.llm_ttft_ms if server else None),
        ("tts_ttfb", server.tts_ttfb_ms if server else None),
        ("network", network),
        ("mouth_to_ear", client_m2e if client_m2e is not None else server_m2e),
    ]


async def converse(url: str, utterances: list[bytes], timeout: float) -> Conversation:
    """One call as ``voice-agent talk`` makes it: settle, then say each utterance and wait for its
    reply. A call the gateway refused ends at once, with its error and no turns."""
    async with Caller(url) as call:
        if not call.conversation.errors:
            await call.silence(0.5)  # let VAD settle on the line's noise floor, as a real call would
            for pcm in utterances:
                await call.say_and_listen(pcm, timeout=timeout)
        return call.conversation
