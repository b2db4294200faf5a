"""``WS /ws`` of the gateway (raw PCM): the caller's control messages and the events it receives.

Caller -> gateway: binary PCM at ``CALLER_SAMPLE_RATE``; optional ``start`` and ``ping``.
Gateway -> caller: binary PCM at ``TTS_SAMPLE_RATE`` and the events below, plus the error event
(:mod:`.errors`, with ``service`` for an upstream's failure). The browser client, k6 and the
chart's ``helm test`` read these by name; tests/unit/test_protocol_clients.py keeps them honest.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from voice_common.protocol.constants import CALLER_SAMPLE_RATE
from voice_common.protocol.errors import ErrorEvent
from voice_common.protocol.message import WireMessage


class CallerStart(WireMessage):
    """Optional: declares the caller's rate, which must be ``CALLER_SAMPLE_RATE``."""

    type: Literal["start"] = "start"
    sample_rate: int = Field(CALLER_SAMPLE_RATE, description="anything else gets unsupported_sample_rate")


class CallerPing(WireMessage):
    """Keep-alive; ignored."""

    type: Literal["ping"] = "ping"


class Ready(WireMessage):
    """The pipeline is up: speak."""

    type: Literal["ready"] = "ready"
    session_id: str = Field(description="names the call in the gateway's log")


class UserStartedSpeaking(WireMessage):
    """The VAD heard the caller start (over the bot's voice, this becomes a barge-in)."""

    type: Literal["user_started_speaking"] = "user_started_speaking"


class UserStoppedSpeaking(WireMessage):
    """The VAD heard the caller stop; turns are numbered by these."""

    type: Literal["user_stopped_speaking"] = "user_stopped_speaking"


class Transcript(WireMessage):
    """What the STT heard."""

    OPTIONAL = frozenset({"revises"})

    type: Literal["transcript"] = "transcript"
    text: str = Field(description="the caller's words")
    final: bool = Field(True, description="always true: the gateway sends finals only")
    revises: bool | None = Field(None, description="replaces the previous transcript (decoded again whole after a pause)")


class BotText(WireMessage):
    """The LLM's text as it streams."""

    type: Literal["bot_text"] = "bot_text"
    text: str = Field(description="the next piece of the reply")


class BotStartedSpeaking(WireMessage):
    """The reply's first audio is going out (the turn's mouth-to-ear ends here)."""

    type: Literal["bot_started_speaking"] = "bot_started_speaking"


class BotStoppedSpeaking(WireMessage):
    """The bot's audio stopped: the reply ended, paused, or was cut off."""

    type: Literal["bot_stopped_speaking"] = "bot_stopped_speaking"


class Interruption(WireMessage):
    """The caller barged in: drop any queued bot audio now."""

    type: Literal["interruption"] = "interruption"


class TurnMetrics(WireMessage):
    """One answered turn, sent when the bot finished (or was cut off); stage latencies in ms."""

    type: Literal["turn_metrics"] = "turn_metrics"
    turn: int = Field(description="1, 2, ...: the count of user_stopped_speaking events so far")
    transcript: str = Field(description="what the caller said")
    stt_ms: float | None = Field(description="end of speech (VAD stop) to final transcript")
    llm_ttft_ms: float | None = Field(description="LLM time to first token")
    llm_first_phrase_ms: float | None = Field(description="transcript to the reply's first phrase handed to the TTS")
    tts_ttfb_ms: float | None = Field(description="TTS time to first byte")
    mouth_to_ear_ms: float | None = Field(description="end of the caller's speech to the first reply audio sent")
    over_budget: list[str] = Field(description="stages over their budget maximum")
    interrupted: bool = Field(description="the caller cut this reply off")
    llm_context_messages: int | None = Field(description="messages in the conversation context so far")


EVENTS = (
    Ready,
    UserStartedSpeaking,
    UserStoppedSpeaking,
    Transcript,
    BotText,
    BotStartedSpeaking,
    BotStoppedSpeaking,
    Interruption,
    TurnMetrics,
    ErrorEvent,
)
EVENT_TYPES = frozenset(event.type_name() for event in EVENTS)
CALLER_MESSAGES = (CallerStart, CallerPing)
TURN_METRICS_FIELDS = tuple(name for name in TurnMetrics.model_fields if name != "type")
