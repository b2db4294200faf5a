"""Make the spoken question the chart's `helm test` sends: charts/voice-agent/files/utterance.pcm.

Kokoro (the am_michael voice, not the bot's) says ``TEXT`` once; the result is committed, so neither
`helm test` nor the image tests need a speech model on the client side. s16le mono 16 kHz, the
gateway's wire format.

    python scripts/chart_test_audio.py [--models models]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from voice_common.audio import float32_to_pcm16, resample
from voice_common.protocol.constants import CALLER_SAMPLE_RATE

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "charts" / "voice-agent" / "files" / "utterance.pcm"
TEXT = "What is the capital of France?"
SAMPLE_RATE = CALLER_SAMPLE_RATE  # the helm test streams this to the gateway


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, default=REPO / "models")
    args = parser.parse_args(argv)
    from kokoro_onnx import Kokoro

    kokoro = Kokoro(str(args.models / "kokoro" / "kokoro-v1.0.int8.onnx"), str(args.models / "kokoro" / "voices-v1.0.bin"))
    samples, rate = kokoro.create(TEXT, voice="am_michael", speed=1.0, lang="en-us")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_bytes(float32_to_pcm16(resample(samples, rate, SAMPLE_RATE)))
    print(f"{OUT}: {OUT.stat().st_size / 2 / SAMPLE_RATE:.2f} s of {TEXT!r}")


if __name__ == "__main__":
    main()
