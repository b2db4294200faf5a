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


def read_wav(source: Path | bytes) -> tuple[bytes, int]:
    """Read a 16-bit WAV (file path or bytes) as mono s16le PCM and its sample rate.

    Stereo input is averaged to mono; other sample widths are refused with a clear error.
    """
    handle = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else open(source, "rb")
    with handle, wave.open(handle, "rb") as wav:
        if wav.getsampwidth() != PCM_SAMPLE_WIDTH:
            raise ValueError(f"only 16-bit PCM WAV is supported, got {8 * wav.getsampwidth()}-bit")
        channels = wav.getnchannels()
        rate = wav.getframerate()
        frames = wav.readframes(wav.getnframes())
    if channels == 1:
        return frames, rate
    stereo = np.frombuffer(frames, dtype="<i2").reshape(-1, channels).astype(np.int32)
    return stereo.mean(axis=1).astype("<i2").tobytes(), rate


def write_wav(path: Path, pcm: bytes, sample_rate: int) -> None:
    Path(path).write_bytes(wav_bytes(pcm, sample_rate))


def trailing_silence_seconds(pcm: bytes, sample_rate: int, threshold_dbfs: float = -45.0, window_ms: int = 20) -> float:
    """How long the PCM ends in silence: the client's clock for "end of speech" starts before it."""
    samples = pcm16_to_float32(pcm)
    window = max(1, sample_rate * window_ms // 1000)
    end = samples.size
    while end > 0 and rms_dbfs(samples[max(0, end - window) : end]) < threshold_dbfs:
        end -= window
    return (samples.size - max(end, 0)) / sample_rate
