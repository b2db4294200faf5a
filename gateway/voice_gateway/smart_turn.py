"""Smart-turn v3 (the ONNX model in the pipecat wheel) with one session per process, not per caller.

Pipecat's ``LocalSmartTurnAnalyzerV3`` opens an ``InferenceSession`` in its constructor: ~130 ms of
CPU per call on this project's 2-core machine, like Silero's did (see ``vad.py``). The session
holds no per-call state (the call's audio buffer lives in the analyzer) and ONNX Runtime's ``run``
is thread-safe, so every call's analyzer shares one session.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

import onnxruntime as ort
from pipecat.audio.turn.smart_turn.base_smart_turn import BaseSmartTurn
from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3

MODEL = files("pipecat.audio.turn.smart_turn.data") / "smart-turn-v3.2-cpu.onnx"


@cache
def _shared_session() -> ort.InferenceSession:
    """The process's one smart-turn session, with Pipecat's own options (one thread, sequential)."""
    options = ort.SessionOptions()
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.inter_op_num_threads = 1
    options.intra_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(MODEL), sess_options=options, providers=["CPUExecutionProvider"])


class SharedSmartTurnAnalyzer(LocalSmartTurnAnalyzerV3):
    """Pipecat's smart-turn v3 analyzer, minus the per-call model load (pipecat-ai is pinned to 1.14.0)."""

    def __init__(self) -> None:  # BaseSmartTurn's, not LocalSmartTurnAnalyzerV3's (its model load)
        BaseSmartTurn.__init__(self)
        self._log_data = False
        self._session = _shared_session()
