"""Real speech for the servers to hear: sentences spoken by Kokoro, and the words a transcript of
each must contain."""

from __future__ import annotations

import re
from functools import lru_cache

from voice_common.protocol.constants import CALLER_SAMPLE_RATE
from voice_testkit.services import MODELS_DIR

CAPITAL = "What is the capital of France?"
CAPITAL_WORDS = {"capital", "france"}
FOX = "The quick brown fox jumps over the lazy dog."
FOX_WORDS = {"quick", "brown", "fox", "lazy", "dog"}
LIGHTS = "Please turn on the kitchen lights."
LIGHTS_WORDS = {"please", "turn", "kitchen"}  # "lights" may come out "light" at 8 kHz


@lru_cache(maxsize=32)
def _kokoro():
    from kokoro_onnx import Kokoro

    return Kokoro(str(MODELS_DIR / "kokoro" / "kokoro-v1.0.int8.onnx"), str(MODELS_DIR / "kokoro" / "voices-v1.0.bin"))


@lru_cache(maxsize=64)
def spoken(text: str, sample_rate: int = CALLER_SAMPLE_RATE, voice: str = "am_michael", speed: float = 1.0) -> bytes:
    """``text`` spoken by Kokoro (a different voice from the bot's), as s16le mono PCM at ``sample_rate``."""
    from voice_common.audio import float32_to_pcm16, resample

    samples, rate = _kokoro().create(text, voice=voice, speed=speed, lang="en-us")
    return float32_to_pcm16(resample(samples, rate, sample_rate))


def word_list(text: str) -> list[str]:
    """Lowercase words in order, without punctuation, so "France?" matches "france"."""
    return re.findall(r"[a-z0-9']+", text.lower())


def words(text: str) -> set[str]:
    """The set of ``word_list(text)``."""
    return set(word_list(text))


def silence(seconds: float, sample_rate: int = CALLER_SAMPLE_RATE) -> bytes:
    return bytes(int(seconds * sample_rate) * 2)


def long_speech(seconds: float) -> bytes:
    """About ``seconds`` of 16 kHz speech that starts with FOX and ends with CAPITAL (LIGHTS in
    between), so both ends of a long transcript can be checked."""
    head, tail, pause = spoken(FOX), spoken(CAPITAL), silence(0.5)
    middle = spoken(LIGHTS) + pause
    repeats = max(0, int(seconds * CALLER_SAMPLE_RATE) * 2 - len(head) - len(tail)) // len(middle)
    return head + pause + middle * repeats + tail
