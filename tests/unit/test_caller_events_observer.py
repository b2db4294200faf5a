"""The caller hears each happening of its session once, as the protocol's event (frames fed directly)."""

from __future__ import annotations

from unittest.mock import Mock

from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    ErrorFrame,
    LLMTextFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.filters.identity_filter import IdentityFilter
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.llm_service import LLMService
from pipecat.tests.utils import run_test

from observer_frames import Events, push
from voice_common.protocol.gateway import EVENT_TYPES
from voice_gateway.events import CallerEventsObserver
from voice_gateway.serializer import ClientProtocolErrorFrame
from voice_gateway.stt import RevisedTranscriptionFrame
from voice_gateway.upstream import UpstreamErrorFrame


async def test_each_frame_is_told_once_though_it_passes_every_processor_and_twins_go_both_ways():
    events = Events()
    observer = CallerEventsObserver(events)
    started = VADUserStartedSpeakingFrame()
    await push(observer, started, direction=FrameDirection.UPSTREAM)  # its upstream twin is not a second start
    for _hop in range(3):
        await push(observer, started)
    await push(observer, BotStartedSpeakingFrame())
    await push(observer, BotStoppedSpeakingFrame())
    await push(observer, VADUserStoppedSpeakingFrame())
    await push(observer, TTSAudioRawFrame(b"\x00\x00", 24000, 1))  # audio is not an event
    kinds = [event["type"] for event in events.sent]
    assert kinds == ["user_started_speaking", "bot_started_speaking", "bot_stopped_speaking", "user_stopped_speaking"]


async def test_transcripts_revisions_and_bot_text_are_sent_as_they_come():
    events = Events()
    observer = CallerEventsObserver(events)
    await push(observer, TranscriptionFrame("what is the", "caller", "now"))
    await push(observer, RevisedTranscriptionFrame("what is the capital of France", "caller", "now"))
    await push(observer, LLMTextFrame("Paris"))
    assert events.sent == [
        {"type": "transcript", "text": "what is the", "final": True},
        {"type": "transcript", "text": "what is the capital of France", "final": True, "revises": True},
        {"type": "bot_text", "text": "Paris"},
    ]


async def test_errors_carry_their_code_and_service_and_only_the_first_line_of_an_upstream_body():
    events = Events()
    observer = CallerEventsObserver(events)
    await push(observer, ClientProtocolErrorFrame(code="odd_length_frame", message="even bytes please"))
    upstream = UpstreamErrorFrame(error="synthesis failed\nTraceback: /srv/x.py", service="tts", code="tts_synthesis_failed")
    await push(observer, upstream)
    llm_error = ErrorFrame(error="boom")
    llm_error.processor = Mock(spec=LLMService)
    await push(observer, llm_error)
    assert events.of("error") == [
        {"type": "error", "code": "odd_length_frame", "message": "even bytes please"},
        {"type": "error", "code": "tts_synthesis_failed", "message": "synthesis failed", "service": "tts"},
        {"type": "error", "code": "llm_error", "message": "boom", "service": "llm"},
    ]


async def test_in_a_pipeline_the_caller_gets_one_event_per_frame():
    events = Events()
    await run_test(
        IdentityFilter(),
        frames_to_send=[VADUserStartedSpeakingFrame(), TranscriptionFrame("hello", "caller", "now"), LLMTextFrame("Hi")],
        observers=[CallerEventsObserver(events)],
    )
    assert [event["type"] for event in events.sent] == ["user_started_speaking", "transcript", "bot_text"]
    assert {event["type"] for event in events.sent} <= EVENT_TYPES
