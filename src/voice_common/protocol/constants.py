"""Plain numbers and markers of the wire protocol; each is defined here and nowhere else.

Close codes are RFC 6455's; the stack uses exactly these five, and a client tells a refusal it
may retry (1013) from one it must not (1008) by them.
"""

from __future__ import annotations

from typing import Final

CLOSE_NORMAL: Final = 1000  # the session ended as asked (STT ``stop``)
CLOSE_POLICY_VIOLATION: Final = 1008  # refused for good: bad token, unknown wire format
CLOSE_MESSAGE_TOO_BIG: Final = 1009  # a frame over the server's cap; it is not read
CLOSE_INTERNAL_ERROR: Final = 1011  # the server failed this session; reconnecting may work
CLOSE_TRY_AGAIN_LATER: Final = 1013  # full, draining or still loading: retry later, maybe elsewhere

CLOSE_CODES: Final = {
    CLOSE_NORMAL: "normal closure",
    CLOSE_POLICY_VIOLATION: "policy violation",
    CLOSE_MESSAGE_TOO_BIG: "message too big",
    CLOSE_INTERNAL_ERROR: "internal error",
    CLOSE_TRY_AGAIN_LATER: "try again later",
}

# All audio is PCM s16le mono; only the rates differ per direction.
CALLER_SAMPLE_RATE: Final = 16000  # caller -> gateway: the only rate the gateway takes
STT_SAMPLE_RATE: Final = 16000  # Whisper's input rate: the STT's default and what it decodes at
TTS_SAMPLE_RATE: Final = 24000  # TTS -> gateway -> caller: Kokoro's output rate, passed on unchanged

END_OF_SPEECH: Final = "END"  # the TTS server's text frame after a text's last audio chunk (the seed's marker)
