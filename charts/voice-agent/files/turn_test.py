"""One spoken turn through the voice gateway, checked end to end (the chart's `helm test`).

Sends a recorded question (s16le mono 16 kHz) to WS /ws at real-time pace, keeps streaming silence
so the gateway's VAD hears the caller stop, and waits for the bot's answer. Passes when the
transcript holds the expected words, the LLM's text arrived, at least half a second of reply
audio came back and the gateway reported the turn's latencies. Needs only Python and `websockets`.

    python turn_test.py --url ws://gateway:7860/ws --audio utterance.pcm --expect capital --expect france
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import time
from urllib.parse import urlencode

from websockets import connect

FRAME_MS = 20
IN_RATE = 16000
OUT_RATE = 24000
MIN_REPLY_SECONDS = 0.5


class Turn:
    """What came back from the gateway."""

    def __init__(self) -> None:
        self.events: list[dict] = []
        self.audio_bytes = 0
        self.done = asyncio.Event()

    def first(self, kind: str) -> dict | None:
        return next((e for e in self.events if e.get("type") == kind), None)

    def take(self, message: str | bytes) -> None:
        if isinstance(message, bytes):
            self.audio_bytes += len(message)
            return
        event = json.loads(message)
        self.events.append(event)
        if event.get("type") in ("turn_metrics", "error"):
            self.done.set()


async def stream(ws, pcm: bytes, turn: Turn, timeout_s: float) -> None:
    """The question at real-time pace, then silence until the reply is complete."""
    frame = IN_RATE * 2 * FRAME_MS // 1000
    silence = bytes(frame)
    start = time.monotonic()
    chunks = [silence] * 15 + [pcm[i : i + frame] for i in range(0, len(pcm), frame)]
    sent = 0
    while not turn.done.is_set():
        if time.monotonic() - start > timeout_s:
            raise TimeoutError(f"no complete reply within {timeout_s:.0f} s")
        await ws.send(chunks[sent] if sent < len(chunks) else silence)
        sent += 1
        await asyncio.sleep(max(0.0, start + sent * FRAME_MS / 1000 - time.monotonic()))


async def one_turn(url: str, pcm: bytes, timeout_s: float) -> Turn:
    turn = Turn()
    async with connect(url, max_size=None, open_timeout=30) as ws:

        async def read() -> None:
            async for message in ws:
                turn.take(message)

        reader = asyncio.create_task(read())
        try:
            await stream(ws, pcm, turn, timeout_s)
        finally:
            reader.cancel()
    return turn


def check(turn: Turn, expect: list[str]) -> list[str]:
    """Problems with the turn; empty when it passed."""
    problems = [f"gateway error: {e}" for e in turn.events if e.get("type") == "error"]
    transcript = " ".join(e.get("text", "") for e in turn.events if e.get("type") == "transcript")
    missing = set(expect) - set(re.findall(r"[a-z']+", transcript.lower()))
    if missing:
        problems.append(f"transcript {transcript!r} lacks {sorted(missing)}")
    if not "".join(e.get("text", "") for e in turn.events if e.get("type") == "bot_text").strip():
        problems.append("no LLM text (bot_text) reached the caller")
    if turn.audio_bytes < MIN_REPLY_SECONDS * OUT_RATE * 2:
        problems.append(f"only {turn.audio_bytes} bytes of reply audio")
    metrics = turn.first("turn_metrics")
    if metrics is None:
        problems.append("no turn_metrics event")
    elif not all(isinstance(metrics.get(k), (int, float)) for k in ("stt_ms", "llm_ttft_ms", "tts_ttfb_ms", "mouth_to_ear_ms")):
        problems.append(f"turn_metrics without latencies: {metrics}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="ws://host:port/ws")
    parser.add_argument("--audio", required=True, help="s16le mono 16 kHz PCM file")
    parser.add_argument("--expect", action="append", default=[], help="a word the transcript must contain")
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()
    url = args.url
    token = os.environ.get("GATEWAY_AUTH_TOKEN")
    if token:
        url += ("&" if "?" in url else "?") + urlencode({"token": token})
    with open(args.audio, "rb") as f:
        pcm = f.read()
    try:
        turn = asyncio.run(one_turn(url, pcm, args.timeout))
    except Exception as exc:  # noqa: BLE001 - report any failure as a test failure
        print(f"FAIL: {type(exc).__name__}: {exc}")
        return 1
    problems = check(turn, [w.lower() for w in args.expect])
    summary = {
        "transcript": " ".join(e.get("text", "") for e in turn.events if e.get("type") == "transcript"),
        "reply": "".join(e.get("text", "") for e in turn.events if e.get("type") == "bot_text"),
        "reply_audio_seconds": round(turn.audio_bytes / 2 / OUT_RATE, 2),
        "turn_metrics": turn.first("turn_metrics"),
    }
    print(json.dumps(summary, indent=2))
    for problem in problems:
        print(f"FAIL: {problem}")
    print("PASS" if not problems else "FAILED")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
