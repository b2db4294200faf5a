"""Generate the chart's Grafana dashboards from the code: the latency budget and the metric registries.

    python scripts/chart_dashboards.py            # rewrite charts/voice-agent/dashboards/*.json
    python scripts/chart_dashboards.py --check    # exit 1 if the committed files are stale

The per-stage panels draw ``src/voice_common/budget.json`` as thresholds (amber above the target
band, red above the hard maximum) and query the histograms the gateway registers for each stage
(``voice_gateway.metrics.STAGE_HISTOGRAMS``). Panels for the STT and TTS servers are made from
their own registries (``voice_stt.metrics``/``voice_tts.metrics``) when those modules exist.
vLLM, llama.cpp, DCGM exporter and kube-state-metrics series come from outside this repository and are
listed in ``EXTERNAL_METRICS``; tests/chart checks every query against these sources.

The latency panels ask Grafana for exemplars: each observation of the gateway's stage histograms
carries its turn's trace id (``trace_id``), and a Prometheus data source whose exemplar link points
at the ``$traces`` data source (Jaeger) opens that turn's trace (docs/observability.md).
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase

from generated_files import write_or_check
from voice_common.budget import load_budget
from voice_gateway import metrics as gateway_metrics

REPO = Path(__file__).resolve().parents[1]
OUT_DIR = REPO / "charts" / "voice-agent" / "dashboards"

# Exported by other programs (vLLM's OpenAI server, llama.cpp's server, NVIDIA's DCGM exporter,
# kube-state-metrics), not by our code.
EXTERNAL_METRICS = {
    "vllm:time_to_first_token_seconds_bucket",
    "vllm:e2e_request_latency_seconds_bucket",
    "vllm:num_requests_running",
    "vllm:num_requests_waiting",
    "vllm:kv_cache_usage_perc",
    # llama.cpp's own server (the CPU LLM, servers/voice_llm), with its /metrics endpoint on.
    "llamacpp:requests_processing",
    "llamacpp:requests_deferred",
    "llamacpp:tokens_predicted_total",
    "llamacpp:tokens_predicted_seconds_total",
    "llamacpp:prompt_tokens_total",
    "llamacpp:prompt_seconds_total",
    # The graphics engine's active share: reported per MIG slice too (GPU_I_ID), where
    # DCGM_FI_DEV_GPU_UTIL is not; a profiling field, in the DCGM exporter's default set.
    "DCGM_FI_PROF_GR_ENGINE_ACTIVE",
    "DCGM_FI_DEV_FB_USED",
    "DCGM_FI_DEV_FB_FREE",
    "kube_horizontalpodautoscaler_status_current_replicas",
    "kube_horizontalpodautoscaler_status_desired_replicas",
    "kube_horizontalpodautoscaler_spec_max_replicas",
    "kube_pod_container_status_restarts_total",
    "kube_pod_container_status_last_terminated_reason",
}
# Our model servers' registries, by metric prefix (imported when the module exists).
SERVER_METRIC_MODULES = {"stt": "voice_stt.metrics", "tts": "voice_tts.metrics"}

SEL = '{namespace=~"$namespace"}'
RATE = "[$__rate_interval]"
GREEN, AMBER, RED = "green", "#EAB839", "red"


def server_registry(prefix: str) -> CollectorRegistry | None:
    """The registry of a model server's metrics module (the one registry it defines), if the module exists."""
    try:
        module = importlib.import_module(SERVER_METRIC_MODULES[prefix])
    except ModuleNotFoundError:
        return None
    registries = [value for value in vars(module).values() if isinstance(value, CollectorRegistry)]
    if len(registries) != 1:
        raise SystemExit(f"{module.__name__} should define exactly one CollectorRegistry, found {len(registries)}")
    return registries[0]


def exported_names(registry: CollectorRegistry) -> set[str]:
    """Every series name a registry exports: counters as *_total, histograms as *_bucket/_sum/_count."""
    names: set[str] = set()
    for family in registry.collect():
        if family.type == "counter":
            names.add(family.name + "_total")
        elif family.type == "histogram":
            names.update(family.name + suffix for suffix in ("_bucket", "_sum", "_count"))
        elif family.type == "summary":
            names.update(family.name + suffix for suffix in ("_sum", "_count"))
        else:
            names.add(family.name)
    return names


class Layout:
    """Hands out panel ids and grid positions, 24 columns wide, row by row."""

    def __init__(self) -> None:
        self.next_id, self.x, self.y, self.row_h = 1, 0, 0, 0

    def place(self, panel: dict, w: int, h: int) -> dict:
        if self.x + w > 24:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        panel["id"], self.next_id = self.next_id, self.next_id + 1
        panel["gridPos"] = {"h": h, "w": w, "x": self.x, "y": self.y}
        self.x += w
        self.row_h = max(self.row_h, h)
        return panel

    def row(self, title: str) -> dict:
        self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        panel = self.place({"type": "row", "title": title, "collapsed": False, "panels": []}, 24, 1)
        self.x, self.y, self.row_h = 0, self.y + 1, 0
        return panel


def server_label_names(prefix: str) -> dict[str, tuple[str, ...]]:
    """Metric name -> its label names, for a model server's metrics module (empty if it does not exist)."""
    try:
        module = importlib.import_module(SERVER_METRIC_MODULES[prefix])
    except ModuleNotFoundError:
        return {}
    metrics = [value for value in vars(module).values() if isinstance(value, MetricWrapperBase)]
    return {metric._name: tuple(metric._labelnames) for metric in metrics}  # prometheus_client keeps them there


def target(expr: str, legend: str, ref: str, exemplar: bool = False) -> dict:
    """A Prometheus query; ``exemplar``: Grafana also fetches its exemplars (trace ids) and draws them."""
    return {
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "expr": expr, "legendFormat": legend, "refId": ref, **({"exemplar": True} if exemplar else {}),
    }


def panel(kind: str, title: str, targets: list[dict], unit: str, description: str = "", thresholds=None, **options) -> dict:
    steps = thresholds or [{"color": GREEN, "value": None}]
    custom = {"thresholdsStyle": {"mode": "line+area" if thresholds else "off"}} if kind == "timeseries" else {}
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "targets": targets,
        "fieldConfig": {
            "defaults": {"unit": unit, "custom": custom, "thresholds": {"mode": "absolute", "steps": steps}},
            "overrides": [],
        },
        "options": options,
    }


def budget_steps(stage: str) -> list[dict]:
    """Green inside the target band, amber above target_max_ms, red above max_ms (in seconds)."""
    budget = load_budget()[stage]
    return [
        {"color": GREEN, "value": None},
        {"color": AMBER, "value": round(budget.target_max_ms / 1000, 4)},
        {"color": RED, "value": round(budget.max_ms / 1000, 4)},
    ]


def quantile(q: float, metric: str, by: str = "le") -> str:
    return f"histogram_quantile({q}, sum by ({by}) (rate({metric}_bucket{SEL}{RATE})))"


def traces_variable() -> dict:
    """The trace back end the exemplars link to (Jaeger here; set it as the Prometheus data source's
    exemplar link, docs/observability.md), also the target of the dashboard's Traces link."""
    return {"name": "traces", "label": "Trace data source", "type": "datasource", "query": "jaeger", "current": {}, "hide": 0}


TRACES_LINK = {
    "title": "Traces (Explore)", "type": "link", "icon": "external link", "targetBlank": True,
    "tooltip": "The turns' traces in the trace data source ($traces)",
    "url": '/explore?left={"datasource":"${traces}","queries":[{"refId":"A","queryType":"search","service":"voice-gateway"}]}',
    "includeVars": False, "keepTime": True,
}


def dashboard(
    uid: str, title: str, description: str, panels: list[dict], variables: list[dict], links: list[dict] = ()
) -> dict:
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["voice-agent"],
        "editable": True,
        "graphTooltip": 1,
        "refresh": "30s",
        "schemaVersion": 39,
        "time": {"from": "now-1h", "to": "now"},
        "timezone": "browser",
        "annotations": {"list": []},
        "templating": {"list": [
            {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus", "current": {}, "hide": 0},
            *variables,
        ]},
        "panels": panels,
        "links": list(links),
        "version": 1,
    }


def namespace_variable(metric: str) -> dict:
    return {
        "name": "namespace", "label": "Namespace", "type": "query",
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "query": {"query": f"label_values({metric}, namespace)", "refId": "namespace"},
        "definition": f"label_values({metric}, namespace)",
        "includeAll": True, "multi": True, "current": {}, "refresh": 2, "sort": 1, "hide": 0,
    }


def latency_dashboard() -> dict:
    """What a caller feels: each stage's p50/p95 against its budget, turns over budget, barge-ins, load."""
    budget = load_budget()
    layout = Layout()
    panels = [layout.row("Latency budget (gateway view, per turn)")]
    for stage, histogram in gateway_metrics.STAGE_HISTOGRAMS.items():
        name, b = histogram.describe()[0].name, budget[stage]  # the registered name, not a second copy
        panels.append(layout.place(panel(
            "timeseries", f"{b.label}: p50 / p95",
            [target(quantile(0.5, name), "p50", "A", exemplar=True), target(quantile(0.95, name), "p95", "B")],
            "s",
            description=f"Budget: target {b.target_min_ms:g}-{b.target_max_ms:g} ms, max {b.max_ms:g} ms "
                        f"(amber above the target band, red above the max; src/voice_common/budget.json). "
                        f"Dots are single turns (exemplars): hover one for its trace id, click through to the trace.",
            thresholds=budget_steps(stage),
            legend={"displayMode": "list", "placement": "bottom"},
        ), 12, 8))
    turns = f"sum(rate(voice_turns_total{SEL}{RATE}))"
    panels += [
        layout.row("Turns"),
        layout.place(panel(
            "timeseries", "Turns over budget by stage (share of turns)",
            [target(f"sum by (stage) (rate(voice_turns_over_budget_total{SEL}{RATE}))"
                    f" / ignoring(stage) group_left {turns}", "{{stage}}", "A")],
            "percentunit", description="Turns whose stage latency exceeded the stage's hard maximum.",
        ), 12, 8),
        layout.place(panel(
            "timeseries", "Turns, interruptions and speculative replies per minute",
            [target(f"{turns} * 60", "turns", "A"),
             target(f"sum(rate(voice_interruptions_total{SEL}{RATE})) * 60", "interruptions (barge-ins)", "B"),
             target(f"sum by (outcome) (rate(voice_speculative_replies_total{SEL}{RATE})) * 60",
                    "speculative: {{outcome}}", "C")],
            "short",
            description="Speculative replies start while the caller's turn is being confirmed; discarded ones "
                        "(the caller went on) cost LLM work nobody heard.",
        ), 12, 8),
        layout.row("Sessions and errors"),
        layout.place(panel(
            "timeseries", "Active sessions",
            [target(f"sum by (pod) (voice_active_sessions{SEL})", "{{pod}}", "A"),
             target(f"sum(voice_active_sessions{SEL})", "total", "B")],
            "short", description="Live calls per gateway pod (the HPA/KEDA scaling signal).",
        ), 12, 8),
        layout.place(panel(
            "timeseries", "Gateway replicas against live calls",
            [target(f"sum(voice_active_sessions{SEL})", "live calls", "A"),
             target(f"sum by (horizontalpodautoscaler) (kube_horizontalpodautoscaler_status_current_replicas{SEL})",
                    "{{horizontalpodautoscaler}}: replicas", "B"),
             target(f"sum by (horizontalpodautoscaler) (kube_horizontalpodautoscaler_status_desired_replicas{SEL})",
                    "{{horizontalpodautoscaler}}: desired", "C"),
             target(f"sum by (horizontalpodautoscaler) (kube_horizontalpodautoscaler_spec_max_replicas{SEL})",
                    "{{horizontalpodautoscaler}}: max", "D")],
            "short",
            description="The autoscalers (HPA, or KEDA's keda-hpa-*) against the calls they scale on: desired above "
                        "replicas means pods are starting; replicas at max while calls rise means callers will be refused.",
        ), 12, 8),
        layout.place(panel(
            "timeseries", "Sessions accepted / refused per minute",
            [target(f"sum(rate(voice_sessions_total{SEL}{RATE})) * 60", "accepted", "A"),
             target(f"sum by (reason) (rate(voice_sessions_rejected_total{SEL}{RATE})) * 60", "refused: {{reason}}", "B")],
            "short",
        ), 8, 8),
        layout.place(panel(
            "timeseries", "Upstream errors per minute, by code",
            [target(f"sum by (service, code) (rate(voice_upstream_errors_total{SEL}{RATE})) * 60", "{{service}} {{code}}", "A")],
            "short", description="Errors talking to STT, LLM and TTS, by error code (the error events callers got).",
        ), 8, 8),
        layout.place(panel(
            "timeseries", "Caller errors per minute, by code",
            [target(f"sum by (code) (rate(voice_client_errors_total{SEL}{RATE})) * 60", "{{code}}", "A")],
            "short",
            description="Malformed input from callers (bad JSON, odd-sized or oversized audio frames, a wrong sample "
                        "rate), by the error event's code: a client bug, not the stack's.",
        ), 8, 8),
        layout.place(panel(
            "timeseries", "Model servers reachable from the gateways",
            [target(f"min by (service) (voice_gateway_upstream_up{SEL})", "{{service}}", "A")],
            "short",
            description="1: every gateway pod's last poll of that server's readiness was answered; 0: at least one "
                        "gateway cannot reach it and refuses new calls with <service>_unavailable.",
        ), 8, 8),
    ]
    return dashboard("voice-agent-latency", "Voice agent: latency budget",
                     "Per-turn latency of the voice pipeline against the budget in budget.json.",
                     panels, [namespace_variable("voice_active_sessions"), traces_variable()], [TRACES_LINK])


def server_panels(layout: Layout, prefix: str) -> Iterator[dict]:
    """A panel per metric of one of our model servers: p50/p95 of histograms, rates of counters, gauges."""
    registry = server_registry(prefix)
    if registry is None:
        return
    labels = server_label_names(prefix)
    yield layout.row(f"{prefix.upper()} server")
    for family in sorted(registry.collect(), key=lambda f: f.name):
        if not family.name.startswith(f"{prefix}_"):
            continue
        title = family.documentation.rstrip(".") or family.name
        if family.type == "histogram":
            targets = [target(quantile(0.5, family.name), "p50", "A"), target(quantile(0.95, family.name), "p95", "B")]
            unit = "s" if family.name.endswith("_seconds") else "short"
        elif family.type == "counter":
            by = ", ".join(labels.get(family.name, ()) or labels.get(family.name + "_total", ()))
            if by:  # split by its labels (errors by code): one line per value
                legend = " ".join("{{" + label + "}}" for label in by.split(", "))
                targets = [target(f"sum by ({by}) (rate({family.name}_total{SEL}{RATE})) * 60", f"{legend} per minute", "A")]
            else:
                targets = [target(f"sum(rate({family.name}_total{SEL}{RATE})) * 60", "per minute", "A")]
            unit = "short"
        else:
            targets = [target(f"sum by (pod) ({family.name}{SEL})", "{{pod}}", "A")]
            unit = "short"
        yield layout.place(panel("timeseries", title, targets, unit, description=family.name), 8, 7)


def servers_dashboard() -> dict:
    """The model servers: vLLM's or llama.cpp's own view, our STT/TTS servers, and the GPUs under them."""
    layout = Layout()
    vllm = '{namespace=~"$namespace"}'
    ttft = load_budget()["llm_ttft"]
    panels = [
        layout.row("LLM server (vLLM)"),
        layout.place(panel(
            "timeseries", "vLLM time to first token: p50 / p95",
            [target(f"histogram_quantile(0.5, sum by (le) (rate(vllm:time_to_first_token_seconds_bucket{vllm}{RATE})))",
                    "p50", "A"),
             target(f"histogram_quantile(0.95, sum by (le) (rate(vllm:time_to_first_token_seconds_bucket{vllm}{RATE})))",
                    "p95", "B")],
            "s", description=f"Server-side TTFT; the gateway's budget for it is {ttft.target_max_ms:g} ms "
                             f"(max {ttft.max_ms:g} ms).",
            thresholds=budget_steps("llm_ttft"),
        ), 8, 8),
        layout.place(panel(
            "timeseries", "vLLM requests running / waiting",
            [target(f"sum(vllm:num_requests_running{vllm})", "running", "A"),
             target(f"sum(vllm:num_requests_waiting{vllm})", "waiting", "B")],
            "short", description="Requests queue when the KV cache is full: waiting > 0 means TTFT grows.",
        ), 8, 8),
        layout.place(panel(
            "timeseries", "vLLM KV-cache use",
            [target(f"max by (pod) (vllm:kv_cache_usage_perc{vllm})", "{{pod}}", "A")],
            "percentunit",
            thresholds=[{"color": GREEN, "value": None}, {"color": AMBER, "value": 0.8}, {"color": RED, "value": 0.95}],
        ), 8, 8),
        layout.place(panel(
            "timeseries", "vLLM end-to-end request latency: p95",
            [target(f"histogram_quantile(0.95, sum by (le) (rate(vllm:e2e_request_latency_seconds_bucket{vllm}{RATE})))",
                    "p95", "A")],
            "s",
        ), 24, 7),
        layout.row("LLM server (llama.cpp, CPU)"),
        layout.place(panel(
            "timeseries", "llama.cpp requests processing / deferred",
            [target(f"sum(llamacpp:requests_processing{SEL})", "processing", "A"),
             target(f"sum(llamacpp:requests_deferred{SEL})", "deferred", "B")],
            "short", description="Requests in llama.cpp's slots (llm.cpu.parallel per pod) and those waiting for one: "
                                 "deferred > 0 means every slot is busy and a caller's first token waits.",
        ), 8, 8),
        layout.place(panel(
            "timeseries", "llama.cpp tokens per second: generated / prompt",
            [target(f"sum(rate(llamacpp:tokens_predicted_total{SEL}{RATE}))", "generated", "A"),
             target(f"sum(rate(llamacpp:prompt_tokens_total{SEL}{RATE}))", "prompt (not cached)", "B")],
            "short", description="Tokens written and prompt tokens processed per second, all pods.",
        ), 8, 8),
        layout.place(panel(
            "timeseries", "llama.cpp time per token: generated / prompt",
            [target(f"sum(rate(llamacpp:tokens_predicted_seconds_total{SEL}{RATE}))"
                    f" / sum(rate(llamacpp:tokens_predicted_total{SEL}{RATE}))", "generated", "A"),
             target(f"sum(rate(llamacpp:prompt_seconds_total{SEL}{RATE}))"
                    f" / sum(rate(llamacpp:prompt_tokens_total{SEL}{RATE}))", "prompt", "B")],
            "s", description="Seconds per generated token and per prompt token: the CPU's speed, which sets the "
                             "LLM's time to first token (prompt) and how fast a reply's words reach the TTS.",
        ), 8, 8),
    ]
    for prefix in SERVER_METRIC_MODULES:
        panels.extend(server_panels(layout, prefix))
    dcgm = '{exported_namespace=~"$namespace"}'
    panels += [
        layout.row("GPUs (NVIDIA DCGM exporter, where it runs)"),
        layout.place(panel(
            "timeseries", "GPU graphics engine active by pod (whole GPUs and MIG slices)",
            [target(f"avg by (exported_pod, gpu, GPU_I_PROFILE, GPU_I_ID) (DCGM_FI_PROF_GR_ENGINE_ACTIVE{dcgm})",
                    "{{exported_pod}} gpu{{gpu}} {{GPU_I_PROFILE}}", "A")],
            "percentunit",
            description="Share of time the GPU's (or the MIG slice's) graphics engine was busy. DCGM_FI_DEV_GPU_UTIL is "
                        "not reported for MIG slices, so it is not used; a MIG slice's line names its profile (e.g. 1g.18gb).",
        ), 12, 8),
        layout.place(panel(
            "timeseries", "GPU memory used by pod",
            [target(f"sum by (exported_pod) (DCGM_FI_DEV_FB_USED{dcgm})"
                    f" / sum by (exported_pod) (DCGM_FI_DEV_FB_USED{dcgm} + DCGM_FI_DEV_FB_FREE{dcgm})",
                    "{{exported_pod}}", "A")],
            "percentunit",
        ), 12, 8),
        layout.row("Pods (kube-state-metrics)"),
        layout.place(panel(
            "timeseries", "Container restarts and OOM kills",
            [target(f"sum by (pod, container) (increase(kube_pod_container_status_restarts_total{SEL}{RATE}))",
                    "{{pod}}/{{container}} restarts", "A"),
             target('sum by (pod, container) (kube_pod_container_status_last_terminated_reason{namespace=~"$namespace", '
                    'reason="OOMKilled"})', "{{pod}}/{{container}} last ended OOMKilled", "B")],
            "short",
            description="Restarts per interval by container, and the containers whose last end was an OOM kill "
                        "(raise that container's memory limit: a model server that outgrew it restarts in a loop).",
        ), 24, 8),
    ]
    return dashboard("voice-agent-servers", "Voice agent: model servers and GPUs",
                     "The LLM server's own metrics (vLLM on GPU, llama.cpp on CPU), the STT/TTS servers' metrics and GPU use "
                     "(DCGM exporter).",
                     panels, [namespace_variable("up")])


def render() -> dict[str, str]:
    """File name -> JSON text of every dashboard."""
    return {
        f"{board['uid']}.json": json.dumps(board, indent=2, sort_keys=True) + "\n"
        for board in (latency_dashboard(), servers_dashboard())
    }


def main(argv: list[str] | None = None) -> int:
    return write_or_check(argv, what="dashboards", out_dir=OUT_DIR, pattern="*.json", render=render)


if __name__ == "__main__":
    sys.exit(main())
