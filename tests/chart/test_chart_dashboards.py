"""Grafana dashboards: generated from the code, querying only metrics that exist, budget drawn as thresholds."""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Iterator

import pytest

import chart_dashboards  # the generator, from scripts/ (on pytest's pythonpath)
from chart_support import CHART, render
from voice_common.budget import load_budget
from voice_gateway import metrics as gateway_metrics

DASHBOARDS = {p.name: json.loads(p.read_text()) for p in sorted((CHART / "dashboards").glob("*.json"))}
PROMQL_WORDS = {
    "sum", "avg", "max", "min", "count", "rate", "irate", "increase", "histogram_quantile", "by", "without",
    "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "label_values", "offset", "bool",
}


def panels(board: dict) -> Iterator[dict]:
    for panel in board["panels"]:
        yield panel
        yield from panel.get("panels", [])


def exprs(board: dict) -> Iterator[tuple[str, str]]:
    for panel in panels(board):
        for target in panel.get("targets", []):
            yield panel["title"], target["expr"]
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            yield f"${variable['name']}", variable["definition"]


def metric_names(expr: str) -> set[str]:
    """Series names in a PromQL expression: identifiers that are not functions, keywords or label names."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)           # string literals
    expr = re.sub(r"\{[^}]*\}", "", expr)                      # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)                     # range selectors ($__rate_interval)
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", r"\1", expr)  # label lists
    expr = re.sub(r"label_values\(([^,)]*),[^)]*\)", r"label_values(\1)", expr)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", expr):
        word, rest = match.group(0), expr[match.end():].lstrip()
        if word in PROMQL_WORDS or rest.startswith("(") or word.startswith("$"):
            continue
        names.add(word)
    return names


def known_metrics() -> dict[str, set[str]]:
    """Exported series names by source: the gateway registry, our servers' registries (where they exist), outside exporters."""
    known = {
        "gateway": chart_dashboards.exported_names(gateway_metrics.REGISTRY),
        "external": set(chart_dashboards.EXTERNAL_METRICS) | {"up"},
    }
    for prefix in chart_dashboards.SERVER_METRIC_MODULES:
        registry = chart_dashboards.server_registry(prefix)
        known[prefix] = chart_dashboards.exported_names(registry) if registry else set()
    return known


def test_committed_dashboards_are_the_generated_ones():
    generated = chart_dashboards.render()
    assert set(generated) == set(DASHBOARDS), "run `make dashboards`"
    for name, text in generated.items():
        assert json.loads(text) == DASHBOARDS[name], f"{name} is stale: run `make dashboards`"


def test_metric_name_extraction():
    stt_p95 = ('histogram_quantile(0.95, sum by (le) '
               '(rate(voice_stt_latency_seconds_bucket{namespace=~"$namespace"}[$__rate_interval])))')
    assert metric_names(stt_p95) == {"voice_stt_latency_seconds_bucket"}
    ratio = 'sum by (stage) (rate(a_total{x="y"}[5m])) / ignoring(stage) group_left sum(rate(b_total[1m]))'
    assert metric_names(ratio) == {"a_total", "b_total"}
    assert metric_names("max by (pod) (vllm:kv_cache_usage_perc{})") == {"vllm:kv_cache_usage_perc"}


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_every_queried_metric_is_exported(name):
    known = known_metrics()
    everything = set().union(*known.values())
    queried = {metric: title for title, expr in exprs(DASHBOARDS[name]) for metric in metric_names(expr)}
    assert queried, "a dashboard without queries"
    for metric, title in queried.items():
        if metric.startswith("voice_"):
            assert metric in known["gateway"], f"{title}: {metric} is not in voice_gateway.metrics.REGISTRY"
        elif metric.startswith(("stt_", "tts_")):
            source = metric.split("_")[0]
            module = chart_dashboards.SERVER_METRIC_MODULES[source]
            assert known[source], f"{title}: {metric} queried but {module} does not exist"
            assert metric in known[source], f"{title}: {metric} is not exported by {module}"
        else:
            assert metric in everything, (
                f"{title}: {metric} is exported by nothing we know (add it to EXTERNAL_METRICS if vLLM/DCGM export it)"
            )


def test_every_stage_histogram_has_its_p50_p95_panel_with_budget_thresholds():
    board = DASHBOARDS["voice-agent-latency.json"]
    budget = load_budget()
    for stage, histogram in gateway_metrics.STAGE_HISTOGRAMS.items():
        bucket = histogram.describe()[0].name + "_bucket"
        found = [p for p in panels(board) if any(bucket in t["expr"] for t in p.get("targets", []))]
        assert len(found) == 1, stage
        panel = found[0]
        quantiles = sorted(re.match(r"histogram_quantile\(([0-9.]+)", t["expr"]).group(1) for t in panel["targets"])
        assert quantiles == ["0.5", "0.95"], stage
        steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
        assert [s["value"] for s in steps] == [None, budget[stage].target_max_ms / 1000, budget[stage].max_ms / 1000], stage
        assert panel["fieldConfig"]["defaults"]["unit"] == "s"
        assert panel["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] != "off", "thresholds are drawn"


def test_latency_dashboard_covers_the_turn_counters_and_sessions():
    queried = {m for _, e in exprs(DASHBOARDS["voice-agent-latency.json"]) for m in metric_names(e)}
    assert {"voice_turns_over_budget_total", "voice_interruptions_total", "voice_active_sessions",
            "voice_turns_total", "voice_upstream_errors_total"} <= queried


def test_servers_dashboard_covers_vllm_and_gpus():
    queried = {m for _, e in exprs(DASHBOARDS["voice-agent-servers.json"]) for m in metric_names(e)}
    assert {"vllm:time_to_first_token_seconds_bucket", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc"} <= queried
    assert any(m.startswith("DCGM_") for m in queried)


def test_panels_do_not_overlap():
    for name, board in DASHBOARDS.items():
        cells = set()
        for panel in panels(board):
            g = panel["gridPos"]
            mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
            assert not mine & cells, (name, panel["title"])
            assert g["x"] + g["w"] <= 24
            cells |= mine
        ids = [p["id"] for p in panels(board)]
        assert len(ids) == len(set(ids)), name


def test_dashboards_ship_in_configmaps_for_the_grafana_sidecar():
    manifest = render("production")
    maps = [c for c in manifest.kinds("ConfigMap") if c["metadata"]["labels"].get("grafana_dashboard") == "1"]
    shipped = {key: json.loads(value) for c in maps for key, value in c["data"].items()}
    assert shipped == DASHBOARDS
    assert all(c["metadata"]["namespace"] == "monitoring" for c in maps)
    assert all(c["metadata"]["annotations"]["grafana_folder"] == "Voice agent" for c in maps)
    assert not [c for c in render("cpu", values={"observability.dashboards.enabled": False}).kinds("ConfigMap")
                if "grafana_dashboard" in c["metadata"]["labels"]]


def test_server_metrics_modules_load_when_present():
    """When the STT/TTS servers grow their metrics modules, the generator must be able to read them."""
    for prefix, module in chart_dashboards.SERVER_METRIC_MODULES.items():
        if importlib.util.find_spec(module.split(".")[0]) and importlib.util.find_spec(module):
            assert chart_dashboards.server_registry(prefix) is not None


def test_latency_panels_show_exemplars_that_link_to_the_trace_data_source():
    """Each stage panel fetches its histogram's exemplars (the turns' trace ids); the trace back end is a variable."""
    board = DASHBOARDS["voice-agent-latency.json"]
    for histogram in gateway_metrics.STAGE_HISTOGRAMS.values():
        bucket = histogram.describe()[0].name + "_bucket"
        targets = [t for p in panels(board) for t in p.get("targets", []) if bucket in t["expr"]]
        assert any(t.get("exemplar") for t in targets), bucket
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["traces"]["type"] == "datasource" and variables["traces"]["query"] == "jaeger"
    assert any("${traces}" in link["url"] for link in board["links"])


def test_the_gpu_panel_works_on_mig_slices():
    """DCGM_FI_DEV_GPU_UTIL is not reported for MIG slices: the engine-activity profiling field is, per slice."""
    queried = {m for _, e in exprs(DASHBOARDS["voice-agent-servers.json"]) for m in metric_names(e)}
    assert "DCGM_FI_PROF_GR_ENGINE_ACTIVE" in queried and "DCGM_FI_DEV_GPU_UTIL" not in queried
    gpu = next(e for _, e in exprs(DASHBOARDS["voice-agent-servers.json"]) if "DCGM_FI_PROF_GR_ENGINE_ACTIVE" in e)
    assert "GPU_I_ID" in gpu, "one line per MIG slice, not their average"


def test_error_panels_are_split_by_code_and_the_cluster_panels_are_there():
    for name, board in DASHBOARDS.items():
        for title, expr in exprs(board):
            if re.search(r"(errors|rejected)_total", expr):
                assert re.search(r"by \([^)]*\b(code|reason)\b", expr), f"{name}: {title} is not split by code: {expr}"
    latency = {m for _, e in exprs(DASHBOARDS["voice-agent-latency.json"]) for m in metric_names(e)}
    assert {"voice_client_errors_total", "kube_horizontalpodautoscaler_status_current_replicas"} <= latency
    servers = {m for _, e in exprs(DASHBOARDS["voice-agent-servers.json"]) for m in metric_names(e)}
    assert {"kube_pod_container_status_restarts_total", "kube_pod_container_status_last_terminated_reason"} <= servers
