"""Silero VAD with one ONNX Runtime session per process instead of one per caller.

Pipecat's ``SileroVADAnalyzer`` opens its own ``InferenceSession`` for every call: ~35 ms of CPU
and ~9 MB of memory per caller on this project's 2-core machine, paid again by every caller who
connects and hangs up at once. The session holds no per-call state (Silero's recurrent state
and audio context live in ``SileroOnnxModel`` and are passed to each run), and ONNX Runtime's
``run`` is thread-safe, so every call's model can share one session; the state stays per call.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

import onnxruntime
from pipecat.audio.vad.silero import SileroOnnxModel, SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADAnalyzer, VADParams, VADState


@cache
def _shared_session() -> onnxruntime.InferenceSession:
    """The process's one Silero session, opened with Pipecat's own options (1 thread, CPU)."""
    return SileroOnnxModel(str(files("pipecat.audio.vad.data") / "silero_vad.onnx"), force_onnx_cpu=True).session


class _CallSileroModel(SileroOnnxModel):
    """One call's Silero state on the shared session."""

    def __init__(self) -> None:  # deliberately not SileroOnnxModel's, which loads a model of its own
        self.session = _shared_session()
        self.reset_states()
        self.sample_rates = [8000, 16000]


class SharedSileroVADAnalyzer(SileroVADAnalyzer):
    """Pipecat's Silero VAD analyzer, minus the per-call model load (pipecat-ai is pinned to 1.14.0)."""

    def __init__(self, *, params: VADParams) -> None:  # VADAnalyzer's, not SileroVADAnalyzer's (its model load)
        VADAnalyzer.__init__(self, sample_rate=None, params=params)
        self._model = _CallSileroModel()
        self._windows_since_reset = 0
        self._low_confidence_windows = 0

    @property
    def hears_voice(self) -> bool:
        """Voice in the last frames, even before ``start_secs`` of it has made a VAD start: the
        turn-end logic must not close a turn on a caller who has just started speaking again."""
        return self._vad_state in (VADState.STARTING, VADState.SPEAKING)
