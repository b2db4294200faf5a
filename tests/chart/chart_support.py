"""Render the voice-agent chart with the real helm binary and look at the objects it produces."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "voice-agent"
HELM = REPO / ".cache" / "bin" / "helm"
SCENARIOS = sorted(p.name.removesuffix("-values.yaml") for p in (CHART / "ci").glob("*-values.yaml"))
# Kubernetes minors the chart supports (Chart.yaml kubeVersion >=1.30) up to the newest schemas we have.
KUBE_VERSIONS = [f"1.{minor}.0" for minor in range(30, 38)]
RELEASE, NAMESPACE = "va", "voice"
MODEL_COMPONENTS = ("stt", "tts", "llm")
COMPONENTS = (*MODEL_COMPONENTS, "gateway")


class HelmError(Exception):
    def __init__(self, args: list[str], stderr: str) -> None:
        super().__init__(f"helm {' '.join(args)} failed:\n{stderr}")
        self.stderr = stderr


def helm(*args: str) -> str:
    """Run helm; stdout on success, HelmError with stderr otherwise."""
    if not HELM.exists():
        raise FileNotFoundError(f"{HELM} is missing: run `make helm-tools` (make test does it)")
    proc = subprocess.run([str(HELM), *args], check=False, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise HelmError(list(args), proc.stderr)
    return proc.stdout


@dataclass(frozen=True)
class Manifest:
    """The objects of one `helm template` run."""

    objects: tuple[dict, ...]

    def kinds(self, kind: str) -> list[dict]:
        return [o for o in self.objects if o["kind"] == kind]

    def get(self, kind: str, name: str) -> dict:
        found = [o for o in self.objects if o["kind"] == kind and o["metadata"]["name"] == name]
        assert found, f"no {kind} {name}; have {[(o['kind'], o['metadata']['name']) for o in self.objects]}"
        return found[0]

    def component(self, kind: str, component: str) -> dict:
        """The object of ``kind`` for one component (stt, tts, llm, gateway, test)."""
        found = [o for o in self.kinds(kind) if o["metadata"]["labels"].get("app.kubernetes.io/component") == component]
        assert len(found) == 1, f"{len(found)} {kind} objects for {component}"
        return found[0]

    def has(self, kind: str, component: str) -> bool:
        return any(o["metadata"]["labels"].get("app.kubernetes.io/component") == component for o in self.kinds(kind))

    def deployment(self, component: str) -> dict:
        return self.component("Deployment", component)

    def pod_spec(self, component: str) -> dict:
        return self.deployment(component)["spec"]["template"]["spec"]

    def container(self, component: str) -> dict:
        containers = self.pod_spec(component)["containers"]
        assert len(containers) == 1, containers
        return containers[0]

    def workloads(self) -> Iterator[tuple[str, dict, dict]]:
        """(name, pod metadata, pod spec) of every pod the chart can create, the helm test pod included."""
        for d in self.kinds("Deployment"):
            yield d["metadata"]["name"], d["spec"]["template"]["metadata"], d["spec"]["template"]["spec"]
        for p in self.kinds("Pod"):
            yield p["metadata"]["name"], p["metadata"], p["spec"]


def all_containers(pod_spec: dict) -> list[dict]:
    return [*pod_spec.get("initContainers", []), *pod_spec["containers"]]


def env_of(container: dict) -> dict[str, object]:
    """name -> value (or the valueFrom dict)."""
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


@cache
def _render(values_files: tuple[str, ...], set_json: tuple[str, ...], kube_version: str | None) -> Manifest:
    args = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE]
    for f in values_files:
        args += ["-f", str(CHART / "ci" / f"{f}-values.yaml") if "/" not in f else f]
    for s in set_json:
        args += ["--set-json", s]
    if kube_version:
        args += ["--kube-version", kube_version]
    docs = [d for d in yaml.safe_load_all(helm(*args)) if d]
    return Manifest(tuple(docs))


def render(scenario: str | None = None, *, values: dict | None = None, kube_version: str | None = None,
           values_files: Iterable[str] = ()) -> Manifest:
    """Render the chart for a ci/ scenario (name without -values.yaml) plus optional overrides.

    ``values`` maps dotted value paths to overrides (``{"stt.gpu.count": 0}``), passed as --set-json.
    """
    files = tuple(([scenario] if scenario else []) + list(values_files))
    set_json = tuple(f"{path}={json.dumps(value)}" for path, value in (values or {}).items())
    return _render(files, set_json, kube_version)


def render_error(scenario: str | None = None, *, values: dict | None = None) -> str:
    """stderr of a render that must fail."""
    try:
        render(scenario, values=values)
    except HelmError as exc:
        return exc.stderr
    raise AssertionError(f"rendering with {values} should have failed")


def selector_matches(selector: dict, labels: dict[str, str]) -> bool:
    """Kubernetes LabelSelector semantics (matchLabels and matchExpressions)."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def tolerates(tolerations: list[dict], taint: dict) -> bool:
    """Whether a pod with ``tolerations`` tolerates ``taint`` ({key, value, effect})."""
    for t in tolerations:
        if t.get("effect") and t["effect"] != taint["effect"]:
            continue
        if t.get("key") and t["key"] != taint["key"]:
            continue
        if not t.get("key") and t.get("operator") != "Exists":
            continue
        if t.get("operator", "Equal") == "Exists" or t.get("value") == taint.get("value"):
            return True
    return False


@dataclass(frozen=True)
class Node:
    name: str
    labels: dict
    taints: tuple = ()
    extended: dict | None = None  # extended resources it offers (name -> count)


# The CI cluster the chart is installed on (tests/cluster, kwok): two fake GPU nodes, two CPU nodes.
CI_NODES = (
    *(Node(f"gpu-{i}", {"nvidia.com/gpu.present": "true", "kubernetes.io/hostname": f"gpu-{i}"},
           ({"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"},), {"nvidia.com/gpu": 8}) for i in (1, 2)),
    *(Node(f"cpu-{i}", {"voice-agent/pool": "cpu", "kubernetes.io/hostname": f"cpu-{i}"}) for i in (1, 2)),
)


def node_fits(pod_spec: dict, node: Node) -> list[str]:
    """Why the scheduler would refuse ``node`` for this pod (empty: it fits)."""
    reasons = []
    if any(node.labels.get(k) != v for k, v in pod_spec.get("nodeSelector", {}).items()):
        reasons.append("nodeSelector")
    for taint in node.taints:
        if taint["effect"] in ("NoSchedule", "NoExecute") and not tolerates(pod_spec.get("tolerations", []), taint):
            reasons.append(f"taint {taint['key']}")
    required = (pod_spec.get("affinity", {}).get("nodeAffinity", {})
                .get("requiredDuringSchedulingIgnoredDuringExecution", {}).get("nodeSelectorTerms"))
    if required and not any(
        selector_matches({"matchExpressions": term.get("matchExpressions", [])}, node.labels) for term in required
    ):
        reasons.append("node affinity")
    for container in all_containers(pod_spec):
        for name, count in container.get("resources", {}).get("limits", {}).items():
            if "/" in name and int(count) > (node.extended or {}).get(name, 0):
                reasons.append(f"{name} x{count}")
    return reasons
