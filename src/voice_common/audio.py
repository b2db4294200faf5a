"""PCM helpers shared by the servers, the gateway, the CLI and the tests.

The wire format everywhere in the stack is signed 16-bit little-endian mono PCM; models
want float32. These helpers are the one place that converts, resamples and frames it.
"""

from __future__ import annotations

import io
import wave
from pathlib import Path

import numpy as np
import soxr

PCM_SAMPLE_WIDTH = 2  # bytes per s16le sample


def pcm_seconds(byte_count: int, sample_rate: int) -> float:
    """How long ``byte_count`` bytes of s16le mono audio play at ``sample_rate``."""
    return byte_count / PCM_SAMPLE_WIDTH / sample_rate


def pcm16_to_float32(pcm: bytes) -> np.ndarray:
    """s16le bytes -> float32 samples in [-1, 1)."""
    return np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0


def float32_to_pcm16(samples: np.ndarray) -> bytes:
    """float32 samples -> s16le bytes, clipped so loud peaks do not wrap around."""
    clipped = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 32767.0 / 32768.0)
    return (clipped * 32768.0).astype("<i2").tobytes()


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """High-quality resampling (soxr); identity when the rates match."""
    if from_rate == to_rate or samples.size == 0:
        return np.asarray(samples, dtype=np.float32)
    return soxr.resample(samples, from_rate, to_rate).astype(np.float32)


def rms_dbfs(samples: np.ndarray) -> float:
    """Loudness of a float32 signal in dBFS (-inf for digital silence)."""
    if samples.size == 0:
        return float("-inf")
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    return 20.0 * np.log10(rms) if rms > 0 else float("-inf")


def wav_bytes(pcm: bytes, sample_rate: int, channels: int = 1) -> bytes:
    """Wrap s16le PCM in a WAV container."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(PCM_SAMPLE_WIDTH)
        wav.setframerate(sample_rate)
        wav.writeframes(pcm)
    return buffer.getvalue()


MAX_WAV_CHANNELS = 8  # mono up to 7.1 surround; a header declaring more is broken, not audio anyone records
MIN_WAV_RATE, MAX_WAV_RATE = 1000, 384_000  # Hz; outside, the header is nonsense (servers apply their own range)


def read_wav(source: Path | bytes) -> tuple[bytes, int]:
    """Read a 16-bit WAV (file path or bytes) as mono s16le PCM and its sample rate.

    Multichannel input is averaged to mono. Anything else raises ``ValueError`` naming the
    problem: the ``wave`` module accepts nonsense headers (65535 channels, a 0 Hz rate, a data
    chunk longer than the file) and would hand back empty or garbled audio, which a server
    then answers with an empty transcript instead of an error.
    """
    with (io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else open(source, "rb")) as handle:
        try:
            with wave.open(handle, "rb") as wav:
                channels, rate, frames = wav.getnchannels(), wav.getframerate(), wav.getnframes()
                if wav.getsampwidth() != PCM_SAMPLE_WIDTH:
                    raise ValueError(f"only 16-bit PCM WAV is supported, got {8 * wav.getsampwidth()}-bit")
                if channels > MAX_WAV_CHANNELS:
                    raise ValueError(f"the header declares {channels} channels; at most {MAX_WAV_CHANNELS} are supported")
                if not MIN_WAV_RATE <= rate <= MAX_WAV_RATE:
                    raise ValueError(f"the header declares a sample rate of {rate} Hz, outside {MIN_WAV_RATE}-{MAX_WAV_RATE}")
                pcm = wav.readframes(frames)
                # A streaming writer that never completed its header leaves a 0-byte data chunk before the audio.
                unfinished = not frames and handle.read(1)
        except (wave.Error, EOFError) as exc:  # wave's own refusals (0 channels, not PCM) and truncated headers
            raise ValueError(str(exc) or "the file ends inside its header") from None
    declared = frames * channels * PCM_SAMPLE_WIDTH
    if len(pcm) != declared:
        raise ValueError(f"the data chunk declares {declared} bytes but the file holds only {len(pcm)}")
    if unfinished:
        raise ValueError("the data chunk declares 0 bytes but the file goes on after it (an unfinished header)")
    if channels == 1:
        return pcm, rate
    samples = np.frombuffer(pcm, dtype="<i2").reshape(-1, channels).astype(np.int32)
    return samples.mean(axis=1).astype("<i2").tobytes(), rate


def write_wav(path: Path, pcm: bytes, sample_rate: int) -> None:
    Path(path).write_bytes(wav_bytes(pcm, sample_rate))


def trailing_silence_seconds(pcm: bytes, sample_rate: int, threshold_dbfs: float = -45.0, window_ms: int = 20) -> float:
    """How long the PCM ends in silence: the client's clock for "end of speech" starts before it."""
    return _silent_run_seconds(pcm16_to_float32(pcm)[::-1], sample_rate, threshold_dbfs, window_ms)


def leading_silence_seconds(pcm: bytes, sample_rate: int, threshold_dbfs: float = -45.0, window_ms: int = 20) -> float:
    """How long the PCM starts in silence: a barge-in's clock starts at its speech, not at its first frame."""
    return _silent_run_seconds(pcm16_to_float32(pcm), sample_rate, threshold_dbfs, window_ms)


def _silent_run_seconds(samples: np.ndarray, sample_rate: int, threshold_dbfs: float, window_ms: int) -> float:
    """Length of the silence at the start of ``samples``, in whole windows."""
    window = max(1, sample_rate * window_ms // 1000)
    start = 0
    while start < samples.size and rms_dbfs(samples[start : start + window]) < threshold_dbfs:
        start += window
    return min(start, samples.size) / sample_rate
