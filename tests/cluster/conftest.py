"""Fixtures of the real-API tests: one cluster per session, one helm release per scenario.

The cluster (tools/k8s/cluster.py) is etcd + kube-apiserver + kube-controller-manager +
kube-scheduler + kwok on 127.0.0.1 with two fake GPU nodes and two fake CPU nodes. Without the
binaries these tests fail (they are part of `make test`, which builds them via `make k8s-tools`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from cluster_support import CHART, HELM, SCENARIOS, Helm, Scenario, describe_namespace, load_cluster_module, wait_for


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    k8s = load_cluster_module()
    missing = k8s.missing_tools()
    if not HELM.exists():
        missing.append(f"{HELM} (make helm-tools)")
    if missing:
        pytest.fail("the cluster tests need " + ", ".join(missing) +
                    ": run `make k8s-tools helm-tools` (prerequisites of `make test`)", pytrace=False)
    c = k8s.Cluster(tmp_path_factory.mktemp("k8s"))
    try:
        c.start()
    except k8s.ClusterError as e:
        pytest.fail(f"the test cluster did not start: {e}", pytrace=False)
    yield c
    c.stop()


@pytest.fixture(scope="session")
def api(cluster) -> client.ApiClient:
    return config.new_client_from_config(config_file=str(cluster.kubeconfig))


@pytest.fixture(scope="session")
def core(api) -> client.CoreV1Api:
    return client.CoreV1Api(api)


@pytest.fixture(scope="session")
def apps(api) -> client.AppsV1Api:
    return client.AppsV1Api(api)


@pytest.fixture(scope="session")
def helm(cluster, tmp_path_factory) -> Helm:
    return Helm(cluster.kubeconfig, tmp_path_factory.mktemp("helm-home"))


@dataclass
class Release:
    scenario: Scenario
    helm: Helm
    core: client.CoreV1Api

    @property
    def name(self) -> str:
        return self.scenario.release

    @property
    def namespace(self) -> str:
        return self.scenario.namespace

    def diagnose(self) -> str:
        return describe_namespace(self.core, self.namespace)

    def run(self, *args: str, timeout: float = 420) -> str:
        return self.helm(*args, "--namespace", self.namespace, timeout=timeout, diagnose=self.diagnose)

    def upgrade_install(self, *extra: str, install: bool = False) -> str:
        verb = ("install", self.name) if install else ("upgrade", self.name)
        return self.run(*verb, str(CHART), "-f", str(self.scenario.values_file), *extra,
                        "--wait", "--timeout", "5m")

    def installed(self) -> bool:
        return self.name in self.run("list", "--all", "-q").split()


@pytest.fixture(scope="module", params=SCENARIOS)
def release(request, cluster, helm: Helm, core: client.CoreV1Api) -> Iterator[Release]:
    """The chart installed (`helm install --wait`) with one ci/ scenario; uninstalled afterwards."""
    rel = Release(Scenario(request.param), helm, core)
    rel.upgrade_install("--create-namespace", install=True)
    yield rel
    if rel.installed():
        rel.run("uninstall", rel.name, "--wait", "--timeout", "3m")
    try:
        core.delete_namespace(rel.namespace)
    except ApiException as e:
        if e.status != 404:
            raise
    wait_for(f"namespace {rel.namespace} to go", lambda: _gone(core, rel.namespace), timeout=120)


def _gone(core: client.CoreV1Api, namespace: str) -> bool:
    try:
        core.read_namespace(namespace)
    except ApiException as e:
        return e.status == 404
    return False
