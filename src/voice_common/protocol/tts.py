"""``WS /ws`` of the TTS server: texts to speak, cancel, and what comes back.

Client -> server: :class:`SpeakMessage` (or plain text, the seed's clients) and ``cancel``.
Server -> client: binary PCM at ``TTS_SAMPLE_RATE``, then the text frame ``END_OF_SPEECH``;
``cancelled`` for a cancel; the error event (:mod:`.errors`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from voice_common.protocol.message import WireMessage


class SpeakConfig(WireMessage):
    """How to say it; the server's defaults apply to what is left out."""

    voice: str = Field(description="a voice GET /v1/audio/voices lists")
    speed: float = Field(description="0.5 to 2.0")


class SpeakMessage(WireMessage):
    """One text to synthesize; it is queued behind the session's earlier texts.

    The server also takes ``"type": "speak"`` on it, and plain text (not starting with ``{``) as the text.
    """

    OPTIONAL = frozenset({"traceparent"})

    text: str = Field(description="what to say")
    config: SpeakConfig = Field(description="voice and speed")
    context_id: str | None = Field(None, description="echoed in cancelled; the gateway's audio context")
    traceparent: str | None = Field(None, description="W3C trace context: the tts.synthesize span goes under it")


class CancelMessage(WireMessage):
    """Stop the synthesis in flight and drop the queued texts (barge-in)."""

    type: Literal["cancel"] = "cancel"


class CancelledMessage(WireMessage):
    """The cancel's acknowledgement; no audio of the cancelled texts follows it."""

    type: Literal["cancelled"] = "cancelled"
    context_id: str | None = Field(description="the cancelled synthesis's context_id (null when nothing ran)")


CLIENT_MESSAGES = (SpeakMessage, CancelMessage)
SERVER_MESSAGES = (CancelledMessage,)
