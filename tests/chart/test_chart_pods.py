"""Pods: probes, security contexts, environment, drain on shutdown, the LLM server, model weights."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import os

import pytest

from chart_support import COMPONENTS, MODEL_COMPONENTS, all_containers, env_of, render, render_error
from voice_gateway.settings import GatewaySettings
from voice_llm.settings import LLMSettings
from voice_testkit.services import MODELS_DIR

READY_PATHS = {"stt": "/ready", "tts": "/ready", "gateway": "/ready"}


def port_number(container: dict, port: str | int) -> int:
    if isinstance(port, int):
        return port
    named = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert port in named, f"probe port {port!r} is not a port of {container['name']}"
    return named[port]


def test_probes_of_every_component(manifest):
    for component in COMPONENTS:
        container = manifest.container(component)
        startup, ready, live = (container[f"{k}Probe"] for k in ("startup", "readiness", "liveness"))
        llm_on_gpu = component == "llm" and "vllm" in container["image"]
        if component == "llm":
            # vLLM's and llama.cpp's own /health: 200 once the model is loaded, and llama.cpp's answers
            # while replies stream (tests/chart/test_chart_llm_probes.py runs these probes against it)
            assert startup["httpGet"]["path"] == ready["httpGet"]["path"] == "/health", component
        else:
            assert ready["httpGet"]["path"] == READY_PATHS[component], component
        assert live["httpGet"]["path"] == "/health", component
        for probe in (startup, ready, live):
            action = probe.get("httpGet") or probe["tcpSocket"]
            assert port_number(container, action["port"]) == container["ports"][0]["containerPort"]
        window = startup["failureThreshold"] * startup["periodSeconds"]
        if component in ("stt", "tts"):
            assert window >= 300, f"{component}: model load may take minutes, startup allows only {window} s"
        if llm_on_gpu:
            assert window >= 600, f"vLLM downloads and loads weights: startup allows only {window} s"
        assert ready["failureThreshold"] * ready["periodSeconds"] <= 30, "an unready pod must leave the Service fast"


@pytest.fixture(scope="module")
def every_pod():
    """(scenario, pod name, pod spec) of every pod in every scenario, the helm test pod included."""
    from chart_support import SCENARIOS

    return [(s, name, spec) for s in SCENARIOS for name, _, spec in render(s).workloads()]


def test_pods_run_non_root_with_runtime_default_seccomp(every_pod):
    for scenario, name, spec in every_pod:
        ctx = spec["securityContext"]
        assert ctx["runAsNonRoot"] is True and ctx["runAsUser"] > 0, (scenario, name)
        assert ctx["seccompProfile"] == {"type": "RuntimeDefault"}, (scenario, name)
        assert spec["automountServiceAccountToken"] is False, (scenario, name)


def test_containers_have_read_only_root_and_no_capabilities(every_pod):
    for scenario, name, spec in every_pod:
        for container in all_containers(spec):
            ctx = container["securityContext"]
            where = (scenario, name, container["name"])
            assert ctx["readOnlyRootFilesystem"] is True, where
            assert ctx["allowPrivilegeEscalation"] is False, where
            assert ctx["capabilities"]["drop"] == ["ALL"] and "add" not in ctx["capabilities"], where
            assert not ctx.get("privileged"), where


def test_every_main_container_has_a_writable_tmp(every_pod):
    for scenario, name, spec in every_pod:
        volumes = {v["name"]: v for v in spec["volumes"]}
        for container in spec["containers"]:
            tmp = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
            assert tmp and "emptyDir" in volumes[tmp[0]["name"]], (scenario, name)


def test_otlp_endpoint_reaches_every_container():
    endpoint = "http://otel-collector.observability:4318"
    manifest = render("gpu", values={"observability.otlpEndpoint": endpoint})
    for name, _, spec in manifest.workloads():
        for container in spec["containers"]:
            assert env_of(container)["OTEL_EXPORTER_OTLP_ENDPOINT"] == endpoint, name
            assert env_of(container)["OTEL_SERVICE_NAME"].startswith("voice-")
    for _, _, spec in render("cpu").workloads():
        assert "OTEL_EXPORTER_OTLP_ENDPOINT" not in env_of(spec["containers"][0]), "unset: no exporter"


def test_gateway_env_is_the_settings_the_gateway_reads(manifest):
    env = env_of(manifest.container("gateway"))
    fields = GatewaySettings.model_fields
    for name in env:
        if name.startswith("GATEWAY_"):
            assert name.removeprefix("GATEWAY_").lower() in fields, f"{name} is not a GatewaySettings field"
    settings = {k: v for k, v in env.items() if k.startswith("GATEWAY_") and isinstance(v, str)}
    parsed = GatewaySettings(**{k.removeprefix("GATEWAY_").lower(): v for k, v in settings.items()})
    assert parsed.port == manifest.container("gateway")["ports"][0]["containerPort"]
    assert parsed.host == "0.0.0.0"


def test_gateway_drains_live_calls_before_it_stops(manifest):
    spec = manifest.pod_spec("gateway")
    container = manifest.container("gateway")
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[:2] == ["python", "-m"] and importlib.util.find_spec(pre_stop[2]) is not None, pre_stop
    drain = float(env_of(container)["GATEWAY_DRAIN_TIMEOUT_SECS"])
    assert spec["terminationGracePeriodSeconds"] >= drain + 5, "Kubernetes would SIGKILL calls still draining"
    # New calls reach a terminating pod until kube-proxy's and ingresses' next sync: the drain takes
    # them for a few seconds (a single-replica rollout refused or dropped them, tests/kind).
    admit = float(env_of(container)["GATEWAY_DRAIN_ADMIT_SECS"])
    assert 1 <= admit < drain
    strategy = manifest.get("Deployment", "va-voice-agent-gateway")["spec"]["strategy"]
    assert strategy["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}, "one replica: surge, never go to zero"


def test_production_gives_calls_minutes_to_finish():
    manifest = render("production")
    assert float(env_of(manifest.container("gateway"))["GATEWAY_DRAIN_TIMEOUT_SECS"]) >= 60
    assert manifest.pod_spec("gateway")["terminationGracePeriodSeconds"] >= 65


def test_gateway_token_comes_from_a_secret():
    manifest = render("production")
    ref = env_of(manifest.container("gateway"))["GATEWAY_AUTH_TOKEN"]["secretKeyRef"]
    secret = manifest.get("Secret", ref["name"])
    assert ref["key"] in secret["data"] and len(secret["data"][ref["key"]]) > 20
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep", "callers keep their token across reinstalls"
    test_pod = manifest.component("Pod", "test")
    assert env_of(test_pod["spec"]["containers"][0])["GATEWAY_AUTH_TOKEN"] == {"secretKeyRef": ref}

    existing = render("production", values={"gateway.auth.existingSecret": "caller-tokens", "gateway.auth.secretKey": "t"})
    secrets = [s["metadata"]["name"] for s in existing.kinds("Secret")]
    assert secrets == ["va-voice-agent-gateway-drain"], "no callers' Secret made"
    assert env_of(existing.container("gateway"))["GATEWAY_AUTH_TOKEN"]["secretKeyRef"] == {"name": "caller-tokens", "key": "t"}
    assert "GATEWAY_AUTH_TOKEN" not in env_of(render("cpu").container("gateway"))


@pytest.mark.parametrize("scenario", ["cpu", "production"])
def test_the_pre_stop_drain_has_a_token_that_callers_never_get(scenario):
    manifest = render(scenario)
    gateway_env = env_of(manifest.container("gateway"))
    ref = gateway_env["GATEWAY_DRAIN_TOKEN"]["secretKeyRef"]
    secret = manifest.get("Secret", ref["name"])
    assert len(secret["data"][ref["key"]]) > 20
    assert ref != gateway_env.get("GATEWAY_AUTH_TOKEN", {}).get("secretKeyRef"), "callers' token and drain token differ"
    assert "GATEWAY_DRAIN_TOKEN" not in env_of(manifest.component("Pod", "test")["spec"]["containers"][0])
    assert manifest.container("gateway")["lifecycle"]["preStop"]["exec"]["command"] == ["python", "-m", "voice_gateway.drain"]


def arg(command: list[str], flag: str) -> str:
    assert flag in command, f"{flag} missing from {command}"
    return command[command.index(flag) + 1]


def test_vllm_server_on_gpu():
    manifest = render("production")
    container = manifest.container("llm")
    command = container["command"]
    assert command[:3] == ["python3", "-m", "vllm.entrypoints.openai.api_server"]
    assert arg(command, "--served-model-name") == env_of(manifest.container("gateway"))["GATEWAY_LLM_MODEL"]
    assert arg(command, "--model") == "google/gemma-3-1b-it"
    assert int(arg(command, "--max-model-len")) == 8192
    assert 0 < float(arg(command, "--gpu-memory-utilization")) <= 1
    assert int(arg(command, "--port")) == container["ports"][0]["containerPort"]
    assert "--enable-prefix-caching" in command
    shm = [m for m in container["volumeMounts"] if m["mountPath"] == "/dev/shm"]
    volume = {v["name"]: v for v in manifest.pod_spec("llm")["volumes"]}[shm[0]["name"]]
    assert volume["emptyDir"]["medium"] == "Memory"
    env = env_of(container)
    assert env["HF_TOKEN"] == {"secretKeyRef": {"name": "hf-token", "key": "token"}}
    assert env["HF_HOME"].startswith("/models/"), "downloads land in the shared model cache"
    assert "HF_TOKEN" not in env_of(render("gpu").container("llm")), "no token unless a Secret is named"


# Where vLLM, torch.compile, Triton and Hugging Face write; unset, each falls back to ~/.cache or
# /tmp, and getpass.getuser() (torch's default cache name) calls getpwuid() unless USER is set.
VLLM_WRITES = ("HOME", "XDG_CACHE_HOME", "VLLM_CACHE_ROOT", "TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR", "HF_HOME")


def writable_volume_of(manifest, component: str, path: str) -> dict:
    """The volume that holds ``path`` in the component's container; fails unless it is mounted writable."""
    mounts = [
        m
        for m in manifest.container(component)["volumeMounts"]
        if path == m["mountPath"] or path.startswith(m["mountPath"].rstrip("/") + "/")
    ]
    assert mounts, f"{path} is on the read-only root filesystem"
    mount = max(mounts, key=lambda m: len(m["mountPath"]))
    assert not mount.get("readOnly"), f"{path} is on read-only {mount}"
    return {v["name"]: v for v in manifest.pod_spec(component)["volumes"]}[mount["name"]]


@pytest.mark.parametrize("source", ["pvc", "image", "emptyDir"])
def test_vllm_as_a_user_without_passwd_entry_writes_its_caches_to_writable_volumes(source):
    """uid 10001 has no passwd entry in vLLM's image and the root filesystem is read-only (vLLM issue 44548)."""
    manifest = render("production", values={"models.source": source})
    assert manifest.pod_spec("llm")["securityContext"]["runAsUser"] == 10001
    env = env_of(manifest.container("llm"))
    assert env["USER"], "getpass.getuser() falls back to getpwuid(10001), which raises"
    for variable in VLLM_WRITES:
        writable_volume_of(manifest, "llm", env[variable])
    # compiled kernels and (without a weights volume) the downloaded model do not fit the 1 GiB /tmp
    for variable in ("TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR", "VLLM_CACHE_ROOT"):
        assert "sizeLimit" in writable_volume_of(manifest, "llm", env[variable])["emptyDir"]
        assert writable_volume_of(manifest, "llm", env[variable])["name"] != "tmp", variable
    hf = writable_volume_of(manifest, "llm", env["HF_HOME"])
    assert ("persistentVolumeClaim" in hf) == (source == "pvc") and hf["name"] != "tmp"


def test_no_container_sets_a_variable_twice(every_pod):
    """A repeated name hides the first value (the API server warns; which one wins is easy to get wrong)."""
    for scenario, name, spec in every_pod:
        for container in all_containers(spec):
            names = [e["name"] for e in container.get("env", [])]
            repeated = sorted({n for n in names if names.count(n) > 1})
            assert not repeated, (scenario, name, container["name"], repeated)


@pytest.mark.parametrize(
    "request_cpu, limit_cpu, threads",
    [
        ("1", None, "1"),
        ("1500m", None, "2"),
        ("250m", None, "1"),
        ("4", None, "4"),
        (1, "3", "3"),  # a limit caps what the threads can use: more would only be throttled
        ("500m", "2500m", "3"),
        (None, None, "2"),  # neither: the documented default, not the node's core count
    ],
)
def test_llama_cpp_threads_follow_the_pods_cpu_not_the_nodes_cores(request_cpu, limit_cpu, threads):
    # null deletes the default request; the default profile has no CPU limit
    values = {"llm.cpu.resources.requests.cpu": request_cpu, "llm.cpu.threads": 0}
    if limit_cpu:
        values["llm.cpu.resources.limits.cpu"] = limit_cpu
    manifest = render("cpu", values=values)
    env = env_of(manifest.container("llm"))
    assert (env["LLM_THREADS"], env["LLM_BATCH_THREADS"]) == (threads, threads)
    resources = manifest.container("llm")["resources"]
    assert resources.get("requests", {}).get("cpu") == request_cpu and resources["limits"].get("cpu") == limit_cpu
    env = env_of(render("cpu", values={"llm.cpu.threads": 3}).container("llm"))
    assert (env["LLM_THREADS"], env["LLM_BATCH_THREADS"]) == ("3", "3")


def test_the_gateways_roll_exactly_when_the_generated_token_changes():
    """The checksum is of the token the Secret holds (on first install too: two random draws differed,
    so the first upgrade restarted every gateway). tests/cluster checks an unchanged upgrade restarts nothing."""
    manifest = render("production")
    ref = env_of(manifest.container("gateway"))["GATEWAY_AUTH_TOKEN"]["secretKeyRef"]
    token = base64.b64decode(manifest.get("Secret", ref["name"])["data"][ref["key"]])
    annotations = manifest.deployment("gateway")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["checksum/auth-token"] == hashlib.sha256(token).hexdigest()


def test_with_an_existing_secret_a_render_without_a_cluster_restarts_nothing():
    """GitOps renders without a cluster to read a generated token back from: there the token comes from a Secret of its own."""
    values = {"gateway.auth.existingSecret": "caller-tokens"}
    # two real renders (renders are cached by their arguments; the second override changes nothing)
    first = render("production", values=values).deployment("gateway")["spec"]["template"]
    second = render("production", values={**values, "gateway.extraEnv": []}).deployment("gateway")["spec"]["template"]
    assert first == second and "checksum/auth-token" not in first["metadata"].get("annotations", {})


def test_shared_gpu_lowers_vllm_memory_share():
    assert float(arg(render("gpu-shared").container("llm")["command"], "--gpu-memory-utilization")) < 0.9


@pytest.mark.parametrize("scenario", [None, "cpu"])
def test_llama_cpp_server_on_cpu(scenario):
    """llama.cpp's server through `python -m voice_llm`, configured by LLM_* env that its settings accept."""
    manifest = render(scenario)
    container = manifest.container("llm")
    assert container["command"] == ["python", "-m", "voice_llm"]
    env = {k: v for k, v in env_of(container).items() if k.startswith("LLM_")}
    settings = LLMSettings(**{k.removeprefix("LLM_").lower(): v for k, v in env.items()})
    assert set(env) == {"LLM_MODEL_PATH", "LLM_MODEL_ALIAS", "LLM_HOST", "LLM_PORT", "LLM_PARALLEL",
                        "LLM_CONTEXT_PER_SLOT", "LLM_THREADS", "LLM_BATCH_THREADS"}
    assert settings.model_alias == env_of(manifest.container("gateway"))["GATEWAY_LLM_MODEL"]
    assert settings.port == container["ports"][0]["containerPort"] and settings.host == "0.0.0.0"
    assert settings.model_path.startswith("/models/llm/") and settings.model_path.endswith(".gguf")
    assert (settings.parallel, settings.context_per_slot) == (2, 2048), "values.yaml's llm.cpu.parallel / contextPerSlot"
    assert settings.parallel == LLMSettings.model_fields["parallel"].default
    assert settings.context_per_slot == LLMSettings.model_fields["context_per_slot"].default


def test_llama_cpp_settings_and_extra_env():
    values = {"llm.cpu.parallel": 4, "llm.cpu.contextPerSlot": 1024, "llm.cpu.extraEnv": [
        {"name": "LLM_BATCH_THREADS", "value": "6"}, {"name": "LLM_OMP_WAIT_POLICY", "value": "ACTIVE"}]}
    env = env_of(render("cpu", values=values).container("llm"))
    assert (env["LLM_PARALLEL"], env["LLM_CONTEXT_PER_SLOT"]) == ("4", "1024")
    assert (env["LLM_THREADS"], env["LLM_BATCH_THREADS"], env["LLM_OMP_WAIT_POLICY"]) == ("2", "6", "ACTIVE"), \
        "an extraEnv entry replaces the chart's own (test_no_container_sets_a_variable_twice: once each)"
    names = [e["name"] for e in render("cpu", values=values).container("llm")["env"]]
    assert len(names) == len(set(names))
    stderr = render_error("cpu", values={"llm.cpu.extraArgs": ["--n_ctx", "4096"]})
    assert "extraArgs" in stderr, "llama-cpp-python's arguments are gone: a leftover is an error, not ignored"


@pytest.mark.parametrize(
    "scenario, values, reuse",
    [
        ("cpu", {}, "false"),  # this release's llama.cpp closes each connection after a streamed reply
        (None, {}, "false"),
        ("gpu", {}, "true"),  # vLLM keeps connections alive
        ("production", {}, "true"),
        ("cpu", {"gateway.config.llmReuseConnections": True}, "true"),  # the user's word wins
        ("cpu", {"gateway.upstreams.llmBaseUrl": "http://vllm.shared:8000/v1"}, None),  # not ours: the gateway's default
        ("cpu", {"llm.enabled": False, "gateway.upstreams.llmBaseUrl": "http://llm.shared:8080/v1"}, None),
    ],
)
def test_the_gateway_drops_idle_connections_to_this_releases_cpu_llm(scenario, values, reuse):
    env = env_of(render(scenario, values=values).container("gateway"))
    assert env.get("GATEWAY_LLM_REUSE_CONNECTIONS") == reuse
    if reuse is not None:
        assert GatewaySettings(llm_reuse_connections=reuse).llm_reuse_connections is (reuse == "true")


def model_paths(manifest) -> dict[str, str]:
    """Every weights path a model server is configured with -> the component."""
    stt, tts, llm = (manifest.container(c) for c in MODEL_COMPONENTS)
    paths = {env_of(stt)["STT_MODEL_PATH"]: "stt", env_of(tts)["TTS_MODEL_PATH"]: "tts", env_of(tts)["TTS_VOICES_PATH"]: "tts"}
    if "LLM_MODEL_PATH" in env_of(llm):
        paths[env_of(llm)["LLM_MODEL_PATH"]] = "llm"
    return paths


@pytest.mark.parametrize("values", [{}, {"stt.config.modelPath": "/models/whisper-tiny.en"}])
def test_weights_paths_are_what_make_models_assembles(values):
    if not (MODELS_DIR / "whisper-base" / "model.bin").exists():
        pytest.fail(f"models are not assembled in {MODELS_DIR}; run `make models`")
    for path in model_paths(render("cpu", values=values)):
        assert path.startswith("/models/")
        assert (MODELS_DIR / path.removeprefix("/models/")).exists(), f"{path}: not in the `make models` layout"


@pytest.mark.parametrize("values", [{}, {"stt.config.modelPath": "/models/whisper-tiny.en"}])
def test_init_step_copies_the_weights_each_server_reads(values):
    manifest = render("cpu", values=values)
    for path, component in model_paths(manifest).items():
        spec = manifest.pod_spec(component)
        seed = spec["initContainers"][0]
        copied = seed["args"][2:]  # sh -c SCRIPT $0 DIR...
        assert path.removeprefix("/models/").split("/")[0] in copied, (component, path, copied)
        seed_volume = {m["name"] for m in seed["volumeMounts"]}
        server_mounts = {m["name"]: m for m in manifest.container(component)["volumeMounts"]}
        assert seed_volume <= server_mounts.keys(), "the server reads the volume the init step fills"
        if component in ("stt", "tts"):
            assert server_mounts["models"]["readOnly"] is True


@pytest.mark.parametrize("source", ["emptyDir", "pvc", "image"])
def test_model_sources(source):
    manifest = render("cpu", values={"models.source": source})
    claims = manifest.kinds("PersistentVolumeClaim")
    for component in MODEL_COMPONENTS:
        spec = manifest.pod_spec(component)
        volumes = {v["name"]: v for v in spec["volumes"]}
        if source == "image":
            assert "models" not in volumes and "initContainers" not in spec, "weights are in the image"
        elif source == "pvc":
            assert volumes["models"]["persistentVolumeClaim"]["claimName"] == claims[0]["metadata"]["name"]
        else:
            assert "sizeLimit" in volumes["models"]["emptyDir"]
    assert len(claims) == (1 if source == "pvc" else 0)
    if source == "pvc":
        assert claims[0]["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
        existing = render("cpu", values={"models.source": "pvc", "models.pvc.existingClaim": "weights"})
        assert not existing.kinds("PersistentVolumeClaim")
        volumes = {v["name"]: v for v in existing.pod_spec("stt")["volumes"]}
        assert volumes["models"]["persistentVolumeClaim"]["claimName"] == "weights"


def test_production_shares_one_read_write_many_cache():
    manifest = render("production")
    claim = manifest.kinds("PersistentVolumeClaim")[0]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"], "model pods on several nodes share it"
    for component in MODEL_COMPONENTS:
        volumes = {v["name"]: v for v in manifest.pod_spec(component)["volumes"]}
        assert volumes["models"]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]


def test_images_come_from_the_configured_registry_and_tag():
    manifest = render("production")
    for component in ("stt", "tts", "gateway"):
        assert manifest.container(component)["image"].startswith("ghcr.io/acme/voice-agent/"), component
        assert manifest.container(component)["image"].endswith(":0.1.0")
    assert manifest.container("llm")["image"].startswith("docker.io/vllm/vllm-openai:"), "upstream vLLM keeps its registry"
    assert os.path.basename(render("cpu").container("stt")["image"]) == "stt:0.1.0"


@pytest.mark.parametrize("scenario", ["cpu", "gpu", "gpu-shared", "production"])
def test_stt_streams_cover_every_caller_the_gateways_admit(scenario):
    """Each talking caller holds one STT stream: fewer STT slots than gateway slots lock callers out."""
    manifest = render(scenario)

    def slots(component: str, variable: str) -> int:
        replicas = manifest.deployment(component)["spec"].get("replicas", 1)
        return replicas * int(env_of(manifest.container(component))[variable])

    assert slots("stt", "STT_MAX_SESSIONS") >= slots("gateway", "GATEWAY_MAX_SESSIONS")
