"""States a healthy real server cannot be put in: before the model is ready (``not_ready``, checked
in-process without the model), a synthesis that fails (``synthesis_failed``), a bug in the session
(``internal_error`` and close 1011), and weights that do not load (the real process exits instead
of staying alive and never ready)."""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from voice_agent.processes import ServiceProcess, ServiceSpec, python_module
from voice_testkit.services import LOG_DIR, free_port
from voice_tts.app import create_app
from voice_tts.settings import TTSSettings


class BrokenKokoro:
    """Phonemizes, then fails in the model call."""

    tokenizer = SimpleNamespace(phonemize=lambda text, lang: "hˈɛloʊ.")

    def create(self, *args: object, **kwargs: object) -> None:
        raise RuntimeError("synthesizer exploded")


def app_without_model(**settings: object):
    # TestClient outside a `with` block does not run the lifespan: the model never loads.
    return create_app(TTSSettings(model_path="/nonexistent", warmup=False, **settings))


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


def app_with_broken_model(**settings: object):
    app = app_without_model(**settings)
    engine = app.state.engine
    engine._kokoro, engine._session = BrokenKokoro(), SimpleNamespace(thread=SimpleNamespace())
    engine.voices, engine.ready = ["af_heart"], True
    return app


def test_a_failing_synthesis_is_reported_and_the_session_goes_on():
    with TestClient(app_with_broken_model()).websocket_connect("/ws") as ws:
        for _ in range(2):
            ws.send_text("Hello.")
            event = ws.receive_json()
            assert (event["type"], event["code"]) == ("error", "synthesis_failed"), event


@pytest.mark.parametrize("stream", [True, False])
def test_a_model_that_fails_on_the_first_chunk_gets_a_500_not_a_cut_200(stream):
    response = TestClient(app_with_broken_model()).post("/v1/audio/speech", json={"input": "Hello.", "stream": stream})
    assert response.status_code == 500, response.status_code
    assert response.json()["error"]["code"] == "synthesis_failed", response.text


def active_sessions(client: TestClient) -> float:
    line = next(line for line in client.get("/metrics").text.splitlines() if line.startswith("tts_active_sessions "))
    return float(line.split()[1])


def test_sessions_beyond_the_limit_are_refused_with_too_many_sessions_and_1013():
    client = TestClient(app_with_broken_model(max_sessions=1))
    with client.websocket_connect("/ws") as held:
        held.send_text("Hello.")
        assert held.receive_json()["code"] == "synthesis_failed"  # admitted: the session answers
        assert active_sessions(client) == 1 and client.get("/ready").json()["active_sessions"] == 1
        with client.websocket_connect("/ws") as refused:
            assert refused.receive_json()["code"] == "too_many_sessions"
            with pytest.raises(WebSocketDisconnect) as closed:
                refused.receive_text()
            assert closed.value.code == 1013
    with client.websocket_connect("/ws") as admitted:  # the held session's end freed its place
        admitted.send_text("Hello.")
        assert admitted.receive_json()["code"] == "synthesis_failed"
    assert active_sessions(client) == 0


def test_a_bug_in_the_session_ends_it_with_internal_error_and_a_close_frame():
    app = app_with_broken_model()

    async def buggy_stream(*args: object) -> AsyncIterator[bytes]:
        raise KeyError("a bug, not a synthesis failure")
        yield b""

    app.state.engine.stream = buggy_stream
    with TestClient(app).websocket_connect("/ws") as ws:
        ws.send_text("Hello.")
        event = ws.receive_json()
        assert (event["type"], event["code"]) == ("error", "internal_error"), event
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
        assert closed.value.code == 1011


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
