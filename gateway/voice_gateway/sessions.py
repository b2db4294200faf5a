"""Admission and draining of caller sessions.

Sessions are counted so that a full gateway refuses new callers clearly (instead of
degrading everyone's latency) and so that a rolling update can wait for live calls to end.

A caller's admission slot is freed the moment the caller is gone, not when the pipeline has
finished tearing down: Pipecat's teardown waits up to half a second for the WebSocket close
handshake, and under a storm of short connections those lingering teardowns filled the limit
(callers were refused with ten connections open against a limit of 32). Draining still waits
for every pipeline, torn down or not.

A drain turns the gateway unready at once but may keep admitting callers for a while first: what
routes calls here (kube-proxy on every node, an ingress, a load balancer) learns that the pod is
going only a moment after the pod does, and until then sends it new calls. Refused, those callers
got ``server_draining`` in the middle of a rolling update; and a drain with no live call returned
at once, so the process exited and they met a closed port.
"""

from __future__ import annotations

import asyncio
import contextlib

from voice_gateway import metrics


class Slot:
    """One admitted caller; ``release`` frees its place in the limit, once."""

    def __init__(self, registry: SessionRegistry) -> None:
        self._registry = registry
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._registry.active -= 1
            metrics.ACTIVE_SESSIONS.set(self._registry.active)


class SessionRegistry:
    """Counts admitted callers (the limit) and running pipelines (what a drain waits for)."""

    def __init__(self, max_sessions: int) -> None:
        self.max_sessions = max_sessions
        self.active = 0
        self.running = 0
        self.draining = False  # unready: a drain has begun
        self.admitting = True  # new sessions are taken (until a drain's admit period is over)
        self._idle = asyncio.Event()
        self._idle.set()

    def refusal(self) -> tuple[str, str] | None:
        """(code, message) if a new session must be refused now, else None."""
        if not self.admitting:
            return "server_draining", "this gateway is shutting down; reconnect to another replica"
        if self.active >= self.max_sessions:
            return "too_many_sessions", f"the gateway is at its limit of {self.max_sessions} sessions"
        return None

    def opened(self) -> Slot:
        self.active += 1
        self.running += 1
        self._idle.clear()
        metrics.SESSIONS.inc()
        metrics.ACTIVE_SESSIONS.set(self.active)
        return Slot(self)

    def finished(self, slot: Slot) -> None:
        """The pipeline has ended (its slot is freed too, if the caller's leaving had not already)."""
        slot.release()
        self.running -= 1
        if self.running == 0:
            self._idle.set()

    async def drain(self, timeout_s: float, admit_s: float = 0.0) -> int:
        """Turn unready, keep admitting sessions for ``admit_s``, then refuse new ones and wait for the
        running ones to end, ``timeout_s`` in all (the admit period included); returns those left."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        self.draining = True
        if admit_s > 0 and self.admitting:
            await asyncio.sleep(min(admit_s, timeout_s))
        self.admitting = False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), max(deadline - loop.time(), 0.0))
        return self.running
