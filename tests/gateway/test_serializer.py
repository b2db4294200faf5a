"""Unit tests of the raw-PCM serializer: malformed caller input becomes an error frame, never an exception."""

import json

import pytest
from pipecat.frames.frames import InputAudioRawFrame, InterruptionFrame, OutputAudioRawFrame, OutputTransportMessageUrgentFrame

from voice_gateway.serializer import ClientProtocolErrorFrame, RawPCMSerializer


@pytest.fixture
def serializer():
    return RawPCMSerializer(max_frame_bytes=1024)


async def test_audio_frames_become_16k_input_audio(serializer):
    frame = await serializer.deserialize(b"\x01\x00" * 160)
    assert isinstance(frame, InputAudioRawFrame)
    assert (frame.sample_rate, frame.num_channels, len(frame.audio)) == (16000, 1, 320)


@pytest.mark.parametrize(
    "data, code",
    [
        (b"\x00" * 321, "odd_length_frame"),
        (b"\x00" * 2048, "frame_too_large"),
        ("not json", "invalid_json"),
        ('["a list"]', "bad_message"),
        ('{"type": "dance"}', "unknown_type"),
        ('{"type": "start", "sample_rate": 8000}', "unsupported_sample_rate"),
        # hostile JSON that made json.loads raise something other than JSONDecodeError
        ("[" * 60_000, "invalid_json"),
        ("[" * 100_000, "message_too_large"),
        ('{"type": "start", "sample_rate": ' + "9" * 5000 + "}", "invalid_json"),
        ('{"type": 7}', "bad_message"),
        ('{"pad": "' + "x" * 70_000 + '"}', "message_too_large"),
    ],
)
async def test_bad_input_becomes_an_error_frame(serializer, data, code):
    frame = await serializer.deserialize(data)
    assert isinstance(frame, ClientProtocolErrorFrame)
    assert frame.code == code and frame.message


async def test_start_at_16k_is_accepted(serializer):
    assert await serializer.deserialize('{"type": "start", "sample_rate": 16000}') is None


async def test_outgoing_audio_events_and_interruptions(serializer):
    assert await serializer.serialize(OutputAudioRawFrame(b"\x01\x02", 24000, 1)) == b"\x01\x02"
    assert json.loads(await serializer.serialize(InterruptionFrame())) == {"type": "interruption"}
    message = OutputTransportMessageUrgentFrame(message={"type": "transcript", "text": "hi"})
    assert json.loads(await serializer.serialize(message)) == {"type": "transcript", "text": "hi"}
    rtvi = OutputTransportMessageUrgentFrame(message={"label": "rtvi-ai", "type": "bot-ready"})
    assert await serializer.serialize(rtvi) is None


async def test_protobuf_garbage_is_reported_not_raised():
    from pipecat.frames.protobufs import frames_pb2

    from voice_gateway.serializer import SafeProtobufSerializer

    serializer = SafeProtobufSerializer()
    assert (await serializer.deserialize(b"\xff\xfe garbage")).code == "invalid_frame"
    assert (await serializer.deserialize("text")).code == "invalid_frame"
    proto = frames_pb2.Frame()
    proto.audio.audio, proto.audio.sample_rate, proto.audio.num_channels = b"\x00\x00" * 160, 48000, 1
    assert (await serializer.deserialize(proto.SerializeToString())).code == "unsupported_sample_rate"
    proto.audio.sample_rate = 16000
    frame = await serializer.deserialize(proto.SerializeToString())
    assert isinstance(frame, InputAudioRawFrame) and frame.sample_rate == 16000
