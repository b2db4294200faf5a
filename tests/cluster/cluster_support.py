"""Helpers of the real-API cluster tests: the cluster module, helm against it, waiting, diagnostics."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "voice-agent"
HELM = REPO / ".cache" / "bin" / "helm"
CLUSTER_PY = REPO / "tools" / "k8s" / "cluster.py"
INSTANCE = "app.kubernetes.io/instance"
GPU = "nvidia.com/gpu"
GPU_NODE_LABEL = ("nvidia.com/gpu.present", "true")
CPU_POOL_LABEL = ("voice-agent/pool", "cpu")
# Scenario name -> values file; each is installed as release va-<name> in namespace <name>.
SCENARIOS = ("cpu", "gpu")


def load_cluster_module():
    """tools/k8s/cluster.py, imported by path (it is a script, not a package)."""
    name = "voice_k8s_cluster"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, CLUSTER_PY)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up while the class is built
        spec.loader.exec_module(module)
    return sys.modules[name]


class HelmFailed(AssertionError):
    pass


@dataclass
class Helm:
    kubeconfig: Path
    home: Path  # HELM_CACHE_HOME/CONFIG_HOME/DATA_HOME: nothing from the user's helm setup leaks in

    def __call__(self, *args: str, timeout: float = 420, diagnose: Callable[[], str] | None = None) -> str:
        env = {"PATH": "/usr/bin:/bin", "HOME": str(self.home), "KUBECONFIG": str(self.kubeconfig),
               **{f"HELM_{k}_HOME": str(self.home / k.lower()) for k in ("CACHE", "CONFIG", "DATA")}}
        proc = subprocess.run([str(HELM), *args], check=False, capture_output=True, text=True, timeout=timeout, env=env)
        if proc.returncode != 0:
            extra = f"\n{diagnose()}" if diagnose else ""
            raise HelmFailed(f"helm {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}{extra}")
        return proc.stdout


@dataclass(frozen=True)
class Scenario:
    name: str

    @property
    def release(self) -> str:
        return f"va-{self.name}"

    @property
    def namespace(self) -> str:
        return self.name

    @property
    def values_file(self) -> Path:
        return CHART / "ci" / f"{self.name}-values.yaml"

    def values(self) -> dict:
        return yaml.safe_load(self.values_file.read_text()) or {}

    def gpu_components(self) -> set[str]:
        """Components the scenario puts on GPUs (``<component>.gpu.enabled: true``)."""
        return {k for k, v in self.values().items() if isinstance(v, dict) and (v.get("gpu") or {}).get("enabled")}


def manifest_objects(text: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(text) if d]


def wait_for(what: str, check: Callable[[], Any], timeout: float = 120, interval: float = 1.0,
             diagnose: Callable[[], str] | None = None) -> Any:
    """Poll ``check`` until it returns something truthy; fail with the last value and diagnostics."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = check()
        except ApiException as e:
            last = e
        else:
            if last:
                return last
        if time.monotonic() > deadline:
            extra = f"\n{diagnose()}" if diagnose else ""
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}{extra}")
        time.sleep(interval)


def raw_get(cluster, path: str) -> dict | None:
    """GET an API path as JSON with the cluster's admin certificate (None on 404)."""
    return cluster.get(path)


def object_path(cluster, obj: dict, namespace: str) -> str:
    """REST path of a manifest object, from discovery (so CRDs and every built-in kind work)."""
    group_version = obj["apiVersion"]
    base = f"/api/{group_version}" if "/" not in group_version else f"/apis/{group_version}"
    resources = raw_get(cluster, base)
    assert resources is not None, f"the API server does not serve {group_version}"
    found = [r for r in resources["resources"] if r["kind"] == obj["kind"] and "/" not in r["name"]]
    assert found, f"{group_version} has no kind {obj['kind']}"
    res = found[0]
    ns = obj["metadata"].get("namespace") or namespace
    middle = f"/namespaces/{ns}" if res["namespaced"] else ""
    return f"{base}{middle}/{res['name']}/{obj['metadata']['name']}"


def namespaced_listables(cluster) -> Iterator[str]:
    """Every namespaced resource the server can list, as '<base>/<resource>' (preferred versions)."""
    core = raw_get(cluster, "/api/v1")
    for r in core["resources"]:
        if r["namespaced"] and "/" not in r["name"] and "list" in r["verbs"]:
            yield f"/api/v1/{{ns}}/{r['name']}"
    for group in raw_get(cluster, "/apis")["groups"]:
        gv = group["preferredVersion"]["groupVersion"]
        listing = raw_get(cluster, f"/apis/{gv}")
        for r in (listing or {}).get("resources", []):
            if r["namespaced"] and "/" not in r["name"] and "list" in r["verbs"]:
                yield f"/apis/{gv}/{{ns}}/{r['name']}"


def pod_gpus(pod: client.V1Pod) -> int:
    total = 0
    for c in pod.spec.containers:
        res = c.resources
        for bucket in (res.limits or {}, res.requests or {}) if res else ():
            if GPU in bucket:
                total += int(bucket[GPU])
                break
    return total


def is_ready(pod: client.V1Pod) -> bool:
    return pod.status.phase == "Running" and any(
        c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def describe_namespace(core: client.CoreV1Api, namespace: str) -> str:
    """Pods with their node, phase and conditions, and the namespace's recent events: for failure messages."""
    lines = [f"--- pods in {namespace} ---"]
    try:
        for p in core.list_namespaced_pod(namespace).items:
            conds = ",".join(f"{c.type}={c.status}{'(' + c.message + ')' if c.message else ''}"
                             for c in p.status.conditions or [])
            lines.append(f"{p.metadata.name} node={p.spec.node_name} phase={p.status.phase} {conds}")
        lines.append(f"--- events in {namespace} ---")
        events = sorted(core.list_namespaced_event(namespace).items,
                        key=lambda e: e.last_timestamp or e.event_time or e.metadata.creation_timestamp)
        for e in events[-30:]:
            lines.append(f"{e.type} {e.reason} {e.involved_object.kind}/{e.involved_object.name}: {e.message}")
    except ApiException as e:
        lines.append(f"(could not list: {e.status} {e.reason})")
    return "\n".join(lines)
