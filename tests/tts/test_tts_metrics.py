"""``/metrics``: the TTFB histogram (per endpoint), real-time factor, audio seconds, queue depth,
active streams and errors, filled by real requests."""

from __future__ import annotations

import pytest

from tts_helpers import FOX, connect, metric_samples, receive_until_text, seconds

pytestmark = pytest.mark.slow


async def test_requests_fill_the_ttfb_histogram_and_the_other_metrics(http, tts_ws):
    before = await metric_samples(http)
    pcm = (await http.post("/v1/audio/speech", json={"input": FOX, "response_format": "pcm"})).content
    async with connect(tts_ws) as ws:
        await ws.send(FOX)
        assert (await receive_until_text(ws)).final == "END"
    await http.post("/v1/audio/speech", json={"input": FOX, "voice": "nobody"})
    after = await metric_samples(http)

    def grew(name: str, *labels: tuple[str, str]) -> float:
        key = (name, tuple(sorted(labels)))
        return after[key] - before.get(key, 0.0)

    for endpoint in ("speech", "ws"):
        assert grew("tts_ttfb_seconds_count", ("endpoint", endpoint)) == 1
        assert grew("tts_ttfb_seconds_bucket", ("endpoint", endpoint), ("le", "+Inf")) == 1
        assert 0 < grew("tts_ttfb_seconds_sum", ("endpoint", endpoint)) < 60
    assert grew("tts_real_time_factor_count") >= 2
    assert grew("tts_audio_seconds_total") >= 2 * seconds(pcm) - 0.01
    assert grew("tts_errors_total", ("code", "unknown_voice")) == 1
    assert after[("tts_queue_depth", ())] == 0 and after[("tts_active_streams", ())] == 0
