"""The chart on a real API server: install, placement, over-subscription, upgrade, uninstall.

Each ci/ scenario (cpu, gpu) goes through the whole life of a release, in this order (the
``release`` fixture is module-scoped, so the tests of one scenario run together):
install --wait -> every object exists -> pods sit in the right pool -> a GPU request beyond what
is free stays Pending with the scheduler's reason -> upgrade rolls out -> an unchanged upgrade
restarts no gateway (cpu) -> uninstall leaves nothing but what the chart keeps.
"""

from __future__ import annotations

import json
import time
from urllib.error import HTTPError

import pytest
from kubernetes import client

from cluster_support import (
    CPU_POOL_LABEL,
    GPU,
    GPU_NODE_LABEL,
    INSTANCE,
    is_ready,
    manifest_objects,
    namespaced_listables,
    object_path,
    pod_gpus,
    raw_get,
    wait_for,
)

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(900)]
COMPONENT = "app.kubernetes.io/component"
UPGRADE_ANNOTATION = "voice-agent/upgrade-check"


def release_pods(core: client.CoreV1Api, release) -> list[client.V1Pod]:
    return core.list_namespaced_pod(release.namespace, label_selector=f"{INSTANCE}={release.name}").items


def deployments(release) -> list[dict]:
    return [o for o in manifest_objects(release.run("get", "manifest", release.name)) if o["kind"] == "Deployment"]


def check_placement(release, core: client.CoreV1Api) -> list[client.V1Pod]:
    """Every pod of the release is Ready, GPU components on GPU nodes, the rest in the CPU pool."""
    nodes = {n.metadata.name: n for n in core.list_node().items}
    pods = [p for p in release_pods(core, release) if not p.metadata.deletion_timestamp]
    assert pods, f"release {release.name} has no pods\n{release.diagnose()}"
    gpu_components = release.scenario.gpu_components()
    for pod in pods:
        name, component = pod.metadata.name, pod.metadata.labels.get(COMPONENT)
        assert is_ready(pod), f"{name} is not Running/Ready\n{release.diagnose()}"
        labels = nodes[pod.spec.node_name].metadata.labels
        on_gpu_node = labels.get(GPU_NODE_LABEL[0]) == GPU_NODE_LABEL[1]
        if component in gpu_components:
            assert pod_gpus(pod) >= 1, f"{name} ({component}) requests no {GPU}"
            assert on_gpu_node, f"{name} ({component}) landed on {pod.spec.node_name}, not a GPU node"
        else:
            assert pod_gpus(pod) == 0, f"{name} ({component}) requests a GPU"
            assert not on_gpu_node, f"{name} ({component}) landed on GPU node {pod.spec.node_name}"
            assert labels.get(CPU_POOL_LABEL[0]) == CPU_POOL_LABEL[1], \
                f"{name} ({component}) landed on {pod.spec.node_name}, outside the CPU pool"
    for node_name, node in nodes.items():
        used = sum(pod_gpus(p) for p in pods if p.spec.node_name == node_name)
        assert used <= int((node.status.allocatable or {}).get(GPU, "0")), f"{node_name} over-committed"
    return pods


def test_install_is_deployed_and_available(release, apps: client.AppsV1Api):
    status = json.loads(release.run("status", release.name, "-o", "json"))
    assert status["info"]["status"] == "deployed"
    deps = deployments(release)
    assert {d["metadata"]["labels"][COMPONENT] for d in deps} >= {"gateway"}
    for d in deps:
        live = apps.read_namespaced_deployment(d["metadata"]["name"], release.namespace)
        available = [c for c in live.status.conditions or [] if c.type == "Available"]
        assert available and available[0].status == "True", f"{live.metadata.name}: {live.status}"
        assert live.status.available_replicas == live.spec.replicas


def test_every_object_was_accepted(release, cluster):
    """Each object `helm get manifest` lists exists in the API server, under its kind and name."""
    objects = manifest_objects(release.run("get", "manifest", release.name))
    assert len(objects) > 5
    missing = []
    for obj in objects:
        live = raw_get(cluster, object_path(cluster, obj, release.namespace))
        if live is None or live["metadata"]["name"] != obj["metadata"]["name"]:
            missing.append(f"{obj['kind']}/{obj['metadata']['name']}")
        else:
            assert live["metadata"]["labels"].get(INSTANCE) == release.name, f"{obj['kind']}/{obj['metadata']['name']}"
    assert not missing, f"not in the API server: {missing}"


def test_pods_land_in_their_pool(release, core: client.CoreV1Api):
    pods = check_placement(release, core)
    components = {p.metadata.labels.get(COMPONENT) for p in pods}
    assert {"stt", "tts", "llm", "gateway"} <= components, components
    if release.scenario.name == "gpu":
        assert release.scenario.gpu_components() == {"stt", "tts", "llm"}
    else:
        assert not release.scenario.gpu_components()


def test_gpu_request_beyond_free_stays_pending(release, core: client.CoreV1Api):
    """One more GPU than the cluster has free: the real scheduler refuses it, with its reason."""
    nodes = core.list_node().items
    capacity = sum(int((n.status.allocatable or {}).get(GPU, "0")) for n in nodes)
    busy = [p for p in core.list_pod_for_all_namespaces().items
            if p.spec.node_name and p.status.phase not in ("Succeeded", "Failed")]
    free = capacity - sum(pod_gpus(p) for p in busy)
    mine = sum(pod_gpus(p) for p in release_pods(core, release))
    assert capacity == 4 and free == capacity - mine, (capacity, free, mine)
    if release.scenario.name == "gpu":
        assert free == 1  # stt, tts and llm hold one each

    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name="gpu-oversubscribed", labels={"test": "oversubscribed"}),
        spec=client.V1PodSpec(
            containers=[client.V1Container(
                name="cuda", image="registry.invalid/cuda:never-pulled",
                resources=client.V1ResourceRequirements(limits={GPU: str(free + 1)}))],
            node_selector={GPU_NODE_LABEL[0]: GPU_NODE_LABEL[1]},
            tolerations=[client.V1Toleration(key=GPU, operator="Exists", effect="NoSchedule")],
        ),
    )
    core.create_namespaced_pod(release.namespace, pod)
    name = pod.metadata.name
    try:
        def unschedulable():
            p = core.read_namespaced_pod(name, release.namespace)
            cond = [c for c in p.status.conditions or [] if c.type == "PodScheduled"]
            return cond and cond[0].status == "False" and cond[0].reason == "Unschedulable" and cond[0].message

        message = wait_for("the scheduler to mark the pod Unschedulable", unschedulable, timeout=60,
                           diagnose=release.diagnose)
        assert f"Insufficient {GPU}" in message, message
        assert message.startswith(f"0/{len(nodes)} nodes are available"), message
        # Both CPU nodes lack the GPU label; the scheduler says so as well.
        assert "didn't match Pod's node affinity/selector" in message, message

        def failed_scheduling():
            events = core.list_namespaced_event(
                release.namespace, field_selector=f"involvedObject.name={name},reason=FailedScheduling").items
            return [e for e in events if f"Insufficient {GPU}" in (e.message or "")]

        events = wait_for("a FailedScheduling event", failed_scheduling, timeout=60, diagnose=release.diagnose)
        assert events[0].type == "Warning"
        time.sleep(3)  # and it stays that way
        p = core.read_namespaced_pod(name, release.namespace)
        assert p.status.phase == "Pending" and not p.spec.node_name, p.status
    finally:
        core.delete_namespaced_pod(name, release.namespace, grace_period_seconds=0)
        wait_for("the test pod to go", lambda: not release_pods_named(core, release, name), timeout=60)


def release_pods_named(core: client.CoreV1Api, release, name: str) -> list[client.V1Pod]:
    return core.list_namespaced_pod(release.namespace, field_selector=f"metadata.name={name}").items


# What test_upgrade_rolls_out changes (no dots in the annotation key); later upgrades keep it.
UPGRADE_SETS = (
    *(arg for c in ("stt", "tts", "llm", "gateway") for arg in ("--set-string", f"{c}.podAnnotations.{UPGRADE_ANNOTATION}=2")),
    "--set",
    "gateway.replicaCount=2",
)


def test_upgrade_rolls_out(release, apps: client.AppsV1Api, core: client.CoreV1Api):
    """A changed value reaches every Deployment: new pods everywhere, the old ones gone, placement kept."""
    before = {p.metadata.uid for p in release_pods(core, release)}
    release.upgrade_install(*UPGRADE_SETS)

    history = json.loads(release.run("history", release.name, "-o", "json"))
    assert [(h["revision"], h["status"]) for h in history][-1] == (2, "deployed"), history

    deps = deployments(release)
    for d in deps:
        live = apps.read_namespaced_deployment(d["metadata"]["name"], release.namespace)
        s = live.status
        assert (s.observed_generation or 0) >= live.metadata.generation, live.metadata.name
        assert s.updated_replicas == s.ready_replicas == s.available_replicas == live.spec.replicas, \
            f"{live.metadata.name}: {s}"
        template = live.spec.template.metadata.annotations or {}
        assert template.get(UPGRADE_ANNOTATION) == "2", f"{live.metadata.name}: {template}"
        if d["metadata"]["labels"][COMPONENT] == "gateway":
            assert live.spec.replicas == 2

    def settled():
        pods = release_pods(core, release)
        return (len(pods) == sum(d["spec"]["replicas"] for d in deps)
                and all((p.metadata.annotations or {}).get(UPGRADE_ANNOTATION) == "2" and is_ready(p) for p in pods)
                and pods)

    pods = wait_for("the old pods to be replaced", settled, timeout=120, diagnose=release.diagnose)
    assert not before & {p.metadata.uid for p in pods}, "pods of revision 1 survived the upgrade"
    check_placement(release, core)


def gateway_rollout(release, apps: client.AppsV1Api, core: client.CoreV1Api) -> dict:
    """The gateway's Deployment, pods and generated caller token, once its rollout has settled."""
    [name] = [d["metadata"]["name"] for d in deployments(release) if d["metadata"]["labels"][COMPONENT] == "gateway"]

    def settled():
        live = apps.read_namespaced_deployment(name, release.namespace)
        pods = [p for p in release_pods(core, release) if p.metadata.labels.get(COMPONENT) == "gateway"]
        s, replicas = live.status, live.spec.replicas
        observed = (s.observed_generation or 0) >= live.metadata.generation
        if observed and s.updated_replicas == s.ready_replicas == len(pods) == replicas and all(map(is_ready, pods)):
            return live, pods
        return None

    live, pods = wait_for("the gateway rollout to settle", settled, timeout=120, diagnose=release.diagnose)
    token = core.read_namespaced_secret(f"{name}-auth", release.namespace).data["token"]
    return {
        "generation": live.metadata.generation,
        "template annotations": live.spec.template.metadata.annotations,
        "pod-template-hash": {p.metadata.labels["pod-template-hash"] for p in pods},
        "pods": {p.metadata.uid for p in pods},
        "token": token,
    }


def test_an_unchanged_upgrade_restarts_no_gateway(release, apps: client.AppsV1Api, core: client.CoreV1Api):
    """The chart-made caller token is read back on upgrade, so its checksum and the pod template stay put
    (a GitOps sync or a routine `helm upgrade` must not drop live calls); deleting the Secret rotates the
    token and rolls every gateway onto the new one."""
    if release.scenario.name != "cpu":
        pytest.skip("the token does not depend on where pods run: checked on the cpu release")
    sets = (*UPGRADE_SETS, "--set", "gateway.auth.enabled=true")
    release.upgrade_install(*sets)  # auth on: the Secret is made, the gateways roll once
    before = gateway_rollout(release, apps, core)

    release.upgrade_install(*sets)
    assert gateway_rollout(release, apps, core) == before

    [name] = [d["metadata"]["name"] for d in deployments(release) if d["metadata"]["labels"][COMPONENT] == "gateway"]
    core.delete_namespaced_secret(f"{name}-auth", release.namespace)
    release.upgrade_install(*sets)
    rotated = gateway_rollout(release, apps, core)
    assert rotated["token"] != before["token"]
    assert rotated["template annotations"] != before["template annotations"]
    assert not rotated["pods"] & before["pods"], "a gateway kept the old token"


ALLOWED_LEFTOVERS = {("configmaps", "kube-root-ca.crt"), ("serviceaccounts", "default")}


def test_uninstall_leaves_nothing(release, cluster):
    """`helm uninstall` and the garbage collector remove every object; only the namespace's own remain,
    and what the chart keeps on purpose (helm.sh/resource-policy: keep: the callers' token Secret)."""
    objects = manifest_objects(release.run("get", "manifest", release.name))
    kept = [o for o in objects if (o["metadata"].get("annotations") or {}).get("helm.sh/resource-policy") == "keep"]
    paths = [object_path(cluster, o, release.namespace) for o in objects if o not in kept]
    kept_paths = [object_path(cluster, o, release.namespace) for o in kept]  # .../<resource>/<name>
    allowed = ALLOWED_LEFTOVERS | {tuple(path.split("/")[-2:]) for path in kept_paths}
    release.run("uninstall", release.name, "--wait", "--timeout", "3m")
    assert release.name not in release.run("list", "--all", "-q").split()

    wait_for("every object of the manifest to be deleted",
             lambda: not [p for p in paths if raw_get(cluster, p) is not None], timeout=120, diagnose=release.diagnose)
    listables = list(namespaced_listables(cluster))

    def leftovers() -> list[str]:
        found = []
        for template in listables:
            kind = template.rsplit("/", 1)[1]
            if kind == "events":
                continue
            try:
                items = raw_get(cluster, template.format(ns=f"namespaces/{release.namespace}"))
            except HTTPError as e:
                if e.code in (403, 405):
                    continue
                raise
            for item in (items or {}).get("items", []):
                if (kind, item["metadata"]["name"]) not in allowed:
                    found.append(f"{kind}/{item['metadata']['name']}")
        return found

    # Pods, ReplicaSets and EndpointSlices go through the garbage collector: wait for it.
    wait_for("the namespace to hold nothing of the release", lambda: not leftovers(), timeout=120,
             diagnose=lambda: f"left: {leftovers()}\n{release.diagnose()}")
    assert all(raw_get(cluster, path) is not None for path in kept_paths), f"not kept: {kept_paths}"
