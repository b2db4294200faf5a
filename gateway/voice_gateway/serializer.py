"""The gateway's raw-PCM wire format for callers (see docs/protocols.md, "Gateway").

Binary frames in are s16le mono 16 kHz caller audio; binary frames out are s16le 24 kHz bot
audio; everything else is a JSON text event. Pipecat ships no raw-PCM serializer, and its
input transport ends the session if ``deserialize`` raises, so malformed input is turned into
a :class:`ClientProtocolErrorFrame` that the events observer reports to the caller instead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from loguru import logger
from pipecat.frames.frames import (
    Frame,
    InputAudioRawFrame,
    InterruptionFrame,
    OutputAudioRawFrame,
    OutputTransportMessageFrame,
    OutputTransportMessageUrgentFrame,
    SystemFrame,
)
from pipecat.serializers.base_serializer import FrameSerializer
from pipecat.serializers.protobuf import ProtobufFrameSerializer

from voice_common.protocol.constants import CALLER_SAMPLE_RATE
from voice_common.protocol.gateway import CallerPing, CallerStart, Interruption
from voice_common.protocol.parsing import MessageError, parse_json_object


@dataclass
class ClientProtocolErrorFrame(SystemFrame):
    """Caller input the gateway could not accept; reported back as an ``error`` event."""

    code: str = ""
    message: str = ""


class RawPCMSerializer(FrameSerializer):
    """Raw PCM audio plus JSON events, for clients that do not use Pipecat's SDK."""

    def __init__(self, max_frame_bytes: int) -> None:
        super().__init__()
        self._max_frame_bytes = max_frame_bytes

    async def serialize(self, frame: Frame) -> str | bytes | None:
        if isinstance(frame, OutputAudioRawFrame):
            return frame.audio
        if isinstance(frame, InterruptionFrame):
            return json.dumps(Interruption().wire())
        if isinstance(frame, (OutputTransportMessageFrame, OutputTransportMessageUrgentFrame)):
            if self.should_ignore_frame(frame):  # RTVI chatter is for SDK clients only
                return None
            return json.dumps(frame.message)
        return None

    async def deserialize(self, data: str | bytes) -> Frame | None:
        try:
            return self._audio(data) if isinstance(data, bytes) else self._control(data)
        except Exception:  # noqa: BLE001 - a raise here would end the caller's session without a word
            logger.exception("could not read a caller frame")
            return ClientProtocolErrorFrame(code="bad_message", message="the gateway could not read this frame")

    def _audio(self, data: bytes) -> Frame:
        if len(data) > self._max_frame_bytes:
            return ClientProtocolErrorFrame(
                code="frame_too_large", message=f"audio frame of {len(data)} bytes exceeds {self._max_frame_bytes}"
            )
        if len(data) % 2:
            return ClientProtocolErrorFrame(
                code="odd_length_frame", message="PCM s16le frames must hold an even number of bytes"
            )
        return InputAudioRawFrame(audio=data, sample_rate=CALLER_SAMPLE_RATE, num_channels=1)

    def _control(self, text: str) -> Frame | None:
        try:
            message = parse_json_object(text)
        except MessageError as exc:
            hint = "text frames must be JSON control messages; send audio as binary"
            return ClientProtocolErrorFrame(code=exc.code, message=f"{exc.message}; {hint}")
        if not isinstance(message.get("type"), str):
            return ClientProtocolErrorFrame(code="bad_message", message='control messages are objects with a string "type"')
        if message["type"] == CallerStart.type_name():
            rate = message.get("sample_rate", CALLER_SAMPLE_RATE)
            if rate != CALLER_SAMPLE_RATE:
                return ClientProtocolErrorFrame(
                    code="unsupported_sample_rate",
                    message=f"the gateway takes {CALLER_SAMPLE_RATE} Hz s16le mono audio, not {rate!r}",
                )
            return None
        if message["type"] == CallerPing.type_name():
            return None
        return ClientProtocolErrorFrame(code="unknown_type", message=f"unknown message type {message['type']!r}")


class SafeProtobufSerializer(ProtobufFrameSerializer):
    """Pipecat's protobuf format, but undecodable input or a wrong sample rate is reported to the
    caller instead of raising (which would end the session in Pipecat's receive loop)."""

    async def deserialize(self, data: str | bytes) -> Frame | None:
        if isinstance(data, str):
            return ClientProtocolErrorFrame(code="invalid_frame", message="protobuf sessions send binary frames only")
        try:
            frame = await super().deserialize(data)
        except Exception as exc:  # noqa: BLE001 - any decode failure is the caller's input, not our bug
            return ClientProtocolErrorFrame(code="invalid_frame", message=f"not a Pipecat protobuf frame: {exc}")
        if isinstance(frame, InputAudioRawFrame) and frame.sample_rate != CALLER_SAMPLE_RATE:
            return ClientProtocolErrorFrame(
                code="unsupported_sample_rate",
                message=f"the gateway takes {CALLER_SAMPLE_RATE} Hz mono audio, not {frame.sample_rate}",
            )
        return frame
