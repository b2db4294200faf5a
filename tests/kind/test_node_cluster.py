"""The chart on a real kubelet: the cpu scenario installed on tools/k8s/node.py's single node.

Run by `make test-kind` (which builds the images, starts the node, loads the images, installs
the release with `helm upgrade --install --wait` and `helm test`, runs these, and tears down);
skipped unless VOICE_TEST_KIND=1. Every assertion is against what really ran: containers on the
node's containerd, a spoken question through the gateway's NodePort from the host (a transcript's
words, non-silent 24 kHz reply audio), in-cluster DNS, and faults during a live call: the STT pod
deleted, the LLM's container killed mid-reply, the LLM scaled to zero (the gateway stays Ready and
refuses new calls with `llm_unavailable`), a `helm upgrade` that rolls the gateway.
"""

from __future__ import annotations

import asyncio
import calendar
import json
import os
import subprocess
import time
import urllib.error
import urllib.request
import wave
from pathlib import Path

import numpy as np
import pytest
import websockets

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


ARTIFACTS = REPO / ".cache" / "test-artifacts"


def record(name: str, data: dict) -> None:
    """Add ``data`` under ``name`` to .cache/test-artifacts/kind-live-call-faults.json (docs/kind.md quotes it)."""
    path = ARTIFACTS / "kind-live-call-faults.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        recorded = json.loads(path.read_text())
    except (OSError, ValueError):
        recorded = {}
    recorded[name] = data
    path.write_text(json.dumps(recorded, indent=1, sort_keys=True))


def test_pod_startup_times_are_recorded():
    """Written to .cache/test-artifacts/kind-pod-startup.json (docs/kind.md quotes them); each pod
    was Ready within the chart's startup budget."""
    times = {p["metadata"]["labels"]["app.kubernetes.io/component"]: pod_startup_seconds(p)
             for p in release_pods() if ready(p)}
    out = ARTIFACTS / "kind-pod-startup.json"
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


CONTAINERD = os.environ.get("VOICE_KIND_CONTAINERD", "/run/voice-agent-node/containerd.sock")  # tools/k8s/node.py's


def crash_container(pod: dict) -> None:
    """SIGKILL the pod's (first) container through the node's containerd, as the OOM killer or a segfault
    would end it: no clean shutdown. The kubelet restarts it (restartPolicy Always)."""
    container_id = pod["status"]["containerStatuses"][0]["containerID"].removeprefix("containerd://")
    subprocess.run(["ctr", "--address", CONTAINERD, "--namespace", "k8s.io", "tasks", "kill", "--signal", "SIGKILL",
                    container_id], capture_output=True, text=True, timeout=30, check=True)


def llm_restarted(restarts: int) -> dict | None:
    """The LLM pod once its container has restarted ``restarts`` times and is Ready, the Service listing it."""
    pods = [p for p in component_pods("llm") if ready(p)]
    if not pods or pods[0]["status"]["containerStatuses"][0]["restartCount"] < restarts:
        return None
    slices = get("endpointslices", "-n", NAMESPACE, "-l", f"kubernetes.io/service-name={RELEASE}-llm")["items"]
    endpoints = [e for s in slices for e in s.get("endpoints") or []]
    return pods[0] if any(e["conditions"].get("ready") for e in endpoints) else None


def test_llm_container_killed_mid_call_gives_a_coded_error_then_the_same_call_is_answered():
    """Mid-call, as the LLM streams its reply, its container is killed (SIGKILL through containerd): the
    caller gets an `error` event with `service: llm` and an `llm_*` code for that turn, the call stays
    open, and once the kubelet has the container Ready again (restartCount + 1, same pod) the same
    call's next question is answered aloud."""
    pod = component_pods("llm")[0]
    restarts = pod["status"]["containerStatuses"][0]["restartCount"]
    timeline: dict[str, float] = {}
    kills = 0

    async def call():
        nonlocal kills
        async with Caller(URL) as caller:
            first = await caller.say_and_listen(caller_pcm(QUESTION), timeout=90)
            assert "france" in first.transcript.lower() and first.reply_audio_bytes > 0, first
            errors_before = len(caller.conversation.errors)
            started = time.monotonic()
            for _ in range(3):
                # "Tell me more" gets a long reply (up to GATEWAY_LLM_MAX_TOKENS): the kill lands while it
                # streams. Should the reply have ended first, the next turn meets the LLM restarting, or
                # streaming again, and killed again.
                said = time.monotonic()
                turn = asyncio.create_task(caller.say_and_listen(caller_pcm(FOLLOW_UP), timeout=60))
                await caller.wait_for(lambda said=said: caller.conversation.first_event("bot_text", after=said)
                                      or caller.conversation.errors[errors_before:], 30)
                llm = component_pods("llm")[0]
                if not caller.conversation.errors[errors_before:] and "running" in \
                        llm["status"]["containerStatuses"][0]["state"]:
                    await asyncio.to_thread(crash_container, llm)
                    kills += 1
                    timeline.setdefault("killed", time.monotonic() - started)
                broken = await turn
                if [e for e in caller.conversation.errors[errors_before:] if e.get("service") == "llm"]:
                    break
            errors = caller.conversation.errors[errors_before:]
            timeline["error"] = time.monotonic() - started
            back = await asyncio.to_thread(wait_until, "the LLM container restarted and Ready",
                                           lambda: llm_restarted(restarts + kills), 400, 0.5)
            timeline["llm_ready"] = time.monotonic() - started
            await asyncio.sleep(3)  # kube-proxy moves the Service back to it
            same_call = await caller.say_and_listen(caller_pcm(QUESTION), timeout=90)
            return errors, broken, back, same_call, caller.websocket.state.name

    errors, broken, back, same_call, state = asyncio.run(call())
    record("llm_killed", {"seconds_from_turn_start": {k: round(v, 2) for k, v in timeline.items()}, "kills": kills,
                          "reply_before_the_error": broken.reply_text, "errors": errors,
                          "same_call_after": {"transcript": same_call.transcript, "reply": same_call.reply_text}})
    llm_errors = [e for e in errors if e.get("service") == "llm"]
    assert kills and llm_errors, (kills, errors, broken)
    assert all(e.get("code", "").startswith("llm_") for e in llm_errors), llm_errors
    assert timeline["error"] < timeline["llm_ready"], timeline
    assert back["metadata"]["name"] == pod["metadata"]["name"], "the container restarted in place, same pod"
    assert back["status"]["containerStatuses"][0]["restartCount"] == restarts + kills
    assert state == "OPEN", "the caller's session survives its LLM"
    assert "france" in same_call.transcript.lower() and same_call.reply_text.strip(), same_call
    assert same_call.reply_audio_bytes > 24000, same_call  # over 0.5 s of 24 kHz s16le


def test_with_no_llm_pod_the_gateway_stays_ready_and_refuses_new_calls_with_a_code():
    """The only LLM pod is gone for longer than the gateway's readiness probe would allow (scaled to 0):
    the gateway stays Ready in its Service, so a new caller through the NodePort gets an `error` event
    with `llm_unavailable` and close 1013, not a refused connection; once an LLM pod is Ready again a
    new call is answered aloud."""
    deployment = f"{RELEASE}-llm"
    [gateway] = [p for p in component_pods("gateway") if ready(p)]
    probe = gateway["spec"]["containers"][0]["readinessProbe"]
    unready_after_s = probe.get("periodSeconds", 10) * probe.get("failureThreshold", 3)
    t: dict[str, float] = {}
    started = time.monotonic()
    kubectl("scale", "deployment", deployment, "-n", NAMESPACE, "--replicas=0")
    try:
        wait_until("no LLM pod", lambda: not component_pods("llm"), 120)
        t["llm pods gone"] = time.monotonic() - started
        wait_until("the gateway seeing its LLM down", lambda: gateway_status(gateway)["upstreams"]["llm"] is False, 30, 0.5)
        t["gateway sees llm down"] = time.monotonic() - started
        time.sleep(unready_after_s + 5)  # longer than readiness would have taken to fail
        still = next(p for p in component_pods("gateway") if p["metadata"]["name"] == gateway["metadata"]["name"])
        refused = asyncio.run(_first_event_and_close(URL))
        t["call refused"] = time.monotonic() - started
    finally:
        kubectl("scale", "deployment", deployment, "-n", NAMESPACE, "--replicas=1")
    wait_until("an LLM pod Ready in its Service", lambda: llm_restarted(0), 400, 0.5)
    t["llm ready again"] = time.monotonic() - started
    wait_until("the gateway seeing its LLM again", lambda: gateway_status(gateway)["upstreams"]["llm"], 30, 0.5)

    async def answered():
        async with Caller(URL) as caller:
            return await caller.say_and_listen(caller_pcm(QUESTION), timeout=90), list(caller.conversation.errors)

    turn, errors = asyncio.run(answered())
    t["new call answered"] = time.monotonic() - started
    record("llm_scaled_to_zero", {"seconds_from_scale_down": {k: round(v, 2) for k, v in t.items()},
                                  "refused_call": refused, "readiness_would_fail_after_s": unready_after_s})
    assert ready(still), "the gateway stays Ready while its LLM is gone"
    event, close_code = refused
    assert (event["code"], event.get("service"), close_code) == ("llm_unavailable", "llm", 1013), refused
    assert not errors and "france" in turn.transcript.lower() and turn.reply_audio_bytes > 24000, (turn, errors)


async def _first_event_and_close(url: str) -> tuple[dict, int | None]:
    """The first event a new call gets, and the close code that follows it."""
    async with websockets.connect(url, open_timeout=10) as ws:
        event = json.loads(await ws.recv())
        try:
            await asyncio.wait_for(ws.recv(), 10)
        except websockets.ConnectionClosed as closed:
            return event, closed.rcvd.code if closed.rcvd else None
    return event, None


HELM = os.environ.get("VOICE_HELM", str(REPO / ".cache/bin/helm"))
CHART = REPO / "charts" / "voice-agent"


def gateway_status(pod: dict) -> dict:
    """A gateway pod's /ready body (200 or 503: both say `draining` and `active_sessions`), asked from
    the host at the pod's IP, so it is that pod's answer whatever the Service does."""
    try:
        with urllib.request.urlopen(f"http://{pod['status']['podIP']}:7860/ready", timeout=10) as reply:
            return json.loads(reply.read())
    except urllib.error.HTTPError as e:
        return json.loads(e.read())


def env_of(pod: dict, name: str) -> str | None:
    return next((e.get("value") for e in pod["spec"]["containers"][0]["env"] if e["name"] == name), None)


async def place_call() -> str:
    """Open a call and hang up: "ready" if the gateway took it, else its error code or the exception."""
    try:
        async with Caller(URL, open_timeout=5) as caller:
            errors = caller.conversation.errors
            return errors[0].get("code", "error") if errors else "ready"
    except Exception as e:  # noqa: BLE001 - refused, reset or timed out: what the caller saw
        return type(e).__name__


def test_helm_upgrade_rolls_the_gateway_without_cutting_a_live_call():
    """`helm upgrade` changes the gateway's pod template during a call. The chart surges (maxSurge 1,
    maxUnavailable 0), so the old pod is taken down only once its successor is Ready; its preStop hook
    drains it: calls still routed to it in the first moments (kube-proxy's next sync) are taken, the
    live call, now on a terminating pod, still gets its next reply spoken, a call placed later lands on
    the new pod and is answered, and the old pod goes away only once the live call hung up (before the
    drain timeout)."""
    wait_until("every release pod Ready", lambda: sorted(
        p["metadata"]["labels"]["app.kubernetes.io/component"] for p in release_pods() if ready(p)) == sorted(
        COMPONENTS), 300)
    deployment = get("deployment", "-n", NAMESPACE, f"{RELEASE}-gateway")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    [old] = [p for p in component_pods("gateway") if ready(p)]
    name = old["metadata"]["name"]
    drain_s = float(env_of(old, "GATEWAY_DRAIN_TIMEOUT_SECS"))
    admit_s = float(env_of(old, "GATEWAY_DRAIN_ADMIT_SECS"))
    assert old["spec"]["terminationGracePeriodSeconds"] >= drain_s + 5
    assert old["spec"]["containers"][0]["lifecycle"]["preStop"]["exec"]["command"][-1] == "voice_gateway.drain"
    t: dict[str, float] = {}

    def old_pod() -> dict | None:
        return next((p for p in component_pods("gateway") if p["metadata"]["name"] == name), None)

    async def new_call():
        async with Caller(URL) as caller:
            assert not caller.conversation.errors, caller.conversation.errors
            sessions = await asyncio.to_thread(lambda: {p["metadata"]["name"]: gateway_status(p)["active_sessions"]
                                                        for p in component_pods("gateway")})
            turn = await caller.say_and_listen(caller_pcm(QUESTION), timeout=90)
            return turn, sessions, list(caller.conversation.errors)

    async def call():
        async with Caller(URL) as live:
            first = await live.say_and_listen(caller_pcm(QUESTION), timeout=90)
            assert "france" in first.transcript.lower() and first.reply_audio_bytes > 0, first
            assert gateway_status(old)["active_sessions"] == 1
            started = time.monotonic()
            upgrade = await asyncio.create_subprocess_exec(
                HELM, "upgrade", RELEASE, str(CHART), "-n", NAMESPACE, "--reuse-values",
                "--set-string", f"gateway.podAnnotations.voice-agent/rolled-at={int(time.time())}",
                "--wait", "--timeout", "5m", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
            microphone = asyncio.create_task(live.silence(600))  # the caller stays on the line, silent
            try:
                await asyncio.to_thread(wait_until, "the old gateway pod terminating",
                                        lambda: (old_pod() or {}).get("metadata", {}).get("deletionTimestamp"),
                                        300, 0.2)
                t["old pod terminating"] = time.monotonic() - started
                # Calls placed now still reach the old pod now and then (until kube-proxy's next sync):
                # it takes them, unready but admitting (GATEWAY_DRAIN_ADMIT_SECS), like the new pod.
                placed = []
                while time.monotonic() - started < t["old pod terminating"] + 2:
                    placed.append(await place_call())
                    await asyncio.sleep(0.05)
                draining = gateway_status(old)
                t["calls placed"] = time.monotonic() - started
            finally:
                microphone.cancel()
                await asyncio.gather(microphone, return_exceptions=True)
            # The live call speaks on, on a pod that is terminating; meanwhile, once the old pod admits
            # no more (a call sent there now would be refused), a new call is placed. Both at once keep
            # the whole well inside the drain timeout on 2 shared cores.
            live_turn = asyncio.create_task(live.say_and_listen(caller_pcm(QUESTION), timeout=90))
            await asyncio.to_thread(wait_until, "the old pod's admit period over",
                                    lambda: not gateway_status(old)["admitting"], admit_s + 10, 0.2)
            t["old pod admits no more"] = time.monotonic() - started
            fresh, sessions, fresh_errors = await new_call()
            t["new call answered"] = time.monotonic() - started
            during = await live_turn
            t["live call's turn answered"] = time.monotonic() - started
            still_there = old_pod()
            state = live.websocket.state.name
        t["live call hung up"] = time.monotonic() - started
        await asyncio.to_thread(wait_until, "the old gateway pod gone", lambda: old_pod() is None, drain_s + 60, 0.2)
        t["old pod gone"] = time.monotonic() - started
        output = (await upgrade.communicate())[0].decode()
        return placed, draining, during, state, fresh, sessions, fresh_errors, still_there, upgrade.returncode, output

    placed, draining, during, state, fresh, sessions, fresh_errors, still_there, helm_rc, helm_out = asyncio.run(call())
    record("helm_upgrade_rollout", {"seconds_from_helm_upgrade": {k: round(v, 2) for k, v in t.items()},
                                    "calls_placed_as_the_old_pod_began_to_terminate": {
                                        r: placed.count(r) for r in sorted(set(placed))}})
    assert helm_rc == 0, helm_out
    assert draining["draining"] and draining["active_sessions"] >= 1, draining
    assert placed and set(placed) == {"ready"}, placed
    # The live call was not cut: its turn on the terminating pod was heard, answered and spoken.
    assert state == "OPEN"
    assert "france" in during.transcript.lower() and during.reply_text.strip(), during
    assert during.reply_audio_bytes > 24000, during
    # A call placed once the old pod admits no more went to the new pod and worked.
    assert not fresh_errors, fresh_errors
    assert sessions[name] == 1 and sorted(sessions.values()) == [1, 1], sessions  # the live call; this one
    assert "france" in fresh.transcript.lower() and fresh.reply_audio_bytes > 24000, fresh
    # The old pod outlived the live call, and went once it hung up, not at the drain timeout.
    assert still_there is not None and still_there["metadata"].get("deletionTimestamp"), still_there
    assert t["live call hung up"] - t["old pod terminating"] < drain_s, t
    assert t["old pod gone"] - t["live call hung up"] < 15, t
    events = get("events", "-n", NAMESPACE, "--field-selector", f"involvedObject.name={name}")["items"]
    assert not [e for e in events if e["reason"] in ("FailedPreStopHook", "FailedKillPod")], events
