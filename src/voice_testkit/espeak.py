"""Speech from espeak-ng, a synthesizer unlike Kokoro, for STT accuracy measured on more than one
kind of voice (issue 9: "espeak-ng variants and our own Kokoro voices").

The library is the one kokoro-onnx already installs (``espeakng_loader``'s ``libespeak-ng.so`` and
its data), driven through its C API with ctypes: no binary to install. phonemizer loads its own
copy of the library for Kokoro's phonemes, so this instance does not disturb it.
"""

from __future__ import annotations

import ctypes
from functools import lru_cache

import numpy as np

AUDIO_OUTPUT_SYNCHRONOUS = 2
ESPEAK_RATE = 1  # espeak_PARAMETER: words per minute
POS_CHARACTER = 1
ESPEAK_CHARS_UTF8 = 1
SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class _Espeak:
    """One initialized library; ``speak`` is not thread-safe (espeak-ng's API is global)."""

    def __init__(self) -> None:
        import espeakng_loader

        self.lib = ctypes.CDLL(espeakng_loader.get_library_path())
        data = espeakng_loader.get_data_path().encode()
        self.sample_rate = self.lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, ctypes.c_char_p(data), 0)
        if self.sample_rate <= 0:
            raise RuntimeError(f"espeak_Initialize failed ({self.sample_rate})")
        self._chunks: list[np.ndarray] = []
        self._callback = SYNTH_CALLBACK(self._collect)  # kept referenced: the library calls it later
        self.lib.espeak_SetSynthCallback(self._callback)

    def _collect(self, wav: ctypes.POINTER(ctypes.c_short), count: int, _events: int) -> int:
        if wav and count > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        return 0  # 0: go on synthesizing

    def speak(self, text: str, voice: str, words_per_minute: int) -> np.ndarray:
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ValueError(f"espeak-ng has no voice {voice!r}")
        self.lib.espeak_SetParameter(ESPEAK_RATE, words_per_minute, 0)
        self._chunks = []
        encoded = text.encode()
        status = self.lib.espeak_Synth(
            ctypes.c_char_p(encoded), len(encoded) + 1, 0, POS_CHARACTER, 0, ESPEAK_CHARS_UTF8, None, None
        )
        if status != 0:
            raise RuntimeError(f"espeak_Synth failed ({status})")
        return np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)


@lru_cache(maxsize=1)
def _espeak() -> _Espeak:
    return _Espeak()


def espeak_spoken(text: str, sample_rate: int, voice: str = "en-us", words_per_minute: int = 175) -> bytes:
    """``text`` spoken by espeak-ng (``voice`` such as "en-us", "en-gb-x-rp" or "en-us+f3" for a
    variant), as s16le mono PCM at ``sample_rate``."""
    from voice_common.audio import float32_to_pcm16, pcm16_to_float32, resample

    engine = _espeak()
    samples = pcm16_to_float32(engine.speak(text, voice, words_per_minute).tobytes())
    return float32_to_pcm16(resample(samples, engine.sample_rate, sample_rate))
