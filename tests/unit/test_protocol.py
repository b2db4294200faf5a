"""The wire models build exactly the JSON the stack has always sent, and read back what they built."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from voice_common.protocol import constants, errors, gateway, stt, tts
from voice_common.protocol.message import WireMessage

# One filled-in instance of every message, each field given (OPTIONAL ones too).
SAMPLES: list[WireMessage] = [
    stt.StartMessage(sample_rate=8000, language="en", interim_results=True),
    stt.FlushMessage(traceparent="00-" + "a" * 32 + "-" + "b" * 16 + "-01"),
    stt.ResumeMessage(),
    stt.ResetMessage(),
    stt.StopMessage(),
    stt.ReadyMessage(session_id="abc", sample_rate=16000),
    stt.PartialMessage(text="hel", segment=0),
    stt.FinalMessage(text="hello", segment=2, audio_ms=1200, latency_ms=80, revises=1),
    stt.LegacyError(error="too long", code="utterance_too_long", segment=3),
    tts.SpeakMessage(text="Hi.", config=tts.SpeakConfig(voice="af_heart", speed=1.2), context_id="c1", traceparent="tp"),
    tts.CancelMessage(),
    tts.CancelledMessage(context_id=None),
    gateway.CallerStart(sample_rate=16000),
    gateway.CallerPing(),
    gateway.Ready(session_id="w1"),
    gateway.UserStartedSpeaking(),
    gateway.UserStoppedSpeaking(),
    gateway.Transcript(text="what is", revises=True),
    gateway.BotText(text="Paris"),
    gateway.BotStartedSpeaking(),
    gateway.BotStoppedSpeaking(),
    gateway.Interruption(),
    gateway.TurnMetrics(
        turn=1, transcript="hi", stt_ms=210.5, llm_ttft_ms=None, llm_first_phrase_ms=400.0, tts_ttfb_ms=90.1,
        mouth_to_ear_ms=800.2, over_budget=["llm_ttft"], interrupted=False, llm_context_messages=3,
    ),
    errors.ErrorEvent(code="stt_unavailable", message="down", service="stt", segment=1, param="text", context_id="a"),
]


@pytest.mark.parametrize("message", SAMPLES, ids=lambda m: type(m).__name__)
def test_every_message_reads_back_what_it_sent_through_json(message: WireMessage) -> None:
    sent = json.dumps(message.wire())
    assert type(message).read(json.loads(sent)) == message


@pytest.mark.parametrize("message", SAMPLES, ids=lambda m: type(m).__name__)
def test_a_reader_ignores_fields_a_newer_peer_adds(message: WireMessage) -> None:
    assert type(message).read({**message.wire(), "added_later": 1}) == message


def test_every_typed_message_carries_its_own_type_name_first() -> None:
    for message in SAMPLES:
        if message.type_name() is not None:
            assert next(iter(message.wire().items())) == ("type", message.type_name())


# The dicts the stack sent before the models existed, literally: same keys, same order, same values.
def test_error_events_are_the_ones_the_servers_always_sent() -> None:
    assert errors.error_event("bad_message", "no") == {"type": "error", "code": "bad_message", "message": "no"}
    assert errors.error_event("stt_x", "down", service="stt") == {
        "type": "error", "code": "stt_x", "message": "down", "service": "stt"
    }
    # An explicit None was sent as null before; it still is.
    assert list(errors.error_event("c", "m", param=None).items())[-1] == ("param", None)


def test_an_http_error_body_has_openais_shape() -> None:
    error = errors.ApiError("file_too_large", "too big", "file", 413)
    assert (error.status, error.body()) == (413, {"error": {"code": "file_too_large", "message": "too big", "param": "file"}})
    assert errors.ApiError("not_ready", "loading", status=503).body() == {
        "error": {"code": "not_ready", "message": "loading", "param": None}
    }


def test_a_final_says_what_it_revises_only_after_a_resume() -> None:
    plain = stt.FinalMessage(text="", segment=0, audio_ms=0, latency_ms=5)
    assert json.dumps(plain.wire()) == '{"type": "final", "text": "", "segment": 0, "audio_ms": 0, "latency_ms": 5}'
    assert stt.FinalMessage(text="a", segment=1, audio_ms=1, latency_ms=1, revises=0).wire()["revises"] == 0


def test_the_gateways_start_and_flush_are_what_it_always_sent() -> None:
    assert stt.StartMessage(sample_rate=16000, language="en").wire() == {"type": "start", "sample_rate": 16000, "language": "en"}
    assert stt.FlushMessage().wire() == {"type": "flush"}
    assert stt.FlushMessage(traceparent="tp").wire() == {"type": "flush", "traceparent": "tp"}


def test_a_speak_request_sends_its_traceparent_only_when_traced() -> None:
    config = tts.SpeakConfig(voice="af_heart", speed=1.0)
    assert tts.SpeakMessage(text="Hi.", config=config, context_id="c").wire() == {
        "text": "Hi.", "config": {"voice": "af_heart", "speed": 1.0}, "context_id": "c"
    }
    assert "traceparent" in tts.SpeakMessage(text="Hi.", config=config, context_id="c", traceparent="tp").wire()


def test_a_transcript_says_it_revises_only_when_it_does() -> None:
    assert gateway.Transcript(text="hi").wire() == {"type": "transcript", "text": "hi", "final": True}
    revised = gateway.Transcript(text="hi", revises=True).wire()
    assert revised == {"type": "transcript", "text": "hi", "final": True, "revises": True}


def test_turn_metrics_keep_their_field_order_and_nulls() -> None:
    event = gateway.TurnMetrics(
        turn=2, transcript="", stt_ms=None, llm_ttft_ms=None, llm_first_phrase_ms=None, tts_ttfb_ms=None,
        mouth_to_ear_ms=None, over_budget=[], interrupted=True, llm_context_messages=None,
    ).wire()
    assert list(event) == ["type", *gateway.TURN_METRICS_FIELDS]
    assert gateway.TURN_METRICS_FIELDS == (
        "turn", "transcript", "stt_ms", "llm_ttft_ms", "llm_first_phrase_ms", "tts_ttfb_ms", "mouth_to_ear_ms",
        "over_budget", "interrupted", "llm_context_messages",
    )
    assert event["stt_ms"] is None and event["interrupted"] is True


def test_a_message_built_with_a_misspelt_field_is_refused() -> None:
    with pytest.raises(ValidationError):
        gateway.BotText(txt="hi")


def test_the_stts_start_keeps_its_strict_types() -> None:
    with pytest.raises(ValidationError):
        stt.StartMessage.model_validate({"type": "start", "sample_rate": "16000"})
    assert stt.StartMessage.model_validate({"type": "start", "future_field": 1}).sample_rate == constants.STT_SAMPLE_RATE


def test_close_codes_and_rates_are_the_ones_on_the_wire() -> None:
    assert set(constants.CLOSE_CODES) == {1000, 1008, 1009, 1011, 1013}
    assert (constants.CALLER_SAMPLE_RATE, constants.STT_SAMPLE_RATE, constants.TTS_SAMPLE_RATE) == (16000, 16000, 24000)
    assert constants.END_OF_SPEECH == "END"


def test_type_names_are_unique_on_each_socket() -> None:
    for messages in (stt.CLIENT_MESSAGES, stt.SERVER_MESSAGES, tts.CLIENT_MESSAGES, gateway.EVENTS, gateway.CALLER_MESSAGES):
        names = [message.type_name() for message in messages]
        assert len(names) == len(set(names)), names
