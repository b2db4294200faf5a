"""`helm test`: the pod that puts one spoken turn through the gateway, its script and its audio; NOTES."""

from __future__ import annotations

import base64
import importlib.util
import json
import shutil
from urllib.parse import urlsplit

import numpy as np
import pytest
import yaml

from chart_support import CHART, RELEASE, helm

FILES = CHART / "files"


@pytest.fixture(scope="module")
def turn_test():
    spec = importlib.util.spec_from_file_location("turn_test", FILES / "turn_test.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_test_pod_is_a_helm_test_hook_that_calls_the_gateway_service(manifest):
    pod = manifest.component("Pod", "test")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert pod["spec"]["restartPolicy"] == "Never"
    command = pod["spec"]["containers"][0]["command"]
    assert command[:2] == ["python", "/test/turn_test.py"]
    url = urlsplit(command[command.index("--url") + 1])
    service = manifest.component("Service", "gateway")
    assert (url.scheme, url.hostname, url.path) == ("ws", service["metadata"]["name"], "/ws")
    assert url.port == service["spec"]["ports"][0]["port"]
    expected = [command[i + 1] for i, word in enumerate(command) if word == "--expect"]
    assert expected == ["capital", "france"]


def test_test_configmap_carries_the_script_and_the_recording(manifest):
    config = manifest.component("ConfigMap", "test")
    assert config["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert int(config["metadata"]["annotations"]["helm.sh/hook-weight"]) < 0, "created before the pod"
    assert config["data"]["turn_test.py"] == (FILES / "turn_test.py").read_text().rstrip("\n")
    assert base64.b64decode(config["binaryData"]["utterance.pcm"]) == (FILES / "utterance.pcm").read_bytes()
    pod = manifest.component("Pod", "test")
    volume = next(v for v in pod["spec"]["volumes"] if v["name"] == "test")
    assert volume["configMap"]["name"] == config["metadata"]["name"]


def test_recording_is_a_spoken_question_at_16_khz():
    pcm = (FILES / "utterance.pcm").read_bytes()
    assert len(pcm) % 2 == 0
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768
    seconds = samples.size / 16000
    assert 1.0 < seconds < 5.0, seconds
    rms_db = 20 * np.log10(np.sqrt(np.mean(samples**2)) + 1e-9)
    assert rms_db > -35, f"{rms_db:.1f} dBFS: not speech"
    assert (FILES / "utterance.pcm").stat().st_size < 200_000, "keep the chart small"


def event(kind: str, **fields) -> dict:
    return {"type": kind, **fields}


def good_turn(turn_test):
    turn = turn_test.Turn()
    for message in (
        json.dumps(event("ready", session_id="s")),
        json.dumps(event("transcript", text="What is the capital of France?", final=True)),
        json.dumps(event("bot_text", text="Paris is the capital.")),
        bytes(24000 * 2),  # one second of reply audio
        json.dumps(event("turn_metrics", turn=1, stt_ms=210.0, llm_ttft_ms=90.0, tts_ttfb_ms=80.0, mouth_to_ear_ms=450.0)),
    ):
        turn.take(message)
    return turn


def test_turn_check_passes_a_complete_turn(turn_test):
    turn = good_turn(turn_test)
    assert turn.done.is_set(), "turn_metrics ends the wait"
    assert turn_test.check(turn, ["capital", "france"]) == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda t: t.events.__setitem__(1, event("transcript", text="what is the", final=True)), "lacks ['capital', 'france']"),
        (lambda t: t.events.__delitem__(2), "no LLM text"),
        (lambda t: setattr(t, "audio_bytes", 1000), "bytes of reply audio"),
        (lambda t: t.events.pop(), "no turn_metrics"),
        (lambda t: t.events.append(event("error", code="upstream_unavailable", service="llm")), "gateway error"),
    ],
)
def test_turn_check_names_what_is_missing(turn_test, change, problem):
    turn = good_turn(turn_test)
    change(turn)
    problems = turn_test.check(turn, ["capital", "france"])
    assert any(problem in p for p in problems), problems


def test_notes_tell_how_to_reach_and_test_the_release(tmp_path):
    """NOTES.txt rendered through a copy of the chart (helm template does not render NOTES)."""
    chart = tmp_path / "voice-agent"
    shutil.copytree(CHART, chart)
    (chart / "files" / "NOTES.txt").write_text((chart / "templates" / "NOTES.txt").read_text())
    (chart / "templates" / "NOTES.txt").unlink()
    (chart / "templates" / "notes.yaml").write_text('notes: {{ tpl (.Files.Get "files/NOTES.txt") . | toJson }}\n')

    def notes(*args: str) -> str:
        out = helm("template", RELEASE, str(chart), "--show-only", "templates/notes.yaml", *args)
        return yaml.safe_load(out)["notes"]

    cpu = notes("-f", str(CHART / "ci" / "cpu-values.yaml"))
    assert "ws://localhost:7860/ws" in cpu and f"helm test {RELEASE}" in cpu
    production = notes("-f", str(CHART / "ci" / "production-values.yaml"))
    assert "wss://voice.example.com/ws" in production
    assert "base64 -d" in production, "how to read the caller token"
    assert "prometheus-adapter" in production
    assert "vLLM serving google/gemma-3-1b-it" in production
    rwo = notes("--set", "models.source=pvc")
    assert "ReadWriteOnce" in rwo
