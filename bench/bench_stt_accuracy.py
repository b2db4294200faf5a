"""STT accuracy: each Whisper model's word error rate over many voices, accents and speeds, and its
decode time, through the STT server's own streaming path (issue 9, lever 6).

Every sentence is spoken by several synthesizers: Kokoro (four voices, US and British, at 0.8x,
1.0x and 1.25x speed), espeak-ng (six voices and variants: US, British RP, Scottish, Caribbean,
female and male formant variants, at 150-210 words per minute) and Kokoro again with white noise at
10 dB SNR. Each utterance goes to every model's server in turn (all of them running at once, so
load hits them alike) over ``WS /v1/listen``, as the gateway sends it (20 ms frames, then
``flush``), and the clock runs from ``flush`` to the final transcript: the decode a caller waits
for. Frames are not paced (the decode is the same; the run takes minutes, not an hour).

WER is jiwer's over lowercase words without punctuation; references hold no numbers, so "ten"
and "10" never differ. Prints markdown; asserts nothing.

    .venv/bin/python bench/bench_stt_accuracy.py \\
        --model whisper-base=models/whisper-base --model whisper-tiny.en=models/whisper-tiny.en
"""

from __future__ import annotations

import argparse
import asyncio
import os
from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import jiwer
import numpy as np

from bench_stt import streamed  # this directory: run as a script, like the other benchmarks
from voice_agent.processes import ServiceProcess
from voice_common.protocol.constants import STT_SAMPLE_RATE
from voice_testkit.espeak import espeak_spoken
from voice_testkit.machine import machine_description, percentile
from voice_testkit.services import MODELS_DIR, start_service
from voice_testkit.speech import silence, spoken, word_list

# What callers ask a voice agent; no digits in them (Whisper writes numbers either way).
SENTENCES = (
    "Which planet is closest to the sun?",
    "What is the capital of Australia?",
    "How do I make a good cup of green tea?",
    "Tell me a short story about a brave little mouse.",
    "What is the weather usually like in Seattle during the winter?",
    "Please remind me to call my sister tomorrow morning.",
    "Why is the sky blue during the day?",
    "Who wrote the novel Pride and Prejudice?",
    "Could you recommend a good book about the ocean?",
    "How far away is the moon from the earth?",
    "What should I cook for dinner tonight?",
    "Explain how a rainbow forms after the rain.",
    "Is it safe to go swimming right after lunch?",
    "Turn off the lights in the living room.",
    "What does a software engineer do all day?",
    "Can you tell me a joke about penguins?",
)
KOKORO_VOICES = ("af_heart", "am_michael", "bf_emma", "bm_george")
KOKORO_SPEEDS = (0.8, 1.0, 1.25)
ESPEAK_VOICES = (
    ("en-us", 150),
    ("en-us+f3", 175),
    ("en-gb-x-rp", 175),
    ("en-gb-scotland", 175),
    ("en-029", 175),
    ("en-us+m3", 210),
)
NOISE_SNR_DB = 10.0


@dataclass(frozen=True)
class Voice(ABC):
    group: str  # a row of the per-group table

    @abstractmethod
    def speak(self, text: str) -> bytes:
        """``text`` as 16 kHz s16le mono PCM."""


@dataclass(frozen=True)
class KokoroVoice(Voice):
    voice: str = ""
    speed: float = 1.0
    snr_db: float | None = None

    def speak(self, text: str) -> bytes:
        pcm = spoken(text, STT_SAMPLE_RATE, self.voice, self.speed)
        if self.snr_db is None:
            return pcm
        speech = np.frombuffer(pcm, np.int16).astype(np.float32)
        power = float(np.mean(speech[np.abs(speech) > 100] ** 2))  # the speech's power, not its pauses'
        noise = np.random.default_rng(len(text)).normal(0.0, np.sqrt(power / 10 ** (self.snr_db / 10)), speech.size)
        return np.clip(speech + noise, -32768, 32767).astype(np.int16).tobytes()


@dataclass(frozen=True)
class EspeakVoice(Voice):
    voice: str = ""
    words_per_minute: int = 175

    def speak(self, text: str) -> bytes:
        return espeak_spoken(text, STT_SAMPLE_RATE, self.voice, self.words_per_minute)


def voices() -> list[Voice]:
    kokoro = [
        KokoroVoice(f"Kokoro, {speed:g}x speed", voice, speed)
        for speed in KOKORO_SPEEDS
        for voice in KOKORO_VOICES
    ]
    espeak = [EspeakVoice("espeak-ng", voice, wpm) for voice, wpm in ESPEAK_VOICES]
    noisy = [KokoroVoice(f"Kokoro + noise {NOISE_SNR_DB:g} dB SNR", voice, 1.0, NOISE_SNR_DB) for voice in KOKORO_VOICES]
    return kokoro + espeak + noisy


def normalized(text: str) -> str:
    return " ".join(word_list(text))


@dataclass
class Transcripts:
    """What one model heard: (voice, reference, hypothesis) and its decode times."""

    heard: list[tuple[Voice, str, str]] = field(default_factory=list)
    decode_s: list[float] = field(default_factory=list)

    def wer(self, group: str | None = None) -> float:
        pairs = [(ref, hyp) for voice, ref, hyp in self.heard if group is None or voice.group == group]
        return jiwer.wer([normalized(ref) for ref, _ in pairs], [normalized(hyp) or "<empty>" for _, hyp in pairs])

    def exact(self) -> int:
        return sum(normalized(ref) == normalized(hyp) for _, ref, hyp in self.heard)

    def substitutions(self, most: int) -> list[tuple[str, int]]:
        """The most frequent wrong words, as "reference -> heard"."""
        counts: Counter[str] = Counter()
        for _, ref, hyp in self.heard:
            output = jiwer.process_words(normalized(ref), normalized(hyp) or "<empty>")
            ref_words, hyp_words = output.references[0], output.hypotheses[0]
            for chunk in output.alignments[0]:
                if chunk.type == "substitute":
                    said = ref_words[chunk.ref_start_idx : chunk.ref_end_idx]
                    heard = hyp_words[chunk.hyp_start_idx : chunk.hyp_end_idx]
                    counts.update(f"{r} -> {h}" for r, h in zip(said, heard, strict=True))
                elif chunk.type == "delete":
                    counts.update(f"{r} -> (dropped)" for r in ref_words[chunk.ref_start_idx : chunk.ref_end_idx])
        return counts.most_common(most)


async def measure(bases: dict[str, str], utterances: list[tuple[Voice, str, bytes]]) -> dict[str, Transcripts]:
    results = {model: Transcripts() for model in bases}
    for base in bases.values():
        await streamed(base, utterances[0][2], real_time=False)  # untimed: first-use costs
    for voice, sentence, pcm in utterances:
        for model, base in bases.items():
            decode_s, text = await streamed(base, pcm, real_time=False)
            results[model].heard.append((voice, sentence, text))
            results[model].decode_s.append(decode_s)
    return results


def report(results: dict[str, Transcripts], utterances: int, load: tuple[float, float]) -> None:
    print(f"## STT accuracy: {utterances} utterances ({len(SENTENCES)} sentences x {len(voices())} voices) per model\n")
    print(f"Machine: {machine_description()}; load average {load[0]:.1f} before, {load[1]:.1f} after\n")
    print("| model | WER | sentences exactly right | decode p50 ms | decode p95 ms |")
    print("|---|---|---|---|---|")
    for model, transcripts in results.items():
        decode = transcripts.decode_s
        print(
            f"| {model} | {transcripts.wer():.3f} | {transcripts.exact()}/{len(transcripts.heard)} "
            f"| {percentile(decode, 50) * 1000:.0f} | {percentile(decode, 95) * 1000:.0f} |"
        )
    groups = list(dict.fromkeys(voice.group for voice in voices()))
    print("\nWER by kind of voice:\n")
    print("| voices | " + " | ".join(results) + " |")
    print("|---" * (len(results) + 1) + "|")
    for group in groups:
        print(f"| {group} | " + " | ".join(f"{t.wer(group):.3f}" for t in results.values()) + " |")
    print("\nMost frequent errors (reference -> heard):\n")
    for model, transcripts in results.items():
        errors = ", ".join(f"{pair} ({count})" for pair, count in transcripts.substitutions(8))
        print(f"- {model}: {errors or 'none'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", default=[], metavar="NAME=PATH", help="a model directory to serve")
    args = parser.parse_args()
    models = dict(item.split("=", 1) for item in args.model) or {
        path.name: str(path) for path in sorted(MODELS_DIR.glob("whisper-*")) if (path / "model.bin").exists()
    }
    pad = silence(0.2, STT_SAMPLE_RATE)  # the gateway's pre-roll and the stop's silence
    utterances = [(voice, sentence, pad + voice.speak(sentence) + pad) for voice in voices() for sentence in SENTENCES]
    load_before = os.getloadavg()[0]
    servers: dict[str, ServiceProcess] = {}
    try:
        for model, path in models.items():
            servers[model] = start_service("stt", "voice_stt", {"STT_MODEL_PATH": str(Path(path).resolve())}, 300)
        bases = {model: proc.spec.base_url.replace("http://", "ws://") for model, proc in servers.items()}
        results = asyncio.run(measure(bases, utterances))
    finally:
        for proc in servers.values():
            proc.stop()
    report(results, len(utterances), (load_before, os.getloadavg()[0]))


if __name__ == "__main__":
    main()
