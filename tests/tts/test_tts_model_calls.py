"""The work of one model call is bounded in phonemes, whatever the characters: a short text whose
characters hide many phonemes (letters and digits run together, spelled one by one) is split into
several calls of at most ``TTS_MAX_PHONEMES_PER_CALL``, so its first audio waits for one bounded
call, not for the whole run."""

from __future__ import annotations

import asyncio
import time

import pytest

from tts_helpers import metric_samples
from voice_tts.settings import TTSSettings

pytestmark = pytest.mark.slow

CAP = TTSSettings.model_fields["max_phonemes_per_call"].default
# 60 characters, one "word" and one first chunk, about 300 phonemes: kokoro-onnx alone made it one call.
DENSE = "a1b2c3d4e5" * 6
SETTLE_S = 10.0


async def test_a_word_dense_in_phonemes_is_spoken_in_calls_of_bounded_size(http):
    before = await metric_samples(http)
    async with http.stream("POST", "/v1/audio/speech", json={"input": DENSE, "response_format": "pcm"}) as response:
        assert response.status_code == 200
        async for data in response.aiter_raw():
            assert data
            break  # the first call's audio is enough; leaving cancels the rest
    deadline = time.perf_counter() + SETTLE_S
    # Another process's counters: there is no event to wait on, only its /metrics to poll.
    while (after := await metric_samples(http))[("tts_active_streams", ())] and time.perf_counter() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)

    def grew(name: str, *labels: tuple[str, str]) -> float:
        key = (name, tuple(sorted(labels)))
        return after[key] - before.get(key, 0.0)

    calls = grew("tts_phonemes_per_call_count")
    assert calls >= 1, "no model call was counted"
    assert grew("tts_phonemes_per_call_bucket", ("le", f"{float(CAP)}")) == calls, f"a call of more than {CAP} phonemes"
