"""Where pods go: GPU requests, tolerations and node selection per scenario."""

from __future__ import annotations

import pytest

from chart_support import CI_NODES, MODEL_COMPONENTS, all_containers, node_fits, render, tolerates

GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}


def extended_resources(pod_spec: dict) -> dict[str, int]:
    """Extended resources (vendor/name) the pod's containers ask for."""
    found: dict[str, int] = {}
    for container in all_containers(pod_spec):
        for section in ("requests", "limits"):
            for name, count in container.get("resources", {}).get(section, {}).items():
                if "/" in name:
                    found[name] = int(count)
    return found


def test_cpu_scenario_asks_for_no_gpu_and_stays_on_the_cpu_pool():
    manifest = render("cpu")
    for name, _, spec in manifest.workloads():
        assert extended_resources(spec) == {}, name
        assert spec["nodeSelector"] == {"voice-agent/pool": "cpu"}, name
        assert not tolerates(spec.get("tolerations", []), GPU_TAINT), f"{name} should stay off GPU nodes"
        assert "runtimeClassName" not in spec, name


def test_gpu_scenario_gives_each_model_pod_one_whole_gpu():
    manifest = render("gpu")
    for component in MODEL_COMPONENTS:
        spec = manifest.pod_spec(component)
        limits = manifest.container(component)["resources"]["limits"]
        assert limits["nvidia.com/gpu"] == 1, component
        assert extended_resources(spec) == {"nvidia.com/gpu": 1}, component
        # placed by its GPU request alone: the GPU Operator's label is missing on EKS/GKE/AKS GPU pools
        assert "nvidia.com/gpu.present" not in spec.get("nodeSelector", {}), component
        assert tolerates(spec["tolerations"], GPU_TAINT), component
    gateway = manifest.pod_spec("gateway")
    assert extended_resources(gateway) == {}
    assert gateway["nodeSelector"] == {"voice-agent/pool": "cpu"}
    assert not tolerates(gateway.get("tolerations", []), GPU_TAINT)


def test_gpu_scenario_model_servers_run_their_cuda_builds():
    manifest = render("gpu")
    stt, tts, llm = (manifest.container(c) for c in MODEL_COMPONENTS)
    stt_env = {e["name"]: e.get("value") for e in stt["env"]}
    assert (stt_env["STT_DEVICE"], stt_env["STT_COMPUTE_TYPE"]) == ("cuda", "float16")
    assert {e["name"]: e.get("value") for e in tts["env"]}["TTS_DEVICE"] == "cuda"
    assert stt["image"].split(":")[0].endswith("stt-cuda") and tts["image"].split(":")[0].endswith("tts-cuda")
    assert "vllm" in llm["image"] and "vllm.entrypoints.openai.api_server" in llm["command"]


def test_gpu_shared_scenario_uses_time_slices_and_a_mig_profile():
    manifest = render("gpu-shared")
    assert extended_resources(manifest.pod_spec("stt")) == {"nvidia.com/gpu.shared": 1}
    assert extended_resources(manifest.pod_spec("tts")) == {"nvidia.com/gpu.shared": 1}
    assert extended_resources(manifest.pod_spec("llm")) == {"nvidia.com/mig-3g.40gb": 1}
    for component in MODEL_COMPONENTS:
        spec = manifest.pod_spec(component)
        assert spec["runtimeClassName"] == "nvidia"
        assert tolerates(spec["tolerations"], GPU_TAINT)
    assert manifest.pod_spec("llm")["nodeSelector"]["nvidia.com/mig.strategy"] == "mixed"
    assert "runtimeClassName" not in manifest.pod_spec("gateway")


@pytest.mark.parametrize("scenario", ["cpu", "gpu"])
def test_ci_cluster_scenarios_are_schedulable_on_its_nodes(scenario):
    """cpu and gpu are installed with --wait on the CI cluster: every pod must fit some node, and
    nothing may wait for what that cluster lacks (a RuntimeClass, a storage provisioner)."""
    manifest = render(scenario)
    assert not manifest.kinds("PersistentVolumeClaim"), "no storage class on the CI cluster"
    for name, _, spec in manifest.workloads():
        assert "runtimeClassName" not in spec, f"{name}: no RuntimeClass exists on the CI cluster"
        assert not [v for v in spec.get("volumes", []) if "persistentVolumeClaim" in v], name
        fits = {node.name: node_fits(spec, node) for node in CI_NODES}
        assert any(not reasons for reasons in fits.values()), f"{name} fits no node: {fits}"
        if extended_resources(spec):
            assert all(node_fits(spec, node) for node in CI_NODES if node.name.startswith("cpu")), name


def test_gpu_pods_cannot_land_on_cpu_nodes_and_cpu_pods_cannot_take_gpu_nodes():
    manifest = render("gpu")
    gpu_nodes = [n for n in CI_NODES if n.extended]
    cpu_nodes = [n for n in CI_NODES if not n.extended]
    for component in MODEL_COMPONENTS:
        assert all(node_fits(manifest.pod_spec(component), n) for n in cpu_nodes), component
    assert all(node_fits(manifest.pod_spec("gateway"), n) for n in gpu_nodes)


def test_mig_resource_name_and_count_go_into_the_limit():
    manifest = render("gpu", values={"stt.gpu.resourceName": "nvidia.com/mig-1g.10gb", "llm.gpu.count": 2})
    assert extended_resources(manifest.pod_spec("stt")) == {"nvidia.com/mig-1g.10gb": 1}
    assert extended_resources(manifest.pod_spec("llm")) == {"nvidia.com/gpu": 2}
    command = manifest.container("llm")["command"]
    assert command[command.index("--tensor-parallel-size") + 1] == "2", "vLLM spreads over the pod's GPUs"


def test_component_placement_adds_to_the_pool():
    manifest = render("gpu", values={
        "stt.nodeSelector": {"nvidia.com/gpu.product": "NVIDIA-L4"},
        "stt.tolerations": [{"key": "dedicated", "operator": "Equal", "value": "voice", "effect": "NoSchedule"}],
        "stt.affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["a"]}]}]}}},
        "stt.gpu.runtimeClassName": "nvidia-cdi",
    })
    spec = manifest.pod_spec("stt")
    assert spec["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-L4"}
    assert tolerates(spec["tolerations"], GPU_TAINT)
    assert tolerates(spec["tolerations"], {"key": "dedicated", "value": "voice", "effect": "NoSchedule"})
    assert spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert spec["runtimeClassName"] == "nvidia-cdi"
    assert "runtimeClassName" not in manifest.pod_spec("tts"), "the override is per component"


def test_replicas_of_a_component_spread_over_nodes():
    manifest = render("production")
    for component in (*MODEL_COMPONENTS, "gateway"):
        pod = manifest.deployment(component)["spec"]["template"]
        constraint = pod["spec"]["topologySpreadConstraints"][0]
        assert constraint["topologyKey"] == "kubernetes.io/hostname"
        assert constraint["labelSelector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()


def test_model_pods_do_not_surge_onto_scarce_gpus_but_the_gateway_does():
    manifest = render("gpu")
    for component in MODEL_COMPONENTS:
        assert manifest.deployment(component)["spec"]["strategy"]["rollingUpdate"]["maxSurge"] == 0
    gateway = manifest.deployment("gateway")["spec"]["strategy"]["rollingUpdate"]
    assert gateway == {"maxSurge": 1, "maxUnavailable": 0}, "never fewer gateways than wanted while calls drain"
