"""One unmeasured turn before any load: a freshly started stack's first synthesis and decode are
slow (lazy model initialisation, cold caches), which is not the load a test is about."""

from __future__ import annotations

import asyncio
from pathlib import Path

from voice_agent.client import caller_pcm, converse


def warm_up(url: str, wav: Path, timeout_s: float) -> float | None:
    """Speak ``wav`` once as ``voice-agent talk`` does; the client mouth-to-ear, ``None`` if no reply."""
    turns = asyncio.run(converse(url, [caller_pcm(wav)], timeout_s)).turns
    return turns[0].client_mouth_to_ear_ms if turns else None
