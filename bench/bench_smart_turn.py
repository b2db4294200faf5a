"""Smart-turn v3 (the ONNX model in the pipecat wheel) as an end-of-turn judge, on this CPU.

Pipecat's ``LocalSmartTurnAnalyzerV3`` listens to the last seconds of the caller's speech when the
VAD stops and says whether the turn is complete. If it were right, the turn could end at the VAD
stop (0.15 s of silence) when complete, and wait much longer when not, so a caller who pauses
mid-sentence is not cut off. This prints, for complete questions and for fragments that stop
mid-sentence, spoken by several Kokoro voices: how often it calls them complete, and its inference
time. Not a test: it asserts nothing.

    .venv/bin/python bench/bench_smart_turn.py
"""

from __future__ import annotations

import time

import numpy as np

from voice_common.audio import pcm16_to_float32
from voice_testkit.machine import machine_description, percentile
from voice_testkit.speech import spoken

COMPLETE = [
    "What is the capital of France?",
    "How far away is the moon?",
    "Tell me a story about dragons.",
    "Can you recommend a good book?",
    "I need a table for two tonight.",
    "Thanks, that is all.",
]
FRAGMENTS = [
    "I would like to order a",
    "Can you tell me about the",
    "My name is",
    "What is the capital of",
    "I was wondering if you could",
    "The thing is, um,",
]
VOICES = ["am_michael", "af_bella", "bf_emma", "am_adam"]
TRAILING_SILENCE_S = 0.15  # what the VAD has heard when it reports the stop


def main() -> None:
    from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3

    analyzer = LocalSmartTurnAnalyzerV3()
    silence = np.zeros(int(16000 * TRAILING_SILENCE_S), dtype=np.float32)
    results: dict[str, list[bool]] = {"complete": [], "fragment": []}
    times: list[float] = []
    for kind, texts in (("complete", COMPLETE), ("fragment", FRAGMENTS)):
        for voice in VOICES:
            for text in texts:
                audio = np.concatenate([pcm16_to_float32(spoken(text, voice=voice)), silence])
                started = time.perf_counter()
                verdict = analyzer._predict_endpoint(audio)  # what the analyzer runs at each VAD stop
                times.append((time.perf_counter() - started) * 1000)
                results[kind].append(verdict["prediction"] == 1)

    print(f"## Smart-turn v3.2 (CPU ONNX) on Kokoro voices {', '.join(VOICES)}\n")
    print(f"Machine: {machine_description()}\n")
    print("| utterances | n | judged complete |")
    print("|---|---|---|")
    for kind, verdicts in results.items():
        print(f"| {kind} | {len(verdicts)} | {sum(verdicts)} ({100 * sum(verdicts) / len(verdicts):.0f}%) |")
    print(f"\nInference per VAD stop: p50 {percentile(times, 50):.0f} ms, p95 {percentile(times, 95):.0f} ms "
          "(one thread, the analyzer's default).")
    print("A fragment judged complete is a caller cut off mid-sentence; a complete question judged "
          "incomplete waits the analyzer's long timeout.")


if __name__ == "__main__":
    main()
