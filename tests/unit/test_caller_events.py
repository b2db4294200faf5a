"""The caller library files the gateway's events by the protocol's models (no server needed)."""

from __future__ import annotations

import json

from voice_agent.client import Conversation, budget_rows
from voice_agent.report import turns_json
from voice_common.budget import load_budget
from voice_common.protocol import gateway

METRICS = gateway.TurnMetrics(
    turn=1, transcript="what is the capital of France", stt_ms=250.0, llm_ttft_ms=150.0, llm_first_phrase_ms=300.0,
    tts_ttfb_ms=100.0, mouth_to_ear_ms=700.0, over_budget=[], interrupted=False, llm_context_messages=3,
)


def _conversation(*events: gateway.WireMessage, audio_at: float = 10.9) -> Conversation:
    conversation = Conversation()
    turn = conversation.start_turn(b"")
    turn.speech_end = 10.0
    for at, event in enumerate(events):
        conversation.record(10.0 + at / 100, json.dumps(event.wire()))
    conversation.record(audio_at, b"\x00\x00" * 240)
    return conversation


def test_a_revised_transcript_replaces_the_last_one_and_the_turn_is_reported() -> None:
    conversation = _conversation(
        gateway.Transcript(text="what is the cap"),
        gateway.Transcript(text="what is the capital of France", revises=True),
        gateway.BotText(text="Paris."),
        METRICS,
    )
    (turn,) = conversation.turns
    assert (turn.transcript, turn.reply_text, turn.server) == ("what is the capital of France", "Paris.", METRICS.wire())
    assert turn.metrics == METRICS


def test_the_budget_rows_and_the_json_report_come_from_turn_metrics() -> None:
    (turn,) = _conversation(METRICS).turns
    rows = dict(budget_rows(turn))
    assert rows == {"stt": 250.0, "llm_ttft": 150.0, "tts_ttfb": 100.0, "network": 200.0, "mouth_to_ear": 900.0}
    report = turns_json([turn], load_budget())["turns"][0]
    assert (report["server_mouth_to_ear_ms"], report["stages"]["network_ms"]) == (700.0, 200.0)


def test_a_turn_the_gateway_never_reported_has_no_server_numbers() -> None:
    (turn,) = _conversation(gateway.BotStartedSpeaking()).turns
    assert turn.metrics is None
    assert dict(budget_rows(turn))["stt"] is None and dict(budget_rows(turn))["mouth_to_ear"] == 900.0
