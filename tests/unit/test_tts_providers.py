"""What ONNX Runtime sessions the TTS engine asks for: on a GPU, cuDNN's convolution search must
not benchmark every new shape (each new length of text is one), unless the deployment asks for it;
on a CPU, a model call that starts while another runs gets its share of the threads."""

from __future__ import annotations

import os

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


@pytest.mark.parametrize(
    ("threads", "concurrent", "expected"),
    [
        (2, 2, (2, 1)),  # the local stack on a 2-core laptop: a call beside another gets one core
        (4, 2, (4, 2)),
        (8, 3, (8, 2)),
        (2, 4, (2, 1)),  # never below one thread
        (2, 1, (2, 2)),  # one call at a time: nothing runs beside it
        (1, 2, (1, 1)),
    ],
)
def test_a_call_that_starts_beside_another_gets_its_share_of_the_threads(threads, concurrent, expected):
    settings = TTSSettings(intra_op_threads=threads, max_concurrent_syntheses=concurrent)
    assert tts_engine.call_threads(settings) == expected


def test_unset_threads_mean_every_cpu_this_process_may_use():
    cpus = len(os.sched_getaffinity(0))
    assert tts_engine.call_threads(TTSSettings(max_concurrent_syntheses=2)) == (cpus, max(1, cpus // 2))


def test_a_deployment_short_of_memory_can_keep_one_session():
    settings = TTSSettings(intra_op_threads=2, max_concurrent_syntheses=2, split_threads=False)
    assert tts_engine.call_threads(settings) == (2, 2)


def test_on_a_gpu_threads_are_not_split():
    assert tts_engine.call_threads(TTSSettings(device="cuda", intra_op_threads=0, max_concurrent_syntheses=2)) == (0, 0)


def test_the_engine_loads_a_session_for_each_thread_count(monkeypatch):
    asked: list[int] = []

    def inference_session(path, sess_options=None, providers=None):
        asked.append(sess_options.intra_op_num_threads)
        if len(asked) == 2:
            raise SessionAsked
        return object()

    monkeypatch.setattr(tts_engine.ort, "InferenceSession", inference_session)
    with pytest.raises(SessionAsked):
        tts_engine.KokoroEngine(TTSSettings(intra_op_threads=2, max_concurrent_syntheses=2))._load()
    assert asked == [2, 1]
