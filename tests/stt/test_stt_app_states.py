"""States a healthy real server cannot be put in, checked in-process without the model: before
the model is ready (``not_ready``), a decoder that fails (``transcription_failed``), and as many
idle sessions as one gateway replica holds with the default settings."""

from __future__ import annotations

from contextlib import ExitStack
from types import SimpleNamespace
from typing import ClassVar

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from voice_gateway.settings import GatewaySettings
from voice_stt.app import create_app
from voice_stt.settings import STTSettings


class BrokenModel:
    supported_languages: ClassVar[list[str]] = ["en"]
    window = SimpleNamespace(frames=None)

    def transcribe(self, *args: object, **kwargs: object) -> None:
        raise RuntimeError("decoder exploded")


def app_without_model():
    # TestClient outside a `with` block does not run the lifespan: the model never loads.
    return create_app(STTSettings(model_path="/nonexistent", warmup=False))


def test_before_the_model_is_ready_everything_says_not_ready():
    client = TestClient(app_without_model())
    assert client.get("/health").status_code == 200
    assert client.get("/ready").status_code == 503
    response = client.post("/v1/audio/transcriptions", files={"file": ("a.pcm", bytes(320))}, data={"sample_rate": "16000"})
    assert response.status_code == 503 and response.json()["error"]["code"] == "not_ready"
    for path in ("/v1/listen", "/ws"):
        with client.websocket_connect(path) as ws:
            event = ws.receive_json()
            assert event["code"] == "not_ready", event
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_text()
            assert closed.value.code == 1013


def test_a_failing_decode_is_reported_and_the_session_goes_on():
    app = app_without_model()
    engine = app.state.engine
    engine._model, engine.ready = BrokenModel(), True
    speechlike = b"\x00\x40\x00\xc0" * 4000  # loud enough to pass the silence gate and reach the model
    with TestClient(app).websocket_connect("/v1/listen") as ws:
        ws.send_json({"type": "start"})
        assert ws.receive_json()["type"] == "ready"
        ws.send_bytes(speechlike)
        ws.send_json({"type": "flush"})
        event = ws.receive_json()
        assert (event["type"], event["code"], event["segment"]) == ("error", "transcription_failed", 0), event
        ws.send_json({"type": "flush"})
        final = ws.receive_json()
        assert (final["type"], final["text"], final["segment"]) == ("final", "", 1), final


def test_by_default_every_caller_of_a_gateway_replica_gets_a_session():
    """The gateway keeps one /v1/listen session per caller, silent or not; with the old default of
    16, 16 quiet callers locked out everyone else on the replica."""
    app = app_without_model()
    engine = app.state.engine
    engine._model, engine.ready = BrokenModel(), True  # admission and `start` never decode
    callers = GatewaySettings.model_fields["max_sessions"].default
    client = TestClient(app)
    with ExitStack() as held:
        for _ in range(callers + 1):  # and one more: a replica's callers plus a reconnecting one
            ws = held.enter_context(client.websocket_connect("/v1/listen"))
            ws.send_json({"type": "start"})
            assert ws.receive_json()["type"] == "ready"
