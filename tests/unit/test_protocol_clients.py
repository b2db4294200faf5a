"""The clients that cannot import the Python protocol speak it by the same names.

The browser client (gateway/voice_gateway/static), k6's loadtest/voice.js and the chart's
``helm test`` script (charts/voice-agent/files/turn_test.py, which runs in a bare Python image)
spell event types, turn_metrics fields, rates and close codes as literals. Each literal they use
must be one ``voice_common.protocol`` declares, so renaming a field in the model fails here
instead of silently blanking a column in the browser or a threshold in k6.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from voice_common.protocol import constants, gateway

REPO = Path(__file__).resolve().parents[2]
STATIC = REPO / "gateway" / "voice_gateway" / "static"
BROWSER = {path.name: path.read_text() for path in sorted(STATIC.glob("*.js"))}
K6 = (REPO / "loadtest" / "voice.js").read_text()
HELM_TEST = (REPO / "charts" / "voice-agent" / "files" / "turn_test.py").read_text()

# What the browser adds to a turn_metrics event for its latency table (call.js #clientTiming).
CLIENT_SIDE_FIELDS = {"client_mouth_to_ear_ms", "network_ms"}
# The browser's own close status for "no status received"; it is never sent on the wire.
BROWSER_ONLY_CLOSE_CODES = {1005}
EVENT_FIELDS = {name for event in gateway.EVENTS for name in event.model_fields}
CALLER_TYPES = {message.type_name() for message in gateway.CALLER_MESSAGES}


def _all(pattern: str, *texts: str) -> set[str]:
    return {match for text in texts for match in re.findall(pattern, text)}


def _object_keys(name: str, text: str) -> set[str]:
    """The keys of ``const NAME = { key: ..., ... };`` in a JS file."""
    body = re.search(rf"const {name} = \{{(.*?)\n\}};", text, re.DOTALL)
    assert body, f"no object {name}"
    return set(re.findall(r"^\s*(\w+):", body[1], re.MULTILINE))


def _checked(found: set[str], declared: set[str] | frozenset[str]) -> None:
    assert found, "the pattern matched nothing: the client changed shape, update this test"
    assert found <= declared, f"not in voice_common.protocol: {sorted(found - declared)}"


def test_the_browser_handles_only_event_types_the_gateway_declares() -> None:
    code = "\n".join(BROWSER.values())
    found = _all(r"\.type === \"(\w+)\"", code) | _all(r"case \"(\w+)\":", BROWSER["call.js"])
    _checked(found | _object_keys("PROGRESS", BROWSER["app.js"]), gateway.EVENT_TYPES)


def test_the_browser_reads_only_fields_the_events_declare() -> None:
    _checked(_all(r"\bevent\.(\w+)", BROWSER["app.js"], BROWSER["call.js"]), EVENT_FIELDS)


def test_the_browsers_latency_table_shows_turn_metrics_fields() -> None:
    table = BROWSER["latency-table.js"]
    keys = _all(r'key: "(\w+)"', table)
    _checked(keys - CLIENT_SIDE_FIELDS, set(gateway.TURN_METRICS_FIELDS))
    assert CLIENT_SIDE_FIELDS <= keys and not CLIENT_SIDE_FIELDS & set(gateway.TURN_METRICS_FIELDS)
    _checked(_all(r"\bturn\.(\w+)", table), set(gateway.TURN_METRICS_FIELDS))


def test_the_browser_sends_only_caller_messages_the_gateway_takes() -> None:
    _checked(_all(r'type: "(\w+)"', BROWSER["call.js"]), CALLER_TYPES)


def test_k6_handles_only_declared_events_and_turn_metrics_fields() -> None:
    _checked(_all(r"event\.type === '(\w+)'", K6), gateway.EVENT_TYPES)
    _checked(_all(r"\bserver\.(\w+)", K6), set(gateway.TURN_METRICS_FIELDS))


def test_the_helm_test_checks_declared_events_and_turn_metrics_fields() -> None:
    found = _all(r'"type"\) == "(\w+)"', HELM_TEST) | _all(r'first\("(\w+)"\)', HELM_TEST)
    found |= {name for group in re.findall(r'"type"\) in \(([^)]*)\)', HELM_TEST) for name in re.findall(r'"(\w+)"', group)}
    _checked(found, gateway.EVENT_TYPES)
    latencies = re.search(r"metrics\.get\(k\), \(int, float\)\) for k in \(([^)]*)\)", HELM_TEST)
    assert latencies, "the helm test no longer checks turn_metrics latencies by name"
    _checked(set(re.findall(r'"(\w+)"', latencies[1])), set(gateway.TURN_METRICS_FIELDS))


@pytest.mark.parametrize(
    ("text", "name", "value"),
    [
        (BROWSER["microphone.js"], "CALLER_RATE", constants.CALLER_SAMPLE_RATE),
        (BROWSER["player.js"], "REPLY_RATE", constants.TTS_SAMPLE_RATE),
        (K6, "CALLER_RATE", constants.CALLER_SAMPLE_RATE),
        (K6, "REPLY_RATE", constants.TTS_SAMPLE_RATE),
        (HELM_TEST, "IN_RATE", constants.CALLER_SAMPLE_RATE),
        (HELM_TEST, "OUT_RATE", constants.TTS_SAMPLE_RATE),
    ],
)
def test_the_clients_audio_rates_are_the_protocols(text: str, name: str, value: int) -> None:
    match = re.search(rf"\b{name} = (\d+)", text)
    assert match and int(match[1]) == value, f"{name} should be {value}"


def test_the_browser_uses_only_the_stacks_close_codes() -> None:
    code = "\n".join(BROWSER.values())
    found = {int(n) for n in _all(r"close\((\d{4})", code) | _all(r"code === (\d{4})", code)}
    _checked(found, set(constants.CLOSE_CODES) | BROWSER_ONLY_CLOSE_CODES)
