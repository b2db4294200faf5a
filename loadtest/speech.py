"""The caller's utterance as the load generators stream it.

``voice_agent.client`` starts a turn's mouth-to-ear clock where the speech ends, not where the
recording's trailing silence ends. The load generators stream the utterance with that silence cut
off (and keep the line open with digital silence afterwards), so "last speech frame sent" is the
same instant for k6, which cannot measure silence itself, as for the Python callers.

    python -m loadtest.speech samples/capital-of-france.wav .cache/speech.pcm   # input for k6 run
"""

from __future__ import annotations

import argparse
from pathlib import Path

from voice_agent.client import caller_pcm
from voice_common.audio import PCM_SAMPLE_WIDTH, trailing_silence_seconds
from voice_common.protocol.constants import CALLER_SAMPLE_RATE


def speech_pcm(wav: Path) -> bytes:
    """16 kHz mono s16le PCM of ``wav`` up to the end of its speech."""
    pcm = caller_pcm(wav)
    silent_samples = round(trailing_silence_seconds(pcm, CALLER_SAMPLE_RATE) * CALLER_SAMPLE_RATE)
    return pcm[: len(pcm) - silent_samples * PCM_SAMPLE_WIDTH]


def write_speech_pcm(wav: Path, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(speech_pcm(wav))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("wav", type=Path, help="a 16-bit WAV with one spoken utterance")
    parser.add_argument("out", type=Path, help="where to write the raw PCM for the k6 script")
    args = parser.parse_args()
    print(write_speech_pcm(args.wav, args.out))


if __name__ == "__main__":
    main()
