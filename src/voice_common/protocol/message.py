"""The base of every JSON message on the stack's sockets.

A message is built as a model and sent as the dict :meth:`WireMessage.wire` returns, serialized
by the sending socket as before (each keeps its own ``json.dumps`` settings, so the bytes do not
change). Fields listed in ``OPTIONAL`` are sent only when the sender gives them: ``revises`` on
a final, ``traceparent`` on a flush. An explicit ``None`` is sent as ``null``, as it always was.
"""

from __future__ import annotations

from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict


class WireMessage(BaseModel):
    """One JSON message; field order is the order on the wire."""

    model_config = ConfigDict(extra="forbid")

    OPTIONAL: ClassVar[frozenset[str]] = frozenset()

    def wire(self) -> dict[str, Any]:
        """The message as the dict to send: every field, less the optional ones not given."""
        data = self.model_dump()
        return {key: value for key, value in data.items() if key not in self.OPTIONAL or key in self.model_fields_set}

    @classmethod
    def read(cls, data: dict[str, Any]) -> Self:
        """Validate a received message, ignoring fields this side does not know: a peer one
        version ahead may add fields (tolerant reader) without breaking this one."""
        return cls.model_validate({key: value for key, value in data.items() if key in cls.model_fields})

    @classmethod
    def type_name(cls) -> str | None:
        """The ``type`` this message carries on the wire (None for the TTS server's untyped speak request)."""
        field = cls.model_fields.get("type")
        return None if field is None else field.default
