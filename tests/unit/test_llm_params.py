"""LLM_* settings -> llama.cpp's server parameters (no model loaded: CommonParams is plain data)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from voice_llm.params import server_params
from voice_llm.settings import LLMSettings


def test_each_slot_gets_the_context_it_was_given():
    params = server_params(LLMSettings(model_path="/m/model.gguf", parallel=3, context_per_slot=1024))
    assert (params.n_parallel, params.n_ctx) == (3, 3072)  # llama.cpp splits n_ctx evenly between slots
    assert params.model.path == "/m/model.gguf"


def test_it_answers_to_its_alias_on_the_configured_address_with_metrics():
    params = server_params(LLMSettings(model_path="m.gguf", model_alias="voice-llm", host="127.0.0.1", port=9001))
    assert set(params.model_alias) == {"voice-llm"}
    assert (list(params.hostnames), params.port) == (["127.0.0.1"], 9001)
    assert params.endpoint_metrics


def test_threads_are_llama_cpps_default_unless_given():
    default = server_params(LLMSettings(model_path="m.gguf"))
    given = server_params(LLMSettings(model_path="m.gguf", threads=1, batch_threads=2))
    assert (default.cpuparams.n_threads, default.cpuparams_batch.n_threads) == (-1, -1)
    assert (given.cpuparams.n_threads, given.cpuparams_batch.n_threads) == (1, 2)


def test_a_missing_model_path_is_refused_by_name(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("LLM_MODEL_PATH", raising=False)
    with pytest.raises(ValidationError, match="model_path"):
        LLMSettings()
