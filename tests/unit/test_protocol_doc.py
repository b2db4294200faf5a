"""docs/protocol-reference.md is generated from the wire models, and docs/protocols.md agrees with them.

protocols.md is prose with JSON examples; each example must use a declared ``type`` and only that
message's fields (turn_metrics: all of them), every declared message must be shown there, and
the close codes it names must be the protocol's.
"""

from __future__ import annotations

import re
from pathlib import Path

import protocol_doc  # the generator, from scripts/ (on pytest's pythonpath)
from voice_common.protocol import constants, errors, gateway, stt, tts
from voice_common.protocol.message import WireMessage

PROSE = (Path(__file__).resolve().parents[2] / "docs" / "protocols.md").read_text()
TYPED: list[type[WireMessage]] = [
    *stt.CLIENT_MESSAGES, *stt.SERVER_MESSAGES, *tts.CLIENT_MESSAGES, *tts.SERVER_MESSAGES,
    *gateway.CALLER_MESSAGES, *gateway.EVENTS, errors.ErrorEvent,
]


def _examples(text: str, opening: str) -> list[str]:
    """Every JSON example in ``text`` that starts with ``opening``, up to its matching brace."""
    found = []
    for start in (match.start() for match in re.finditer(re.escape(opening), text)):
        depth = 0
        for end in range(start, len(text)):
            depth += {"{": 1, "}": -1}.get(text[end], 0)
            if depth == 0:
                found.append(text[start : end + 1])
                break
    return found


def _fields(type_name: str) -> set[str]:
    return {name for message in TYPED if message.type_name() == type_name for name in message.model_fields}


def test_the_protocol_reference_is_generated_from_the_models() -> None:
    assert protocol_doc.main(["--check"]) == 0, "run `make protocol-doc` and commit docs/protocol-reference.md"


def test_every_example_in_protocols_md_is_a_declared_message_with_its_fields() -> None:
    examples = _examples(PROSE, '{"type": "')
    assert len(examples) > 20
    for example in examples:
        type_name = re.match(r'\{"type": "(\w+)"', example)[1]
        keys = set(re.findall(r'"(\w+)":', example))
        assert _fields(type_name), f"protocols.md shows an undeclared message type: {example}"
        assert keys <= _fields(type_name), f"{example}: {sorted(keys - _fields(type_name))} not in the model"


def test_protocols_md_shows_turn_metrics_with_every_field() -> None:
    (example,) = _examples(PROSE, '{"type": "turn_metrics"')
    assert set(re.findall(r'"(\w+)":', example)) == {"type", *gateway.TURN_METRICS_FIELDS}


def test_protocols_md_shows_every_declared_message() -> None:
    shown = set(re.findall(r'\{"type": "(\w+)"', PROSE))
    assert {message.type_name() for message in TYPED} - {None} <= shown  # None: the TTS speak request


def test_the_tts_speak_example_uses_the_models_fields() -> None:
    (example,) = _examples(PROSE, '{"text": "')
    declared = set(tts.SpeakMessage.model_fields) | set(tts.SpeakConfig.model_fields)
    assert set(re.findall(r'"(\w+)":', example)) <= declared


def test_protocols_md_names_only_the_protocols_close_codes_and_end_marker() -> None:
    named = {int(code) for code in re.findall(r"\b(1\d{3})\b", PROSE) if code.startswith("10")}
    assert named and named <= set(constants.CLOSE_CODES), sorted(named - set(constants.CLOSE_CODES))
    assert f"`{constants.END_OF_SPEECH}`" in PROSE
    assert f"{constants.TTS_SAMPLE_RATE // 1000} kHz" in PROSE and f"{constants.CALLER_SAMPLE_RATE // 1000} kHz" in PROSE
