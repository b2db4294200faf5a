"""The CPU images for real: seeded weights, four containers as the chart runs them, one spoken turn.

Run by `make test-images` (which builds the images first); skipped unless VOICE_TEST_IMAGES=1.
Containers get what the chart's cpu scenario gives its pods — the same command, environment,
non-root user, read-only root filesystem with a /tmp tmpfs, no capabilities — with host
networking (the CI's dockerd has no bridge) and free ports instead of the fixed ones. The
weights volume is filled by the models image running the chart's own init script, and the turn
is put through by the chart's own `helm test` script, run in the gateway image.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from chart_support import CHART, env_of, render

REPO = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.images,
    pytest.mark.skipif(os.environ.get("VOICE_TEST_IMAGES") != "1", reason="builds/runs images: `make test-images`"),
]

DOCKER = os.environ.get("VOICE_DOCKER", "docker")
PREFIX = os.environ.get("VOICE_IMAGE_PREFIX", "voice-agent")
TAG = os.environ.get("VOICE_IMAGE_TAG", "0.1.0")
IMAGES = ("gateway", "stt", "tts", "llm-cpu", "models")
# What the chart's pod and container securityContexts amount to for `docker run`.
HARDENED = ["--read-only", "--tmpfs", "/tmp:rw,exec,size=1g", "--cap-drop", "ALL",
            "--security-opt", "no-new-privileges", "--user", "10001:10001", "--network", "host"]


def image(name: str) -> str:
    return f"{PREFIX}/{name}:{TAG}"


def docker(*args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([DOCKER, *args], capture_output=True, text=True, timeout=timeout, check=check)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def manifest():
    return render("cpu")


@pytest.fixture(scope="module")
def weights(manifest, tmp_path_factory) -> Path:
    """A weights volume filled by the models image with the chart's init-step script, as uid 10001."""
    volume = tmp_path_factory.mktemp("models")
    volume.chmod(0o777)
    seed = manifest.pod_spec("stt")["initContainers"][0]
    dirs = sorted({d for c in ("stt", "tts", "llm") for d in manifest.pod_spec(c)["initContainers"][0]["args"][2:]})
    for attempt in ("copied", "present"):  # the second run finds everything and copies nothing
        proc = docker("run", "--rm", *HARDENED, "-e", "HOSTNAME=seed", "-v", f"{volume}:/models",
                      "--entrypoint", seed["command"][0], image("models"), *seed["command"][1:], seed["args"][0],
                      "seed-models", *dirs)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.count(f": {attempt}") == len(dirs), proc.stdout
    return volume


class Container:
    def __init__(self, name: str, ready_url: str) -> None:
        self.name, self.ready_url = name, ready_url

    def logs(self) -> str:
        proc = docker("logs", "--tail", "40", self.name, check=False)
        return proc.stdout + proc.stderr

    def wait_ready(self, timeout_s: float = 300) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            state = docker("inspect", "-f", "{{.State.Running}}", self.name, check=False).stdout.strip()
            if state != "true":
                raise AssertionError(f"{self.name} exited:\n{self.logs()}")
            try:
                if httpx.get(self.ready_url, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(1)
        raise AssertionError(f"{self.name} not ready at {self.ready_url} after {timeout_s} s:\n{self.logs()}")


def start(manifest, component: str, weights: Path, env: dict[str, str], command: list[str]) -> Container:
    """Run ``component``'s image the way the chart's Deployment runs it."""
    container = manifest.container(component)
    name = f"va-{component}-{uuid.uuid4().hex[:6]}"
    merged = {k: v for k, v in env_of(container).items() if isinstance(v, str)} | env
    args = ["run", "-d", "--name", name, *HARDENED]
    if any(m["name"] == "models" for m in container["volumeMounts"]):
        args += ["-v", f"{weights}:/models:ro"]
    for key, value in merged.items():
        args += ["-e", f"{key}={value}"]
    repository = container["image"].rsplit(":", 1)[0].rsplit("/", 1)[-1]
    docker(*args, "--entrypoint", command[0], image(repository), *command[1:])
    port = next(v for k, v in env.items() if k.endswith("_PORT"))
    # every server, llama.cpp's included, has an HTTP readiness path (the LLM's /health)
    return Container(name, f"http://127.0.0.1:{port}{container['readinessProbe']['httpGet']['path']}")


@pytest.fixture(scope="module")
def stack(manifest, weights) -> Iterator[dict[str, int]]:
    """STT, TTS, LLM and gateway containers; yields their ports."""
    ports = {c: free_port() for c in ("stt", "tts", "llm", "gateway")}
    started: list[Container] = []
    try:
        started.append(start(manifest, "stt", weights, {"STT_HOST": "127.0.0.1", "STT_PORT": str(ports["stt"])},
                             manifest.container("stt")["command"]))
        started.append(start(manifest, "tts", weights, {"TTS_HOST": "127.0.0.1", "TTS_PORT": str(ports["tts"])},
                             manifest.container("tts")["command"]))
        started.append(start(manifest, "llm", weights, {"LLM_HOST": "127.0.0.1", "LLM_PORT": str(ports["llm"])},
                             manifest.container("llm")["command"]))
        for container in started:
            container.wait_ready()
        gateway_env = {
            "GATEWAY_HOST": "127.0.0.1", "GATEWAY_PORT": str(ports["gateway"]),
            "GATEWAY_STT_URL": f"ws://127.0.0.1:{ports['stt']}/v1/listen",
            "GATEWAY_TTS_URL": f"ws://127.0.0.1:{ports['tts']}/ws",
            "GATEWAY_LLM_BASE_URL": f"http://127.0.0.1:{ports['llm']}/v1",
        }
        gateway = start(manifest, "gateway", weights, gateway_env, manifest.container("gateway")["command"])
        started.append(gateway)
        gateway.wait_ready(120)
        yield ports
    finally:
        for container in started:
            if os.environ.get("VOICE_TEST_IMAGES_KEEP") != "1":
                docker("rm", "-f", container.name, check=False)


def test_images_exist_and_run_as_non_root():
    for name in IMAGES:
        config = json.loads(docker("image", "inspect", image(name)).stdout)[0]["Config"]
        assert config["User"] == "10001:10001", (name, config["User"])


def test_the_llm_image_holds_voice_llm_and_only_its_dependencies():
    """xllamacpp's prebuilt llama.cpp (its libgomp.so.1 found), voice_llm's settings; none of the other servers' stacks."""
    check = ("import importlib.util as u, xllamacpp, voice_llm.params; "
             "print(sorted(m for m in ('pipecat', 'faster_whisper', 'onnxruntime', 'kokoro_onnx', 'fastapi') if u.find_spec(m)))")
    proc = docker("run", "--rm", *HARDENED, "--entrypoint", "python", image("llm-cpu"), "-c", check, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]", proc.stdout


@pytest.mark.parametrize(("name", "package", "foreign"), [
    ("gateway", "voice_gateway", ("faster_whisper", "ctranslate2", "kokoro_onnx", "xllamacpp")),
    ("stt", "voice_stt", ("pipecat", "kokoro_onnx", "xllamacpp")),
    ("tts", "voice_tts", ("pipecat", "faster_whisper", "ctranslate2", "xllamacpp")),
])
def test_each_server_image_holds_its_own_lock_only(name: str, package: str, foreign: tuple[str, ...]):
    """Each image's venv is its lock (requirements/<name>.txt): every module of its server imports, and
    no other component's stack is there; pip finds nothing missing."""
    check = ("import importlib, importlib.util as u, pkgutil, sys; "
             f"m = importlib.import_module({package!r}); "
             "[importlib.import_module(i.name) for i in pkgutil.walk_packages(m.__path__, m.__name__ + '.')]; "
             f"print(sorted(f for f in {list(foreign)!r} if u.find_spec(f)))")
    proc = docker("run", "--rm", *HARDENED, "--entrypoint", "python", image(name), "-c", check, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "[]", proc.stdout
    pip = docker("run", "--rm", *HARDENED, "-e", "PIP_DISABLE_PIP_VERSION_CHECK=1", "--entrypoint", "python", image(name),
                 "-m", "pip", "check", check=False)
    assert pip.returncode == 0, pip.stdout + pip.stderr


def test_one_spoken_turn_through_the_containers(manifest, stack):
    """The chart's helm test, run in the gateway image against the gateway container."""
    test_pod = manifest.component("Pod", "test")["spec"]["containers"][0]["command"]
    command = list(test_pod)
    command[command.index("--url") + 1] = f"ws://127.0.0.1:{stack['gateway']}/ws"
    command[command.index("--audio") + 1] = "/test/utterance.pcm"
    proc = docker("run", "--rm", *HARDENED, "-v", f"{CHART / 'files'}:/test:ro",
                  "--entrypoint", command[0], image("gateway"), *command[1:], timeout=300, check=False)
    print(proc.stdout)
    assert proc.returncode == 0 and "PASS" in proc.stdout, proc.stdout + proc.stderr
    summary = json.loads(proc.stdout[: proc.stdout.rindex("}") + 1])
    assert summary["reply_audio_seconds"] > 0.5 and summary["reply"].strip()

    metrics = httpx.get(f"http://127.0.0.1:{stack['gateway']}/metrics", timeout=5).text
    assert "voice_turns_total 1.0" in metrics
    ready = httpx.get(f"http://127.0.0.1:{stack['gateway']}/ready", timeout=5).json()
    assert all(ready["upstreams"].values()), ready
    llm_metrics = httpx.get(f"http://127.0.0.1:{stack['llm']}/metrics", timeout=5).text  # the ServiceMonitor's path
    assert "llamacpp:tokens_predicted_total" in llm_metrics, llm_metrics[:500]
