"""Each turn is timed from the frames Pipecat emits and reported once its reply is over (frames fed directly)."""

from __future__ import annotations

import time
from unittest.mock import Mock

import pytest
from pipecat.frames import frames
from pipecat.metrics.metrics import TTFBMetricsData
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.services.llm_service import LLMService
from pipecat.services.tts_service import TTSService

from observer_frames import Events, push
from voice_common.budget import load_budget
from voice_common.protocol.gateway import TURN_METRICS_FIELDS
from voice_gateway import metrics
from voice_gateway.latency import TurnLatencyObserver

TRACE = {"trace_id": "0af7651916cd43dd8448eb211c80319c", "span_id": "b7ad6b7169203331"}


def ttfb(service: type, seconds: float) -> tuple[frames.MetricsFrame, Mock]:
    return frames.MetricsFrame(data=[TTFBMetricsData(processor="x", value=seconds)]), Mock(spec=service)


async def answer(observer: TurnLatencyObserver, *, stopped_ago_s: float = 0.3) -> None:
    """A caller turn up to the bot's first audio: speech end, transcript, context, TTFBs, TTS start."""
    await push(observer, frames.VADUserStoppedSpeakingFrame(stop_secs=0.2, timestamp=time.time() - stopped_ago_s))
    await push(observer, frames.TranscriptionFrame("what is the capital of France", "caller", "now"))
    await push(observer, frames.LLMContextFrame(LLMContext(messages=[{"role": "user", "content": "hi"}])))
    await push(observer, frames.MetricsFrame(data=[TTFBMetricsData(processor="x", value=0.0)]))  # Pipecat's startup zeros
    for frame, source in (ttfb(LLMService, 0.15), ttfb(TTSService, 0.08), ttfb(TTSService, 0.5)):
        await push(observer, frame, source=source)
    await push(observer, frames.TTSStartedFrame())
    await push(observer, frames.BotStartedSpeakingFrame())


@pytest.fixture
def events() -> Events:
    return Events()


@pytest.fixture
def observer(events: Events) -> TurnLatencyObserver:
    return TurnLatencyObserver(events, load_budget(), trace_ids=lambda: TRACE)


async def test_a_turn_is_reported_once_when_the_bot_has_finished_with_every_stage_measured(events, observer):
    await answer(observer)
    assert events.sent == []  # its latencies are final, but whether it is cut off is not known yet
    await push(observer, frames.TTSStoppedFrame())
    await push(observer, frames.BotStoppedSpeakingFrame())
    await push(observer, frames.BotStoppedSpeakingFrame())  # a second stop reports nothing more
    [metrics] = events.of("turn_metrics")
    assert set(metrics) == {"type", *TURN_METRICS_FIELDS}
    assert metrics["turn"] == 1 and metrics["transcript"] == "what is the capital of France"
    assert (metrics["llm_ttft_ms"], metrics["tts_ttfb_ms"]) == (150.0, 80.0)  # the first nonzero of each service
    assert metrics["mouth_to_ear_ms"] >= 500.0  # speech ended 0.2 s before the VAD stop, 0.3 s ago
    assert metrics["stt_ms"] is not None and metrics["llm_first_phrase_ms"] is not None
    assert metrics["llm_context_messages"] == 1 and metrics["interrupted"] is False


async def test_a_pause_inside_the_reply_does_not_end_the_turn(events, observer):
    await answer(observer)
    await push(observer, frames.BotStoppedSpeakingFrame())  # the next phrase is still being synthesized
    assert events.of("turn_metrics") == []
    await push(observer, frames.TTSStoppedFrame())
    assert len(events.of("turn_metrics")) == 1


async def test_a_barge_in_marks_the_turn_interrupted_and_the_next_turn_counts_on(events, observer):
    await answer(observer)
    await push(observer, frames.InterruptionFrame())
    await push(observer, frames.BotStoppedSpeakingFrame())
    await answer(observer)
    await push(observer, frames.TTSStoppedFrame())
    await push(observer, frames.BotStoppedSpeakingFrame())
    first, second = events.of("turn_metrics")
    assert (first["turn"], first["interrupted"]) == (1, True)
    assert (second["turn"], second["interrupted"]) == (2, False)


async def test_an_interruption_with_no_reply_under_way_is_no_turn(events, observer):
    await push(observer, frames.InterruptionFrame())
    await push(observer, frames.BotStartedSpeakingFrame())  # a greeting: no caller turn to time
    await push(observer, frames.BotStoppedSpeakingFrame())
    assert events.sent == []


async def test_the_turns_histograms_keep_its_trace_as_exemplar(observer):
    await answer(observer)
    samples = [s for m in metrics.STAGE_HISTOGRAMS["mouth_to_ear"].collect() for s in m.samples if s.exemplar]
    assert any(sample.exemplar.labels == TRACE for sample in samples)
