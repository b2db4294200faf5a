"""The one bounded JSON parser: every hostile input is a MessageError with a stable code, never another exception."""

import pytest

from voice_common.protocol.parsing import MAX_DEPTH, MessageError, parse_json_object


@pytest.mark.parametrize(
    "data, code",
    [
        ("[" * 60_000, "invalid_json"),  # RecursionError inside json.loads
        ("[" * 100_000, "message_too_large"),
        ("{" * 60_000, "invalid_json"),
        ('{"n": ' + "1" * 4301 + "}", "invalid_json"),  # ValueError: int-to-str digit limit
        (b"\xff\xfe{}", "invalid_json"),  # not UTF-8
        ("not json", "invalid_json"),
        ("", "invalid_json"),
        ('{"a": ' * (MAX_DEPTH + 1) + "1" + "}" * (MAX_DEPTH + 1), "invalid_json"),
        ("[1, 2]", "bad_message"),
        ('"text"', "bad_message"),
        ("null", "bad_message"),
        ('{"pad": "' + "x" * 70_000 + '"}', "message_too_large"),
    ],
)
def test_hostile_input_is_a_coded_message_error(data, code):
    with pytest.raises(MessageError) as error:
        parse_json_object(data)
    assert error.value.code == code and error.value.message


def test_objects_parse_and_brackets_inside_strings_do_not_count_as_nesting():
    assert parse_json_object('{"type": "speak", "text": "' + "[" * 50 + '"}')["text"] == "[" * 50
    assert parse_json_object(b'{"a": {"b": [1, {"c": "\\\\"}]}}') == {"a": {"b": [1, {"c": "\\"}]}}


def test_the_size_limit_is_in_utf8_bytes():
    with pytest.raises(MessageError):
        parse_json_object('{"t": "' + "é" * 40 + '"}', max_bytes=64)
