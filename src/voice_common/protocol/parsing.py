"""The one bounded JSON parser for every message the stack receives from a client.

``json.loads`` raises more than ``JSONDecodeError`` on hostile input: ``RecursionError`` for
deeply nested arrays (``[[[[...``), ``ValueError`` for an integer longer than Python's
int-to-str limit (4300 digits), ``UnicodeDecodeError`` for undecodable bytes. A handler that
caught only the first ended its session with no reply. Every server (gateway, STT, TTS; HTTP
and WebSocket) parses client JSON through :func:`parse_json_object`, which turns all of them,
plus over-deep or oversized input, into one :class:`MessageError` with a stable code.
"""

from __future__ import annotations

import json
from typing import Any

MAX_MESSAGE_BYTES = 64 * 1024  # control messages and request bodies are small; audio is binary
MAX_DEPTH = 16  # no message of the stack nests deeper than 3; a cheap bound before parsing


class MessageError(ValueError):
    """Client JSON the stack cannot accept: ``code`` is the stable error code sent back."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _nesting_depth(text: str) -> int:
    """Deepest ``[``/``{`` nesting outside strings, in one linear pass (no recursion)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def parse_json_object(data: str | bytes, max_bytes: int = MAX_MESSAGE_BYTES) -> dict[str, Any]:
    """Parse one client message that must be a JSON object; raise :class:`MessageError` otherwise.

    Codes: ``message_too_large``, ``invalid_json`` (not JSON, not UTF-8, too deep, numbers out of
    range), ``bad_message`` (JSON, but not an object).
    """
    size = len(data) if isinstance(data, bytes) else len(data.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise MessageError("message_too_large", f"JSON messages are limited to {max_bytes} bytes, got {size}")
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        if _nesting_depth(text) > MAX_DEPTH:
            raise MessageError("invalid_json", f"JSON nested deeper than {MAX_DEPTH} levels")
        message = json.loads(text)
    except MessageError:
        raise
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, int-digit limit
        raise MessageError("invalid_json", f"not valid JSON: {exc}"[:200]) from None
    if not isinstance(message, dict):
        raise MessageError("bad_message", "expected a JSON object")
    return message
