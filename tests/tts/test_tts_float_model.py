"""The int8 Kokoro file rewritten in float for the CUDA provider (``voice_tts.float_model``).

This machine has no GPU, so the engine loads with ``TTS_DEVICE=cuda`` on the CPU build of ONNX
Runtime, told that the CUDA provider is there: ONNX Runtime then runs the float model on its CPU
provider. Everything else is the engine's own path on a GPU node: the rewrite, the session made
from bytes, kokoro-onnx on top of it, the streamed audio. The rewrite must leave no node that the
CUDA provider lacks, and the float model must say what the int8 one says, at the same length."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import onnx
import pytest
from faster_whisper import WhisperModel

from tts_helpers import assert_speech, seconds
from voice_common.audio import pcm16_to_float32, resample
from voice_common.protocol.constants import STT_SAMPLE_RATE, TTS_SAMPLE_RATE
from voice_testkit.speech import words
from voice_tts import engine as tts_engine
from voice_tts.float_model import INTEGER_OPS, for_cuda
from voice_tts.settings import TTSSettings

TEXTS = ("The capital of France is Paris.", "Which planet is closest to the sun?")
# The engine on "cuda" here runs on ONNX Runtime's CPU build, which says so.
pytestmark = pytest.mark.filterwarnings("ignore:Specified provider 'CUDAExecutionProvider' is not in available provider names")


@pytest.fixture(scope="module")
def int8_path(models_dir: Path) -> str:
    return str(models_dir / "kokoro" / "kokoro-v1.0.int8.onnx")


@pytest.fixture(scope="module")
def float_bytes(int8_path: str) -> bytes:
    rewritten = for_cuda(int8_path)
    assert isinstance(rewritten, bytes), "the int8 file was taken for a float one"
    return rewritten


@pytest.fixture(scope="module")
def spoken_by(int8_path: str) -> dict[str, dict[str, bytes]]:
    """Each text as streamed by the engine on cpu (the int8 file) and on "cuda" (the float rewrite)."""
    spoken: dict[str, dict[str, bytes]] = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tts_engine.ort, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
        for device in ("cpu", "cuda"):
            engine = tts_engine.KokoroEngine(TTSSettings(device=device, model_path=int8_path, warmup=False))

            async def speak_all(engine=engine) -> dict[str, bytes]:
                await engine.start()
                return {text: b"".join([piece async for piece in engine.stream(text, "af_heart", 1.0)]) for text in TEXTS}

            spoken[device] = asyncio.run(speak_all())
            engine.close()
    return spoken


@pytest.fixture(scope="module")
def whisper(models_dir: Path) -> WhisperModel:
    return WhisperModel(str(models_dir / "whisper-base"), device="cpu", compute_type="int8")


def op_counts(model: onnx.ModelProto) -> Counter[str]:
    return Counter(node.op_type for node in model.graph.node)


def test_every_integer_node_becomes_its_float_operation(int8_path, float_bytes):
    before, after = op_counts(onnx.load(int8_path)), op_counts(onnx.load_from_string(float_bytes))
    assert not INTEGER_OPS & after.keys()
    assert after["Conv"] == before["Conv"] + before["ConvInteger"]
    assert after["MatMul"] == before["MatMul"] + before["MatMulInteger"]
    assert after["LSTM"] == before["DynamicQuantizeLSTM"]


@pytest.mark.parametrize("text", TEXTS)
def test_the_engine_on_cuda_says_what_the_int8_model_says_at_the_same_length(text, spoken_by, whisper):
    for device, spoken in spoken_by.items():
        pcm = spoken[text]
        assert_speech(pcm, text)
        audio = resample(pcm16_to_float32(pcm), TTS_SAMPLE_RATE, STT_SAMPLE_RATE)
        heard = " ".join(segment.text for segment in whisper.transcribe(audio, language="en", beam_size=1)[0])
        assert words(text) <= words(heard), f"the engine on {device}: {heard!r}"
    # The same duration predictor on the same weights: lengths within a frame or two.
    assert abs(seconds(spoken_by["cuda"][text]) - seconds(spoken_by["cpu"][text])) < 0.1


def test_a_float_model_file_is_given_to_onnx_runtime_as_it_is(float_bytes, tmp_path):
    float_file = tmp_path / "kokoro-float.onnx"
    float_file.write_bytes(float_bytes)
    assert for_cuda(str(float_file)) == str(float_file)
