"""What every fuzz suite checks on the real server it fuzzes, and the JSON it generates.

A server under fuzz must answer with its own errors and never fail: ``/health`` answers after
each example, its session gauge is back to 0 once the clients are gone, and its log gains no
traceback. One ``WatchedServer`` per module follows the module's server; only log lines written
since the previous check are read, so a traceback fails the one example that caused it.
"""

from __future__ import annotations

import json
import time

import httpx
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from support import metric_value
from voice_agent.processes import ServiceProcess

TIMEOUT_S = 60.0
# Bounded: each module runs in well under a minute of server time; failing inputs are printed, not stored.
FUZZ = settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
hostile_json_texts = st.one_of(
    st.integers(1, 100_000).map(lambda depth: "[" * depth),
    st.integers(4000, 20_000).map(lambda digits: '{"type": "start", "sample_rate": ' + "7" * digits + "}"),
    st.text(max_size=200),
)


class WatchedServer:
    """One server as a fuzz module sees it: URLs, an HTTP client, its session gauge and its log."""

    def __init__(self, server: ServiceProcess, http: httpx.Client, session_gauge: str) -> None:
        self.server = server
        self.http = http
        self.session_gauge = session_gauge
        self.log_offset = server.log_path.stat().st_size  # earlier tests' lines are not this module's

    def open_ws(self, path: str) -> ClientConnection:
        url = self.server.spec.base_url.replace("http://", "ws://", 1) + path
        return connect(url, open_timeout=TIMEOUT_S, close_timeout=TIMEOUT_S, max_size=None, compression=None, proxy=None)

    def sessions(self) -> float:
        return metric_value(self.http.get("/metrics").text, self.session_gauge)

    def assert_healthy(self, sessions_left: bool) -> None:
        """Alive, no traceback logged, and (after WebSocket examples) no session left open."""
        assert self.http.get("/health").status_code == 200
        if sessions_left:
            deadline = time.monotonic() + 5.0  # a closed session is released a moment after the close
            while (active := self.sessions()) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert active == 0, f"{active:g} sessions still open after their clients left"
        log = self.server.log_path.read_bytes()
        new, self.log_offset = log[self.log_offset :], len(log)
        if b"Traceback" in new:
            excerpt = new[new.index(b"Traceback") - 300 :][:4000].decode(errors="replace")
            pytest.fail(f"the server logged a traceback:\n{excerpt}")


def assert_error_event(event: dict) -> None:
    assert isinstance(event.get("code"), str) and event["code"], event
    assert isinstance(event.get("message"), str) and event["message"], event


def send_all(ws: ClientConnection, frames: list[str | bytes]) -> None:
    for frame in frames:
        try:
            ws.send(frame)
        except ConnectionClosed:  # the server may close (1009) while frames are still going out
            return


def receive_for(ws: ClientConnection, seconds: float) -> list[str | bytes]:
    """What the server sends within ``seconds`` (or until it closes)."""
    received, deadline = [], time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            received.append(ws.recv(timeout=left))
        except TimeoutError:
            break
        except ConnectionClosed:
            break
    return received


def json_events(received: list[str | bytes]) -> list[dict]:
    """The text messages, each of which must be a JSON object."""
    events = [json.loads(message) for message in received if isinstance(message, str)]
    assert all(isinstance(event, dict) for event in events), events
    return events
