"""Static checks: helm lint --strict, and every scenario's objects valid for Kubernetes 1.30-1.37.

Validation uses kubernetes-validate's strict schemas (unknown fields are errors). A built-in kind
with no schema fails the test (kubernetes-validate itself only warns); the only kinds allowed
without one are the CRDs listed in CRD_KINDS, which get a structural check instead.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import jsonschema
import pytest
import referencing
from kubernetes_validate import utils as kv

from chart_support import CHART, KUBE_VERSIONS, SCENARIOS, helm, render

# Custom resources the chart renders when asked (Prometheus Operator, KEDA): no upstream schema.
CRD_KINDS = {("monitoring.coreos.com/v1", "ServiceMonitor"), ("monitoring.coreos.com/v1", "PrometheusRule"),
             ("keda.sh/v1alpha1", "ScaledObject")}


@cache
def _schema_file(schema_dir: str, name: str) -> dict | None:
    path = kv.importlib_resources.files("kubernetes_validate") / "kubernetes-json-schema" / schema_dir / name
    return json.loads(path.read_text()) if path.is_file() else None


@cache
def _validator(version: str, api_version: str, kind: str) -> jsonschema.protocols.Validator | None:
    """kubernetes-validate's strict schema for a kind (the same files and lookup as its CLI), compiled once."""
    schema_version = [v for v in kv.all_versions() if kv.major_minor(v) <= kv.major_minor(version)][-1]
    schema_dir = f"v{schema_version}-local-strict"
    api = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    schema = _schema_file(schema_dir, f"{kind.lower()}-{api}.json")
    if schema is None:
        return None
    registry = referencing.Resource.from_contents(_schema_file(schema_dir, "_definitions.json")) @ (
        referencing.Resource.from_contents(schema) @ referencing.Registry()
    )
    return jsonschema.Draft202012Validator(schema, registry=registry)


def validation_errors(obj: dict, version: str) -> list[str]:
    key = (obj["apiVersion"], obj["kind"])
    where = f"{obj['kind']}/{obj['metadata']['name']}"
    validator = _validator(version, *key)
    if validator is None:
        if key in CRD_KINDS:
            missing = {"apiVersion", "kind", "metadata", "spec"} - obj.keys()
            return [f"{where}: custom resource without {sorted(missing)}"] if missing else []
        return [f"{where}: no Kubernetes {version} schema for {key} (not a built-in kind of this version?)"]
    return [f"{where}: {'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(obj)]


def test_lint_strict_default_values():
    out = helm("lint", "--strict", str(CHART))
    assert "0 chart(s) failed" in out


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_lint_strict_scenario(scenario):
    out = helm("lint", "--strict", str(CHART), "-f", str(CHART / "ci" / f"{scenario}-values.yaml"))
    assert "0 chart(s) failed" in out


def test_every_scenario_named_in_the_issue_exists():
    assert {"cpu", "gpu", "gpu-shared", "production"} <= set(SCENARIOS)


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_rendered_objects_validate_strictly(scenario, kube_version):
    manifest = render(scenario, kube_version=kube_version)
    assert manifest.objects, "nothing rendered"
    errors = [error for obj in manifest.objects for error in validation_errors(obj, kube_version)]
    assert not errors, "\n".join(errors)


def test_validation_catches_an_unknown_field_and_an_unknown_kind():
    """The validator above is not vacuous: it rejects what the API server would."""
    deployment = dict(render("cpu").deployment("gateway"))
    broken = json.loads(json.dumps(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGett"] = {}
    assert any("httpGett" in e for e in validation_errors(broken, "1.30.0"))
    made_up = {"apiVersion": "apps/v1", "kind": "Deploymint", "metadata": {"name": "x"}, "spec": {}}
    assert validation_errors(made_up, "1.30.0")


def test_kube_versions_older_than_supported_are_refused():
    with pytest.raises(Exception, match="kubeVersion"):
        render("cpu", kube_version="1.29.0")


def test_crd_objects_only_where_asked():
    """Scenarios installed on plain clusters (kind, the CI's fake cluster) must not need CRDs."""
    for scenario in ("cpu", "gpu"):
        kinds = {(o["apiVersion"], o["kind"]) for o in render(scenario).objects}
        assert not kinds & CRD_KINDS, (scenario, kinds & CRD_KINDS)
    production = {(o["apiVersion"], o["kind"]) for o in render("production").objects}
    assert {("monitoring.coreos.com/v1", "ServiceMonitor"), ("monitoring.coreos.com/v1", "PrometheusRule")} <= production


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_kubernetes_validate_cli_agrees(scenario, tmp_path):
    """The same check through the `kubernetes-validate --strict` command line, at the oldest supported version."""
    rendered = tmp_path / f"{scenario}.yaml"
    rendered.write_text(helm("template", "va", str(CHART), "-f", str(CHART / "ci" / f"{scenario}-values.yaml")))
    cli = Path(sys.executable).with_name("kubernetes-validate")
    proc = subprocess.run([str(cli), "--strict", "-k", KUBE_VERSIONS[0], "--quiet", str(rendered)],
                          check=False, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    warnings = [line for line in proc.stdout.splitlines() if line.startswith("WARN")]
    assert all(any(kind in line for _, kind in CRD_KINDS) for line in warnings), warnings
