"""The chart on a real kubelet: the cpu scenario installed on tools/k8s/node.py's single node.

Run by `make test-kind` (which builds the images, starts the node, loads the images, installs
the release with `helm upgrade --install --wait` and `helm test`, runs these, and tears down);
skipped unless VOICE_TEST_KIND=1. Every assertion is against what really ran: containers on the
node's containerd, a spoken question through the gateway's NodePort from the host (a transcript's
words, non-silent 24 kHz reply audio), an STT pod killed mid-call, and in-cluster DNS.
"""

from __future__ import annotations

import asyncio
import calendar
import json
import os
import subprocess
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from voice_agent.cli import caller_pcm
from voice_agent.client import Caller

REPO = Path(__file__).resolve().parents[2]
KUBECTL = os.environ.get("VOICE_KUBECTL", str(REPO / ".cache/bin/kubectl"))
NAMESPACE = os.environ.get("VOICE_KIND_NAMESPACE", "voice-agent")
RELEASE = os.environ.get("VOICE_KIND_RELEASE", "voice-agent")
NODE = os.environ.get("VOICE_KIND_NODE", "voice-node")
URL = os.environ.get("VOICE_KIND_URL", "ws://10.244.0.1:30786/ws")  # the node IP, the cpu scenario's NodePort
QUESTION = REPO / "samples" / "capital-of-france.wav"
FOLLOW_UP = REPO / "samples" / "tell-me-more.wav"
COMPONENTS = ("stt", "tts", "llm", "gateway")

pytestmark = [
    pytest.mark.skipif(os.environ.get("VOICE_TEST_KIND") != "1" or not os.environ.get("KUBECONFIG"),
                       reason="needs the single-node cluster with the release installed: `make test-kind`"),
    pytest.mark.timeout(600),
]


def kubectl(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    proc = subprocess.run([KUBECTL, *args], capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)}: {proc.stderr}")
    return proc


def get(*args: str) -> dict:
    return json.loads(kubectl("get", "-o", "json", *args).stdout)


def release_pods() -> list[dict]:
    return get("pods", "-n", NAMESPACE, "-l", f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/component")[
        "items"]


def ready(pod: dict) -> bool:
    conditions = {c["type"]: c["status"] for c in pod.get("status", {}).get("conditions", [])}
    return pod["status"].get("phase") == "Running" and conditions.get("Ready") == "True" \
        and not pod["metadata"].get("deletionTimestamp")


def component_pods(component: str) -> list[dict]:
    return [p for p in release_pods() if p["metadata"]["labels"].get("app.kubernetes.io/component") == component]


def wait_until(what: str, predicate, timeout: float, interval: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def audio_checks(pcm: bytes) -> tuple[float, float]:
    """(seconds, RMS in dBFS) of s16le 24 kHz mono reply audio."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
    rms = float(np.sqrt(np.mean(samples ** 2))) if len(samples) else 0.0
    return len(samples) / 24000, 20 * np.log10(max(rms, 1e-9))


def test_every_pod_runs_in_a_container_on_the_node():
    node = get("node", NODE)
    assert node["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://")
    assert node["metadata"]["labels"].get("voice-agent/pool") == "cpu"
    pods = release_pods()
    by_component = {p["metadata"]["labels"]["app.kubernetes.io/component"]: p for p in pods if ready(p)}
    assert sorted(by_component) == sorted(COMPONENTS), [p["metadata"]["name"] for p in pods]
    for component, pod in by_component.items():
        assert pod["spec"]["nodeName"] == NODE
        assert pod["status"]["podIP"].startswith("10.244.0."), pod["status"]["podIP"]
        for status in pod["status"]["containerStatuses"]:
            assert status["ready"] and status["containerID"].startswith("containerd://"), status
            assert "running" in status["state"], status
        # The model servers' weights were copied in by the seed init container, which exited 0.
        if component != "gateway":
            inits = pod["status"].get("initContainerStatuses", [])
            assert inits and all(i["state"].get("terminated", {}).get("exitCode") == 0 for i in inits), inits


def pod_startup_seconds(pod: dict) -> dict[str, float]:
    """Seconds from the pod's creation to each of its conditions (and the seed init container's end)."""
    def at(stamp: str) -> float:
        return calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ"))

    created = at(pod["metadata"]["creationTimestamp"])
    out = {c["type"]: at(c["lastTransitionTime"]) - created for c in pod["status"].get("conditions", [])}
    for init in pod["status"].get("initContainerStatuses", []):
        if "terminated" in init["state"]:
            out[f"init {init['name']} done"] = at(init["state"]["terminated"]["finishedAt"]) - created
    return out


def test_pod_startup_times_are_recorded():
    """Written to .cache/test-artifacts/kind-pod-startup.json (docs/kind.md quotes them); each pod
    was Ready within the chart's startup budget."""
    times = {p["metadata"]["labels"]["app.kubernetes.io/component"]: pod_startup_seconds(p)
             for p in release_pods() if ready(p)}
    out = REPO / ".cache" / "test-artifacts" / "kind-pod-startup.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(times, indent=1, sort_keys=True))
    assert sorted(times) == sorted(COMPONENTS)
    assert all(0 <= t["Ready"] < 600 for t in times.values()), times


def test_the_pods_run_as_the_chart_says():
    """Non-root, read-only root filesystem, writable /tmp: enforced by runc, not only rendered."""
    for component in COMPONENTS:
        pod = component_pods(component)[0]["metadata"]["name"]
        out = kubectl("exec", "-n", NAMESPACE, pod, "--", "sh", "-c",
                      "id -u; touch /root-fs-probe 2>&1 || echo read-only; touch /tmp/probe && echo tmp-ok").stdout
        assert out.splitlines()[0] == "10001", out
        assert "Read-only file system" in out and "tmp-ok" in out, out


def test_cluster_dns_resolves_the_release_services():
    gateway = component_pods("gateway")[0]["metadata"]["name"]
    for component in ("stt", "tts", "llm"):
        service = f"{RELEASE}-{component}"
        cluster_ip = get("service", "-n", NAMESPACE, service)["spec"]["clusterIP"]
        code = f"import socket; print(socket.gethostbyname('{service}'))"
        resolved = kubectl("exec", "-n", NAMESPACE, gateway, "--", "python", "-c", code).stdout.strip()
        assert resolved == cluster_ip, (service, resolved, cluster_ip)


def test_helm_test_puts_a_spoken_turn_through_the_gateway_service():
    helm = os.environ.get("VOICE_HELM", str(REPO / ".cache/bin/helm"))
    proc = subprocess.run([helm, "test", RELEASE, "-n", NAMESPACE, "--logs", "--timeout", "5m"],
                          capture_output=True, text=True, timeout=400, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Phase:          Succeeded" in proc.stdout


def test_a_spoken_turn_from_the_host_through_the_node_port(tmp_path: Path):
    out = tmp_path / "reply.wav"
    voice_agent = REPO / ".venv/bin/voice-agent"
    proc = subprocess.run([str(voice_agent), "talk", "--url", URL, "--json", "--out", str(out), "--timeout", "90",
                           str(QUESTION)], capture_output=True, text=True, timeout=200, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    turn = json.loads(proc.stdout)["turns"][0]
    words = turn["transcript"].lower()
    assert "capital" in words and "france" in words, turn
    assert turn["reply"].strip(), turn
    assert turn["mouth_to_ear_ms"] and turn["mouth_to_ear_ms"] > 0, turn

    with wave.open(str(out)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (24000, 1, 2)
        seconds, dbfs = audio_checks(wav.readframes(wav.getnframes()))
    assert seconds > 0.5 and dbfs > -40, (seconds, dbfs)


PROBE = """
import sys, urllib.request
for url in sys.argv[1:]:
    try:
        urllib.request.urlopen(url, timeout=4)
        print(url, "reached")
    except Exception as e:  # refused (REJECT) or timed out (DROP)
        print(url, "blocked", type(e).__name__)
"""


def service_urls() -> dict[str, str]:
    urls = {}
    for component, path in (("stt", "/health"), ("tts", "/health"), ("llm", "/v1/models"), ("gateway", "/health")):
        svc = get("service", "-n", NAMESPACE, f"{RELEASE}-{component}")
        urls[component] = f"http://{RELEASE}-{component}:{svc['spec']['ports'][0]['port']}{path}"
    return urls


def test_network_policy_lets_only_the_gateway_reach_the_model_servers():
    """The chart's NetworkPolicies, enforced (kube-router's controller on this node): a pod that is not
    the gateway, in the same namespace, is refused by STT, TTS and the LLM but reaches the gateway."""
    if not get("networkpolicies", "-n", NAMESPACE)["items"]:
        pytest.skip("the release has no NetworkPolicies")
    urls = service_urls()
    gateway = component_pods("gateway")[0]["metadata"]["name"]
    image = component_pods("gateway")[0]["spec"]["containers"][0]["image"]
    from_gateway = kubectl("exec", "-n", NAMESPACE, gateway, "--", "python", "-c", PROBE,
                           *(urls[c] for c in ("stt", "tts", "llm"))).stdout
    assert from_gateway.count("reached") == 3, from_gateway
    name = f"netpol-probe-{int(time.time())}"
    overrides = {"spec": {"securityContext": {"runAsNonRoot": True, "runAsUser": 10001},
                          "automountServiceAccountToken": False}}
    kubectl("run", name, "-n", NAMESPACE, f"--image={image}", "--image-pull-policy=IfNotPresent", "--restart=Never",
            "--labels=app.kubernetes.io/name=netpol-probe", f"--overrides={json.dumps(overrides)}",
            "--command", "--", "python", "-c", PROBE, *urls.values())
    try:
        wait_until(f"pod {name} to finish",
                   lambda: get("pod", "-n", NAMESPACE, name)["status"].get("phase") in ("Succeeded", "Failed"), 120)
        out = kubectl("logs", "-n", NAMESPACE, name).stdout
    finally:
        kubectl("delete", "pod", "-n", NAMESPACE, name, "--wait=false", check=False)
    results = {line.split()[0]: line.split()[1] for line in out.splitlines() if line.startswith("http")}
    assert results == {urls["stt"]: "blocked", urls["tts"]: "blocked", urls["llm"]: "blocked",
                       urls["gateway"]: "reached"}, out


def talk_once(pcm: bytes) -> object:
    async def call():
        async with Caller(URL) as caller:
            return await caller.say_and_listen(pcm, timeout=90)
    return asyncio.run(call())


def test_stt_pod_killed_mid_call_gives_a_coded_error_then_turns_work_again():
    """The caller stays on the line and gets an `error` event naming the STT service and a code while
    the pod is gone; once the Deployment's new pod is Ready, callers get transcripts again."""
    old = component_pods("stt")[0]["metadata"]["name"]

    async def call():
        async with Caller(URL) as caller:
            first = await caller.say_and_listen(caller_pcm(QUESTION), timeout=90)
            assert "france" in first.transcript.lower(), first
            kubectl("delete", "pod", "-n", NAMESPACE, old, "--grace-period=0", "--force", "--wait=false")
            await asyncio.sleep(1)
            broken = await caller.say_and_listen(caller_pcm(FOLLOW_UP), timeout=60)
            errors = list(caller.conversation.errors)
            started = time.monotonic()
            await asyncio.to_thread(wait_until, "a new STT pod Ready",
                                    lambda: [p for p in component_pods("stt")
                                             if p["metadata"]["name"] != old and ready(p)], 300)
            print(f"new STT pod Ready {time.monotonic() - started:.1f}s after the error")
            await asyncio.sleep(3)  # kube-proxy moves the Service to the new pod
            same_call = await caller.say_and_listen(caller_pcm(QUESTION), timeout=60)
            return errors, broken, same_call, caller.websocket.state.name

    errors, broken, same_call, state = asyncio.run(call())
    stt_errors = [e for e in errors if e.get("service") == "stt"]
    assert stt_errors, (errors, broken)
    assert all(e.get("code") for e in stt_errors), stt_errors
    assert state == "OPEN", "the caller's session survives its STT"
    # A new call is served by the new pod.
    fresh = talk_once(caller_pcm(QUESTION))
    assert "france" in fresh.transcript.lower() and fresh.reply_audio_bytes > 24000, fresh
    # The same call is heard again (once the gateway gave up on STT after Pipecat's 3 reconnects; fixed).
    assert "france" in same_call.transcript.lower() and same_call.reply_text.strip(), same_call
