"""A caller on a blocking WebSocket, for Locust: Locust runs users as gevent greenlets, where an
asyncio event loop per user cannot run, so ``voice_agent.client.Caller`` is out. This one sends
and paces with plain blocking calls (gevent makes them cooperative) and records everything
through the same ``Conversation`` as ``Caller``, so a turn is timed exactly as ``voice-agent talk``
times it."""

from __future__ import annotations

import threading
import time

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from voice_agent.client import SILENCE_FRAME, Conversation, Turn, paced_frames


class BlockingCaller:
    """One open call: ``with BlockingCaller(url) as call: call.say_and_listen(pcm)``."""

    def __init__(self, url: str, *, open_timeout: float = 10.0, ready_timeout: float = 30.0) -> None:
        self.url = url
        self.open_timeout = open_timeout
        self.ready_timeout = ready_timeout
        self.conversation = Conversation()
        self.closed = False
        self._ws: ClientConnection | None = None
        self._reader: threading.Thread | None = None
        self._lock = threading.Lock()

    def __enter__(self) -> BlockingCaller:
        self._ws = connect(self.url, open_timeout=self.open_timeout, max_size=None)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + self.ready_timeout
        while not (self.conversation.first_event("ready") or self.conversation.errors or self.closed):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no ready event from {self.url} within {self.ready_timeout:.0f} s")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._ws is not None:
            self._ws.close()
        if self._reader is not None:
            self._reader.join(timeout=5)

    def _read(self) -> None:
        assert self._ws is not None
        try:
            for message in self._ws:
                with self._lock:
                    self.conversation.record(time.monotonic(), message)
        except ConnectionClosed:
            pass
        finally:
            self.closed = True

    def _stream(self, pcm: bytes, stop_when=lambda: False) -> None:
        """Send ``pcm`` at a microphone's pace; stop early once ``stop_when()`` is true."""
        assert self._ws is not None, "use BlockingCaller as a context manager"
        start = time.monotonic()
        for frame, played_out in paced_frames(pcm):
            if self.closed or stop_when():
                return
            self._ws.send(frame)
            time.sleep(max(0.0, start + played_out - time.monotonic()))

    def silence(self, seconds: float) -> None:
        self._stream(SILENCE_FRAME * round(seconds * 1000 / 20))

    def say_and_listen(self, pcm: bytes, timeout: float = 60.0, settle_s: float = 1.0) -> Turn:
        """Speak, keep the line open with silence, and return once the bot finished replying (as
        ``Caller.say_and_listen``), a new error arrived, the call closed, or ``timeout`` passed."""
        errors_before = len(self.conversation.errors)
        self._stream(pcm)
        with self._lock:
            turn = self.conversation.start_turn(pcm)
        deadline = time.monotonic() + timeout

        def over() -> bool:
            with self._lock:
                return (
                    time.monotonic() > deadline
                    or len(self.conversation.errors) > errors_before
                    or self.conversation.reply_finished(turn, time.monotonic(), settle_s)
                )

        while not (self.closed or over()):
            self._stream(SILENCE_FRAME * 10, stop_when=over)
        return turn
