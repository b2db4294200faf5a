"""Which ONNX Runtime providers the TTS engine asks for: on a GPU, cuDNN's convolution search must
not benchmark every new shape (each new length of text is one), unless the deployment asks for it."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from voice_tts import engine as tts_engine
from voice_tts.settings import TTSSettings


class SessionAsked(Exception):
    """Stops the load once the session's arguments are known: no GPU is needed to check them."""


@pytest.fixture
def asked_providers(monkeypatch) -> list:
    asked: list = []

    def inference_session(path, sess_options=None, providers=None):
        asked.append(providers)
        raise SessionAsked

    monkeypatch.setattr(tts_engine.ort, "InferenceSession", inference_session)
    monkeypatch.setattr(tts_engine.ort, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    # Which model file the session gets (on cuda, a float rewrite) is tests/tts/test_tts_float_model.py's.
    monkeypatch.setattr(tts_engine.KokoroEngine, "_session_model", lambda engine: engine.settings.model_path)
    return asked


def load(settings: TTSSettings) -> None:
    with pytest.raises(SessionAsked):
        tts_engine.KokoroEngine(settings)._load()


def test_on_a_gpu_the_convolution_search_is_cudnns_heuristic_by_default(asked_providers):
    load(TTSSettings(device="cuda"))
    assert asked_providers == [[("CUDAExecutionProvider", {"cudnn_conv_algo_search": "HEURISTIC"}), "CPUExecutionProvider"]]


def test_a_deployment_can_choose_onnx_runtimes_exhaustive_search(asked_providers, monkeypatch):
    monkeypatch.setenv("TTS_CUDA_CONV_ALGO_SEARCH", "EXHAUSTIVE")
    load(TTSSettings(device="cuda"))
    assert asked_providers[0][0] == ("CUDAExecutionProvider", {"cudnn_conv_algo_search": "EXHAUSTIVE"})


def test_on_a_cpu_only_the_cpu_provider_is_asked_for(asked_providers):
    load(TTSSettings(device="cpu"))
    assert asked_providers == [["CPUExecutionProvider"]]


def test_an_unknown_search_mode_is_refused_at_start(monkeypatch):
    monkeypatch.setenv("TTS_CUDA_CONV_ALGO_SEARCH", "FASTEST")
    with pytest.raises(ValidationError, match="cuda_conv_algo_search"):
        TTSSettings()


def test_cuda_without_onnx_runtimes_cuda_provider_fails_at_start_instead_of_running_on_the_cpu():
    # This venv has the CPU build of ONNX Runtime, as a CPU image would: a GPU pod given it must not start.
    with pytest.raises(RuntimeError, match="no CUDA provider"):
        tts_engine.KokoroEngine(TTSSettings(device="cuda"))._load()
