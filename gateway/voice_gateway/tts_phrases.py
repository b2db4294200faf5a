"""Which audio context the TTS server's next reply belongs to.

The server's audio frames are bare PCM (the seed's clients read them as is), so they carry no
context id; they need none: the server speaks one text at a time, in the order sent, ends each
with ``END``, and sends no audio of cancelled texts after its ``cancelled`` ack. So the replies
follow the order of the phrases sent, and a queue of their context ids routes each reply.
An error event names the context of the text it is about instead: the server refuses a bad text
as it arrives, ahead of the replies to texts sent before it.
"""

from __future__ import annotations

from collections import deque

_CANCEL = None  # stands in the queue where a cancel was sent: its ack drops everything before it


class SentPhrases:
    """The phrases sent to the TTS server and not yet answered, by audio context, oldest first."""

    def __init__(self) -> None:
        self._queue: deque[str | None] = deque()
        self._flushed: set[str] = set()  # contexts that will get no more phrases

    def sent(self, context_id: str) -> None:
        self._queue.append(context_id)

    def speaking(self) -> str | None:
        """The context whose phrase the server is speaking now: the one audio goes to."""
        return self._queue[0] if self._queue else None

    def answered(self) -> str | None:
        """The oldest phrase is over (its ``END``); its context, if that context is now complete
        (flushed, nothing left to come), else None."""
        context_id = self._queue.popleft() if self._queue and self._queue[0] is not _CANCEL else None
        return context_id if context_id is not None and self._complete(context_id) else None

    def failed(self, context_id: str | None) -> str | None:
        """The server's error for a phrase of ``context_id``, in place of its ``END``: that phrase
        is answered. Its context if now complete, as for ``answered``.

        A context's phrases are sent together, so which of them failed does not matter to the
        routing. A context no longer here was dropped by a cancel's ack (its synthesis was
        cancelled): nothing is left to answer. None: a server that does not echo ``context_id``
        yet (a rolling update): the oldest phrase, the best guess without it (an error about no
        one request is followed by the close that ends every phrase anyway).
        """
        if context_id is None:
            return self.answered()
        if context_id not in self._queue:
            return None
        self._queue.remove(context_id)
        return context_id if self._complete(context_id) else None

    def flushed(self, context_id: str) -> bool:
        """No more phrases will be sent for ``context_id``; True if none is left to answer."""
        self._flushed.add(context_id)
        return self._complete(context_id)

    def cancel_sent(self) -> bool:
        """Mark a cancel as sent if phrases since the last one are unanswered; False: nothing to cancel."""
        for context_id in reversed(self._queue):
            if context_id is _CANCEL:
                break
            self._queue.append(_CANCEL)
            return True
        return False

    def cancelled(self) -> None:
        """The server's ack: the phrases sent before the cancel will not be answered."""
        while self._queue:
            context_id = self._queue.popleft()
            if context_id is _CANCEL:
                return
            if context_id not in self._queue:
                self._flushed.discard(context_id)

    def waiting(self) -> bool:
        """Whether a reply is due from the server (a phrase or a cancel unanswered)."""
        return bool(self._queue)

    def clear(self) -> None:
        """The connection is gone: nothing sent on it will be answered."""
        self._queue.clear()
        self._flushed.clear()

    def _complete(self, context_id: str) -> bool:
        if context_id in self._flushed and context_id not in self._queue:
            self._flushed.discard(context_id)
            return True
        return False
