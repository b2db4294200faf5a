"""Services, the gateway's upstream URLs, NetworkPolicies, ingress, kind wiring, autoscaling, PDBs."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import yaml

from chart_support import COMPONENTS, MODEL_COMPONENTS, REPO, env_of, render, render_error, selector_matches
from voice_gateway import metrics as gateway_metrics
from voice_gateway.settings import GatewaySettings
from voice_gateway.upstream_health import readiness_urls


def pods_selected(manifest, selector: dict) -> set[str]:
    """Components (by their Deployment's pod labels, plus the test pod) a selector picks."""
    picked = set()
    for _, meta, _ in manifest.workloads():
        if selector_matches(selector, meta["labels"]):
            picked.add(meta["labels"]["app.kubernetes.io/component"])
    return picked


def test_each_service_selects_its_component_and_targets_a_container_port(manifest):
    for component in COMPONENTS:
        service = manifest.component("Service", component)
        assert pods_selected(manifest, {"matchLabels": service["spec"]["selector"]}) == {component}
        container = manifest.container(component)
        names = {p["name"]: p["containerPort"] for p in container["ports"]}
        for port in service["spec"]["ports"]:
            target = port["targetPort"]
            assert (target in names) if isinstance(target, str) else (target in names.values()), (component, port)


def test_gateway_upstream_urls_point_at_the_release_services(manifest):
    env = env_of(manifest.container("gateway"))
    services = {s["metadata"]["name"]: s for s in manifest.kinds("Service")}
    expected = {"GATEWAY_STT_URL": ("stt", "ws", "/v1/listen"), "GATEWAY_TTS_URL": ("tts", "ws", "/ws"),
                "GATEWAY_LLM_BASE_URL": ("llm", "http", "/v1")}
    for var, (component, scheme, path) in expected.items():
        url = urlsplit(env[var])
        assert (url.scheme, url.path) == (scheme, path), env[var]
        service = services.get(url.hostname)
        assert service is not None, f"{var}={env[var]}: no Service {url.hostname}"
        assert service["metadata"]["labels"]["app.kubernetes.io/component"] == component
        assert url.port in [p["port"] for p in service["spec"]["ports"]], f"{var}: port {url.port} not on the Service"


def test_gateway_readiness_checks_reach_the_model_servers_ready_endpoints(manifest):
    """The gateway's /ready probes the upstreams' readiness paths: those must be the servers' own."""
    env = env_of(manifest.container("gateway"))
    settings = GatewaySettings(
        stt_url=env["GATEWAY_STT_URL"], tts_url=env["GATEWAY_TTS_URL"], llm_base_url=env["GATEWAY_LLM_BASE_URL"]
    )
    by_host = {s["metadata"]["name"]: s["metadata"]["labels"]["app.kubernetes.io/component"] for s in manifest.kinds("Service")}
    for url in readiness_urls(settings).values():
        component = by_host[urlsplit(url).hostname]
        if component == "llm":
            assert urlsplit(url).path == "/v1/models"  # served by vLLM and llama.cpp alike
        else:
            probe = manifest.container(component)["readinessProbe"]["httpGet"]["path"]
            assert urlsplit(url).path == probe, (url, probe)


def test_external_upstreams_replace_disabled_components():
    manifest = render("cpu", values={"llm.enabled": False, "gateway.upstreams.llmBaseUrl": "http://vllm.shared:8000/v1",
                                     "gateway.upstreams.llmModel": "llama-3.1-8b"})
    assert not manifest.has("Deployment", "llm") and not manifest.has("Service", "llm")
    env = env_of(manifest.container("gateway"))
    assert env["GATEWAY_LLM_BASE_URL"] == "http://vllm.shared:8000/v1" and env["GATEWAY_LLM_MODEL"] == "llama-3.1-8b"
    assert not [p for p in manifest.kinds("NetworkPolicy") if "llm" in p["metadata"]["name"]]


def test_gateway_service_spreads_calls_and_affinity_is_opt_in():
    service = render("production").component("Service", "gateway")
    assert service["spec"]["sessionAffinity"] == "None" and "sessionAffinityConfig" not in service["spec"]
    pinned = render("production", values={"gateway.service.sessionAffinity": "ClientIP"}).component("Service", "gateway")
    assert pinned["spec"]["sessionAffinityConfig"]["clientIP"]["timeoutSeconds"] >= 3600


def test_only_the_gateway_reaches_the_model_servers(manifest):
    policies = {p["metadata"]["labels"]["app.kubernetes.io/component"]: p for p in manifest.kinds("NetworkPolicy")}
    assert set(policies) == set(COMPONENTS), "every component is covered"
    for component in MODEL_COMPONENTS:
        spec = policies[component]["spec"]
        assert pods_selected(manifest, spec["podSelector"]) == {component}
        assert spec["policyTypes"] == ["Ingress"]
        container_ports = {p["name"] for p in manifest.container(component)["ports"]}
        for rule in spec["ingress"]:
            assert rule.get("from"), f"{component}: a rule without 'from' admits everyone"
            assert {p["port"] for p in rule["ports"]} <= container_ports
            for peer in rule["from"]:
                if "podSelector" in peer and "namespaceSelector" not in peer:
                    assert pods_selected(manifest, peer["podSelector"]) == {"gateway"}, (component, peer)
                else:
                    assert peer.get("namespaceSelector", {}).get("matchLabels"), f"{component}: unexpected peer {peer}"


def test_prometheus_may_scrape_but_only_where_allowed():
    manifest = render("production")
    monitoring = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    for policy in manifest.kinds("NetworkPolicy"):
        peers = [peer for rule in policy["spec"]["ingress"] for peer in rule["from"]]
        assert monitoring in peers, policy["metadata"]["name"]
    cpu_peers = [peer for p in render("cpu").kinds("NetworkPolicy") for r in p["spec"]["ingress"] for peer in r.get("from", [])]
    assert monitoring not in cpu_peers


def test_gateway_policy_admits_callers_and_the_helm_test_pod():
    open_policy = render("cpu").component("NetworkPolicy", "gateway")
    assert open_policy["spec"]["ingress"][0].get("from") is None, "no gatewayFrom: any caller"
    manifest = render("production")
    peers = [peer for rule in manifest.component("NetworkPolicy", "gateway")["spec"]["ingress"] for peer in rule["from"]]
    assert any(pods_selected(manifest, p["podSelector"]) == {"test"} for p in peers if "podSelector" in p)
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}} in peers


def test_ingress_keeps_idle_calls_open():
    manifest = render("production")
    ingress = manifest.kinds("Ingress")[0]
    annotations = ingress["metadata"]["annotations"]
    for key in ("nginx.ingress.kubernetes.io/proxy-read-timeout", "nginx.ingress.kubernetes.io/proxy-send-timeout"):
        assert int(annotations[key]) >= 3600, "ingress-nginx's 60 s default hangs up on a caller who pauses"
    assert annotations["cert-manager.io/cluster-issuer"] == "letsencrypt"
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    service = manifest.component("Service", "gateway")
    assert backend["name"] == service["metadata"]["name"]
    assert backend["port"]["name"] in [p["name"] for p in service["spec"]["ports"]]
    assert ingress["spec"]["tls"][0]["hosts"] == ["voice.example.com"]


def test_kind_config_publishes_the_gateway_node_port_on_the_cpu_pool():
    kind = yaml.safe_load((REPO / "kind-config.yaml").read_text())
    manifest = render("cpu")
    service = manifest.component("Service", "gateway")
    assert service["spec"]["type"] == "NodePort"
    node_port = service["spec"]["ports"][0]["nodePort"]
    workers = [n for n in kind["nodes"] if n["role"] == "worker"]
    mappings = [m for n in workers for m in n.get("extraPortMappings", [])]
    assert any(m["containerPort"] == node_port and m["hostPort"] == 7860 for m in mappings)
    pool = manifest.pod_spec("gateway")["nodeSelector"]
    assert any(pool.items() <= n.get("labels", {}).items() for n in workers), "a kind worker is in the CPU pool"


def test_gateway_hpa_scales_on_a_metric_the_gateway_exports():
    manifest = render("production")
    hpa = manifest.component("HorizontalPodAutoscaler", "gateway")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                             "name": manifest.deployment("gateway")["metadata"]["name"]}
    metric = hpa["spec"]["metrics"][0]["pods"]
    assert metric["metric"]["name"] == gateway_metrics.ACTIVE_SESSIONS.describe()[0].name
    assert int(metric["target"]["averageValue"]) == 32
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 20)
    assert hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] >= 300
    assert "replicas" not in manifest.deployment("gateway")["spec"], "the HPA owns the replica count"


@pytest.mark.parametrize("component", MODEL_COMPONENTS)
def test_an_autoscaled_model_server_leaves_its_count_to_the_hpa(component):
    """A fixed replicas field would reset the HPA's count on every `helm upgrade`."""
    manifest = render("cpu", values={f"{component}.autoscaling.enabled": True, f"{component}.replicaCount": 3})
    hpa = manifest.component("HorizontalPodAutoscaler", component)
    assert hpa["spec"]["scaleTargetRef"]["name"] == manifest.deployment(component)["metadata"]["name"]
    assert "replicas" not in manifest.deployment(component)["spec"]
    assert render("cpu").deployment(component)["spec"]["replicas"] == 1


def test_keda_scaled_object_queries_the_gateway_metric():
    manifest = render("production", values={"gateway.autoscaling.enabled": False, "gateway.keda.enabled": True})
    scaled = manifest.kinds("ScaledObject")[0]
    assert scaled["spec"]["scaleTargetRef"]["name"] == manifest.deployment("gateway")["metadata"]["name"]
    assert "replicas" not in manifest.deployment("gateway")["spec"], "KEDA owns the count: upgrades must not reset it"
    trigger = scaled["spec"]["triggers"][0]
    assert trigger["type"] == "prometheus"
    assert gateway_metrics.ACTIVE_SESSIONS.describe()[0].name + "{" in trigger["metadata"]["query"]
    assert not manifest.kinds("HorizontalPodAutoscaler")


def test_pdbs_protect_the_replicas_they_name():
    manifest = render("production")
    pdbs = {p["metadata"]["labels"]["app.kubernetes.io/component"]: p for p in manifest.kinds("PodDisruptionBudget")}
    assert set(pdbs) == set(COMPONENTS)
    for component, pdb in pdbs.items():
        assert pods_selected(manifest, pdb["spec"]["selector"]) == {component}
        assert pdb["spec"]["minAvailable"] == 1
    assert not render("cpu").kinds("PodDisruptionBudget"), "a PDB on one replica would block node drains"


def test_service_monitors_scrape_every_metrics_endpoint():
    manifest = render("production")
    monitors = {m["metadata"]["labels"]["app.kubernetes.io/component"]: m for m in manifest.kinds("ServiceMonitor")}
    assert set(monitors) == set(COMPONENTS)
    for component, monitor in monitors.items():
        assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
        service = manifest.component("Service", component)
        assert selector_matches(monitor["spec"]["selector"], service["metadata"]["labels"])
        endpoint = monitor["spec"]["endpoints"][0]
        assert endpoint["path"] == "/metrics" and endpoint["port"] in [p["name"] for p in service["spec"]["ports"]]
    monitoring = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]
    cpu = render("cpu", values={"observability.serviceMonitor.enabled": True, "networkPolicy.metricsFrom": monitoring})
    cpu_monitors = {m["metadata"]["labels"]["app.kubernetes.io/component"]: m for m in cpu.kinds("ServiceMonitor")}
    assert set(cpu_monitors) == set(COMPONENTS), "llama.cpp's server (the CPU LLM) has /metrics too"
    llm_endpoint = cpu_monitors["llm"]["spec"]["endpoints"][0]
    [llm_port] = [p for p in cpu.component("Service", "llm")["spec"]["ports"] if p["name"] == llm_endpoint["port"]]
    assert llm_endpoint["path"] == "/metrics" and llm_port["targetPort"] == "http"
    assert cpu.container("llm")["ports"][0]["name"] == "http", "the port llama.cpp serves /metrics on"
    # Prometheus reaches that port through the LLM's NetworkPolicy (tests/chart/test_chart_llm_probes.py scrapes it)
    policy = cpu.component("NetworkPolicy", "llm")
    assert any(rule["from"] == monitoring and {"port": "http", "protocol": "TCP"} in rule["ports"]
               for rule in policy["spec"]["ingress"] if "from" in rule)


def test_an_ingress_without_hosts_routes_every_host_to_the_gateway():
    ingress = render("cpu", values={"gateway.ingress.enabled": True}).kinds("Ingress")[0]
    [rule] = ingress["spec"]["rules"]
    assert "host" not in rule and rule["http"]["paths"][0]["path"] == "/", "an Ingress with no rules routes nothing"


def test_service_monitors_without_a_scrape_path_through_the_network_policy_are_refused():
    stderr = render_error("cpu", values={"observability.serviceMonitor.enabled": True})
    assert "networkPolicy.metricsFrom" in stderr, stderr


def test_a_pdb_that_would_block_every_node_drain_is_refused():
    stderr = render_error("cpu", values={"stt.pdb.enabled": True})  # one STT replica, minAvailable 1
    assert "stt.pdb.minAvailable" in stderr and "drained" in stderr, stderr
    assert render("cpu", values={"stt.pdb.enabled": True, "stt.replicaCount": 2}).kinds("PodDisruptionBudget")


def test_an_autoscaled_component_is_judged_by_its_fewest_replicas():
    """The autoscaler may go down to its minimum: replicaCount (ignored then) says nothing."""
    stderr = render_error("production", values={"gateway.autoscaling.minReplicas": 1, "gateway.replicaCount": 3})
    assert "gateway.pdb.minAvailable" in stderr and "(1)" in stderr, stderr
    keda = {"gateway.autoscaling.enabled": False, "gateway.keda.enabled": True, "gateway.replicaCount": 1}
    assert render("production", values=keda).component("PodDisruptionBudget", "gateway")["spec"]["minAvailable"] == 1
    stderr = render_error("production", values={**keda, "gateway.keda.minReplicas": 1, "gateway.replicaCount": 3})
    assert "gateway.pdb.minAvailable" in stderr, stderr
