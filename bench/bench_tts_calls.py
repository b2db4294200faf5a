"""What one Kokoro model call costs on top of its audio, and what splitting a reply into calls costs.

Splitting is how the first audio comes early (the TTS server synthesizes a reply's first clause
alone; the gateway sends the LLM's first words as a short phrase), but issue 9 asks for total
synthesis no slower than one whole-text call. This measures, in-process on the loaded model (no
server, no network), with the TTS server's own settings:

1. Per call: phonemes, audio the model generated, audio kept after kokoro-onnx trims the silence
   around it, wall time (p50), and two line fits: wall against kept audio and against generated
   audio. Every call generates about 0.6 s of silence that is thrown away, whatever its length:
   that is the fixed cost of a call.
2. Per reply: the wall time of its audio made as one call, as the TTS server's chunks of the whole
   reply (``POST /v1/audio/speech``), and as the gateway's growing phrases (each one a request on
   the TTS WebSocket), with the ratios to one call. Prints markdown; asserts nothing.

    .venv/bin/python bench/bench_tts_calls.py --runs 5
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import numpy as np

from voice_common.protocol.constants import TTS_SAMPLE_RATE
from voice_gateway.phrasing import GrowingPhraseTextAggregator
from voice_gateway.settings import GatewaySettings
from voice_testkit.machine import machine_description
from voice_tts.chunking import chunk_text
from voice_tts.engine import KokoroEngine
from voice_tts.settings import TTSSettings

PHRASES = [
    "Sure.",
    "Yes, of course.",
    "The capital of France is Paris.",
    "The moon is about three hundred and eighty thousand kilometres from Earth.",
    ("The moon is about three hundred and eighty thousand kilometres from Earth, and its light takes "
     "a little over a second to reach us here."),
]
REPLIES = {
    "one sentence": "The capital of France is Paris, a city known for its art, its food and its long history.",
    "two sentences": "Sure. The moon is about three hundred and eighty thousand kilometres from Earth, "
                     "and its light takes a little over a second to reach us.",
    "three sentences": "Paris is the capital of France. It is known for the Eiffel Tower and the Louvre. "
                       "Millions of people visit it every year.",
}


def gateway_phrases(text: str) -> list[str]:
    """The pieces the gateway sends to the TTS for ``text`` arriving from the LLM word by word."""
    aggregator = GrowingPhraseTextAggregator(max_words=GatewaySettings().tts_first_phrase_max_words)

    async def split() -> list[str]:
        pieces = []
        for word in text.split(" "):
            async for aggregation in aggregator.aggregate(word + " "):
                pieces.append(aggregation.text)
        last = await aggregator.flush()
        if last and last.text.strip():
            pieces.append(last.text.strip())
        return pieces

    return asyncio.run(split())


class Calls:
    """Timed model calls on the TTS server's engine (its settings: threads, spinning, phoneme cap)."""

    def __init__(self, settings: TTSSettings) -> None:
        self.settings = settings
        self.engine = KokoroEngine(settings)
        self.engine._load()  # the model alone, without the server around it
        self.kokoro = self.engine._kokoro
        self.batches("Hello there.")  # espeak-ng's first call
        self.synthesize(self.batches("Hello there."))  # ONNX Runtime's first run

    def batches(self, text: str) -> list[tuple[str, float]]:
        """The model calls the server makes for ``text`` (one chunk's phonemes, capped per call)."""
        return self.engine._phoneme_batches(text)

    def synthesize(self, batches: list[tuple[str, float]], trim: bool = True) -> tuple[float, float]:
        """(wall seconds, audio seconds) of ``batches`` made one after the other."""
        started, samples = time.perf_counter(), 0
        for phonemes, _pause in batches:
            audio, _ = self.kokoro.create(phonemes, voice=self.settings.default_voice, speed=1.0, is_phonemes=True, trim=trim)
            samples += audio.size
        return time.perf_counter() - started, samples / TTS_SAMPLE_RATE

    def median(self, batches: list[tuple[str, float]], runs: int, trim: bool = True) -> tuple[float, float]:
        timed = [self.synthesize(batches, trim) for _ in range(runs)]
        return statistics.median(wall for wall, _ in timed), timed[0][1]


def per_call(calls: Calls, runs: int) -> None:
    print("| phrase | phonemes | generated s | kept s | trimmed s | wall p50 ms | RTF (kept) |")
    print("|---|---|---|---|---|---|---|")
    kept, generated, walls = [], [], []
    for text in PHRASES:
        batches = calls.batches(text)
        wall, audio = calls.median(batches, runs)
        _, untrimmed = calls.synthesize(batches, trim=False)
        kept.append(audio), generated.append(untrimmed), walls.append(wall)
        phonemes = sum(len(p) for p, _ in batches)
        print(f"| {text[:40]} | {phonemes} | {untrimmed:.2f} | {audio:.2f} | {untrimmed - audio:.2f} | "
              f"{wall * 1000:.0f} | {wall / audio:.3f} |")
    slope, intercept = np.polyfit(kept, walls, 1)
    slope_g, intercept_g = np.polyfit(generated, walls, 1)
    print(f"\nwall = {intercept * 1000:.0f} ms + {slope:.3f} x kept audio s;  "
          f"wall = {intercept_g * 1000:.0f} ms + {slope_g:.3f} x generated audio s\n")


def per_reply(calls: Calls, runs: int) -> None:
    settings = calls.settings
    print("| reply | as | calls | wall p50 ms | / one call |")
    print("|---|---|---|---|---|")
    for name, text in REPLIES.items():
        ways = {
            "one call": calls.batches(text),
            "TTS server's chunks": [b for chunk in chunk_text(text, settings.first_chunk_max_chars,
                                                              settings.later_chunk_max_chars) for b in calls.batches(chunk)],
            "gateway's phrases": [b for phrase in gateway_phrases(text) for b in calls.batches(phrase)],
        }
        whole = None
        for way, batches in ways.items():
            wall, _ = calls.median(batches, runs)
            whole = whole or wall
            print(f"| {name} | {way} | {len(batches)} | {wall * 1000:.0f} | {wall / whole:.2f}x |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    settings = TTSSettings()
    print(f"Machine: {machine_description()}; "
          f"{settings.model_path}, threads {settings.intra_op_threads or 'default'}, runs {args.runs}\n")
    calls = Calls(settings)
    per_call(calls, args.runs)
    per_reply(calls, args.runs)


if __name__ == "__main__":
    main()
