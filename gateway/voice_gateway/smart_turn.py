"""Smart-turn v3 (the ONNX model in the pipecat wheel) with one session per process, not per caller.

Pipecat's ``LocalSmartTurnAnalyzerV3`` opens an ``InferenceSession`` in its constructor: ~130 ms of
CPU per call on this project's 2-core machine, like Silero's did (see ``vad.py``). The session
holds no per-call state (the call's audio buffer lives in the analyzer) and ONNX Runtime's ``run``
is thread-safe, so every call's analyzer shares one session.
"""

from __future__ import annotations

from functools import cache

import onnxruntime as ort
from pipecat.audio.turn.smart_turn.base_smart_turn import BaseSmartTurn
from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3


@cache
def _shared_session() -> ort.InferenceSession:
    """The process's one smart-turn session, loaded once by Pipecat's own analyzer (its bundled
    model and session options)."""
    return LocalSmartTurnAnalyzerV3()._session


class SharedSmartTurnAnalyzer(LocalSmartTurnAnalyzerV3):
    """Pipecat's smart-turn v3 analyzer, minus the per-call model load (pipecat-ai is pinned to 1.14.0)."""

    def __init__(self) -> None:  # BaseSmartTurn's, not LocalSmartTurnAnalyzerV3's (its model load)
        BaseSmartTurn.__init__(self)
        self._log_data = False
        self._session = _shared_session()
