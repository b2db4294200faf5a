"""States a healthy real server cannot be put in: before the model is ready (``not_ready``, checked
in-process without the model), a synthesis that fails (``synthesis_failed``), and weights that
do not load (the real process exits instead of staying alive and never ready)."""

from __future__ import annotations

import signal
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect
from support import LOG_DIR, free_port

from voice_agent.processes import ServiceProcess, ServiceSpec, python_module
from voice_tts.app import create_app
from voice_tts.settings import TTSSettings


class BrokenKokoro:
    def create(self, *args: object, **kwargs: object) -> None:
        raise RuntimeError("synthesizer exploded")


def app_without_model():
    # TestClient outside a `with` block does not run the lifespan: the model never loads.
    return create_app(TTSSettings(model_path="/nonexistent", warmup=False))


def test_before_the_model_is_ready_everything_says_not_ready():
    client = TestClient(app_without_model())
    assert client.get("/health").status_code == 200
    assert client.get("/ready").status_code == 503
    for response in (client.post("/v1/audio/speech", json={"input": "Hi."}), client.get("/v1/audio/voices")):
        assert response.status_code == 503 and response.json()["error"]["code"] == "not_ready", response.text
    with client.websocket_connect("/ws") as ws:
        assert ws.receive_json()["code"] == "not_ready"
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
        assert closed.value.code == 1013


def test_a_failing_synthesis_is_reported_and_the_session_goes_on():
    app = app_without_model()
    engine = app.state.engine
    engine._kokoro, engine._session = BrokenKokoro(), SimpleNamespace(thread=SimpleNamespace())
    engine.voices, engine.ready = ["af_heart"], True
    with TestClient(app).websocket_connect("/ws") as ws:
        for _ in range(2):
            ws.send_text("Hello.")
            event = ws.receive_json()
            assert (event["type"], event["code"]) == ("error", "synthesis_failed"), event


@pytest.mark.slow
def test_weights_that_do_not_load_end_the_process():
    port = free_port()
    spec = ServiceSpec(
        f"tts-broken-{port}", python_module("voice_tts"), port,
        env={"TTS_HOST": "127.0.0.1", "TTS_PORT": str(port), "TTS_VOICES_PATH": "/nonexistent/voices.bin"},
    )
    proc = ServiceProcess(spec, LOG_DIR)
    try:
        with pytest.raises(RuntimeError, match="before it was ready"):
            proc.wait_ready(120)
        # Stopped through uvicorn's shutdown by SIGTERM (a shell reports 143), the cause in the log.
        assert proc.process.returncode == -signal.SIGTERM
        assert "Voices file not found at /nonexistent/voices.bin" in proc.tail_log(60)
    finally:
        proc.stop()
