"""The gateway's Silero VAD shares one ONNX session across calls and hears exactly what Pipecat's own does."""

import numpy as np
import pytest
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADParams

from voice_gateway.vad import SharedSileroVADAnalyzer

pytestmark = pytest.mark.slow  # real speech from Kokoro


def windows(analyzer, pcm: bytes) -> list[bytes]:
    analyzer.set_sample_rate(16000)
    size = analyzer.num_frames_required() * 2
    return [pcm[i : i + size] for i in range(0, len(pcm) - size, size)]


def confidence(analyzer, window: bytes) -> float:
    return float(np.ravel(analyzer.voice_confidence(window))[0])


def test_calls_share_one_session_and_each_keeps_its_own_state(speech):
    pcm = speech("Hello there, how are you today?")
    stock = SileroVADAnalyzer(params=VADParams())
    reference = [confidence(stock, w) for w in windows(stock, pcm)]
    assert max(reference) > 0.9 and min(reference) < 0.1, "speech and pauses are told apart"

    caller, other_caller = SharedSileroVADAnalyzer(params=VADParams()), SharedSileroVADAnalyzer(params=VADParams())
    assert caller._model.session is other_caller._model.session
    heard = []
    for window, other in zip(windows(caller, pcm), windows(other_caller, pcm[::-1]), strict=True):
        heard.append(confidence(caller, window))
        confidence(other_caller, other)  # another call's audio in between must not touch this call's state
    assert np.allclose(heard, reference, atol=1e-5)
