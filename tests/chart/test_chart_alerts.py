"""The chart's PrometheusRule: generated from the budget, rendered per release, and unit-tested with
``promtool test rules`` (input series -> the alerts that fire, with their labels) on exactly what
`helm template` renders for the production scenario."""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml

import chart_alerts  # the generator, from scripts/ (on pytest's pythonpath)
from chart_support import NAMESPACE, RELEASE, REPO, render, render_error
from voice_agent.observe import PROMTOOL
from voice_common.budget import load_budget
from voice_gateway import metrics as gateway_metrics

FULLNAME = f"{RELEASE}-voice-agent"
GATEWAY = {"namespace": NAMESPACE, "job": f"{FULLNAME}-gateway"}
DOCS = REPO / "docs" / "alerts.md"


def rules_of(manifest) -> dict:
    [rule] = manifest.kinds("PrometheusRule")
    return rule["spec"]


def alerting_rules(spec: dict) -> list[dict]:
    return [r for group in spec["groups"] for r in group["rules"] if "alert" in r]


def series(name: str, labels: dict[str, str], values: str) -> dict:
    matchers = ", ".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{name}{{{matchers}}}", "values": values}


def expand(template: str, labels: dict[str, str], value: str) -> str:
    """What Prometheus makes of this chart's annotation templates (only these forms are used)."""
    text = re.sub(r"\{\{ \$value( \| humanizePercentage)? \}\}", value, template)
    return re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels[m.group(1)], text)


class Expect:
    """Expected alerts, their annotations expanded from the rendered rule that should fire them."""

    def __init__(self, spec: dict) -> None:
        self.rules = alerting_rules(spec)

    def alert(self, name: str, labels: dict[str, str], value: str) -> dict:
        matching = [r for r in self.rules if r["alert"] == name
                    and all(r.get("labels", {}).get(k, v) == v for k, v in labels.items())]
        assert len(matching) == 1, (name, labels, len(matching))
        rule = matching[0]
        return {
            "exp_labels": labels,
            "exp_annotations": {k: expand(v, labels, value) for k, v in rule["annotations"].items()},
        }


def over_budget(stage: str, severity: str, window: str) -> dict[str, str]:
    return {**GATEWAY, "stage": stage, "severity": severity, "long_window": window}


def promtool_tests(spec: dict) -> list[dict]:
    """Input series and the alerts they must (and must not) fire."""
    e = Expect(spec)
    turns = series("voice_turns_total", {**GATEWAY, "pod": "gw-a"}, "0+10x150")  # 10 turns a minute

    def over(stage: str, per_minute: float) -> dict:
        return series("voice_turns_over_budget_total", {**GATEWAY, "pod": "gw-a", "stage": stage}, f"0+{per_minute:g}x150")

    quiet = [over(s, 0) for s in ("stt", "llm_ttft", "tts_ttfb")]
    return [
        {   # 90% of turns over the mouth-to-ear max: both burn pairs fire; the fast one pages
            "name": "mouth-to-ear over budget in 90% of turns",
            "interval": "1m",
            "input_series": [turns, over("mouth_to_ear", 9), *quiet],
            "alert_rule_test": [
                {"eval_time": "1m", "alertname": "VoiceTurnsOverBudget", "exp_alerts": []},
                {"eval_time": "100m", "alertname": "VoiceTurnsOverBudget", "exp_alerts": [
                    e.alert("VoiceTurnsOverBudget", over_budget("mouth_to_ear", "critical", "1h"), "90%"),
                    e.alert("VoiceTurnsOverBudget", over_budget("mouth_to_ear", "warning", "6h"), "90%"),
                ]},
            ],
        },
        {   # 50% over the STT max: above the slow pair's 6x burn (30%), under the fast pair's 14.4x (72%)
            "name": "STT over budget in half the turns",
            "interval": "1m",
            "input_series": [turns, over("stt", 5), over("llm_ttft", 0), over("tts_ttfb", 0), over("mouth_to_ear", 0)],
            "alert_rule_test": [
                {"eval_time": "100m", "alertname": "VoiceTurnsOverBudget", "exp_alerts": [
                    e.alert("VoiceTurnsOverBudget", over_budget("stt", "warning", "6h"), "50%"),
                ]},
            ],
        },
        {   # 4% over every max: inside the 5% the objective allows, nothing fires
            "name": "within the objective",
            "interval": "1m",
            "input_series": [turns, *[over(s, 0.4) for s in gateway_metrics.STAGE_HISTOGRAMS]],
            "alert_rule_test": [{"eval_time": "140m", "alertname": "VoiceTurnsOverBudget", "exp_alerts": []}],
        },
        {   # TTS errors in 2 of 12.5 turn attempts a minute (16%) burn the 1% budget 16x; STT's 4% burns only 4x
            "name": "TTS upstream errors",
            "interval": "1m",
            "input_series": [
                turns,
                series("voice_upstream_errors_total", {**GATEWAY, "pod": "gw-a", "service": "tts", "code": "tts_unavailable"},
                       "0+2x150"),
                series("voice_upstream_errors_total", {**GATEWAY, "pod": "gw-a", "service": "stt", "code": "stt_unavailable"},
                       "0+0.5x150"),
            ],
            "alert_rule_test": [
                {"eval_time": "100m", "alertname": "VoiceUpstreamErrors", "exp_alerts": [
                    e.alert("VoiceUpstreamErrors",
                            {**GATEWAY, "service": "tts", "severity": "critical", "long_window": "1h"}, "16%"),
                    e.alert("VoiceUpstreamErrors",
                            {**GATEWAY, "service": "tts", "severity": "warning", "long_window": "6h"}, "16%"),
                ]},
            ],
        },
        {   # production's maxSessions is 48: 45 is near it (>= 80%), 30 is not; another release's gateway is not ours
            "name": "sessions near the gateway's limit",
            "interval": "1m",
            "input_series": [
                series("voice_active_sessions", {**GATEWAY, "pod": "gw-a"}, "45x20"),
                series("voice_active_sessions", {**GATEWAY, "pod": "gw-b"}, "30x20"),
                series("voice_active_sessions", {"namespace": "other", "job": GATEWAY["job"], "pod": "gw-c"}, "48x20"),
            ],
            "alert_rule_test": [
                {"eval_time": "4m", "alertname": "VoiceGatewaySessionsNearLimit", "exp_alerts": []},
                {"eval_time": "10m", "alertname": "VoiceGatewaySessionsNearLimit", "exp_alerts": [
                    e.alert("VoiceGatewaySessionsNearLimit", {**GATEWAY, "pod": "gw-a", "severity": "warning"}, "45"),
                ]},
            ],
        },
        {   # one of two STT pods down (warning), the only TTS pod down (and so TTS down: critical)
            "name": "model servers not answering",
            "interval": "1m",
            "input_series": [
                series("up", {"namespace": NAMESPACE, "job": f"{FULLNAME}-stt", "pod": "stt-a"}, "0x10"),
                series("up", {"namespace": NAMESPACE, "job": f"{FULLNAME}-stt", "pod": "stt-b"}, "1x10"),
                series("up", {"namespace": NAMESPACE, "job": f"{FULLNAME}-tts", "pod": "tts-a"}, "0x10"),
                series("up", {"namespace": NAMESPACE, "job": f"{FULLNAME}-llm", "pod": "llm-a"}, "1x10"),
                series("up", {"namespace": NAMESPACE, "job": "someone-elses-stt", "pod": "x"}, "0x10"),
            ],
            "alert_rule_test": [
                {"eval_time": "5m", "alertname": "VoiceModelServerPodDown", "exp_alerts": [
                    e.alert("VoiceModelServerPodDown",
                            {"namespace": NAMESPACE, "job": f"{FULLNAME}-stt", "pod": "stt-a", "severity": "warning"}, "0"),
                    e.alert("VoiceModelServerPodDown",
                            {"namespace": NAMESPACE, "job": f"{FULLNAME}-tts", "pod": "tts-a", "severity": "warning"}, "0"),
                ]},
                {"eval_time": "5m", "alertname": "VoiceModelServerDown", "exp_alerts": [
                    e.alert("VoiceModelServerDown",
                            {"namespace": NAMESPACE, "job": f"{FULLNAME}-tts", "severity": "critical"}, "0"),
                ]},
            ],
        },
        {   # gw-a cannot reach the LLM for 5 minutes, gw-b only for 1 (a restart): only gw-a's fires
            "name": "a gateway cannot reach a model server",
            "interval": "1m",
            "input_series": [
                series("voice_gateway_upstream_up", {**GATEWAY, "pod": "gw-a", "service": "llm"}, "0x10"),
                series("voice_gateway_upstream_up", {**GATEWAY, "pod": "gw-b", "service": "llm"}, "1 0 1x8"),
                series("voice_gateway_upstream_up", {**GATEWAY, "pod": "gw-a", "service": "stt"}, "1x10"),
            ],
            "alert_rule_test": [
                {"eval_time": "1m", "alertname": "VoiceGatewayUpstreamUnreachable", "exp_alerts": []},
                {"eval_time": "5m", "alertname": "VoiceGatewayUpstreamUnreachable", "exp_alerts": [
                    e.alert("VoiceGatewayUpstreamUnreachable",
                            {**GATEWAY, "pod": "gw-a", "service": "llm", "severity": "critical"}, "0"),
                ]},
            ],
        },
    ]


def test_committed_rules_are_the_generated_ones():
    assert chart_alerts.OUT.read_text() == chart_alerts.render(), "run `make dashboards`"


@pytest.fixture(scope="module")
def promtool():
    if not PROMTOOL.exists():
        pytest.fail(f"{PROMTOOL} is missing: run `make prometheus` (a prerequisite of `make test`)", pytrace=False)
    return PROMTOOL


@pytest.mark.observe
def test_the_rendered_rules_fire_the_expected_alerts_under_promtool(promtool, tmp_path):
    spec = rules_of(render("production"))
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    check = subprocess.run([str(promtool), "check", "rules", "--lint=all", "--lint-fatal", "rules.yaml"],
                           cwd=tmp_path, check=False, capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    tests = {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": promtool_tests(spec)}
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(tests, sort_keys=False))
    run = subprocess.run(
        [str(promtool), "test", "rules", "tests.yaml"], cwd=tmp_path, check=False, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_every_budgeted_stage_has_a_fast_and_a_slow_burn_alert_naming_its_budget_max():
    budget = load_budget()
    rules = [r for r in alerting_rules(rules_of(render("production"))) if r["alert"] == "VoiceTurnsOverBudget"]
    for stage in gateway_metrics.STAGE_HISTOGRAMS:
        mine = [r for r in rules if f'stage="{stage}"' in r["expr"]]
        assert sorted(r["labels"]["long_window"] for r in mine) == ["1h", "6h"], stage
        for rule in mine:
            assert f"{budget[stage].max_ms:g} ms" in rule["annotations"]["summary"], (stage, rule["annotations"])
    assert len(rules) == 2 * len(gateway_metrics.STAGE_HISTOGRAMS)


def test_the_rules_select_this_release_and_fill_every_placeholder():
    manifest = render("production")
    text = yaml.safe_dump(rules_of(manifest))
    assert "${" not in text, "a placeholder templates/prometheusrule.yaml did not fill"
    scraped = {m["metadata"]["name"] for m in manifest.kinds("ServiceMonitor")}
    jobs = set(re.findall(r'job=~?"([^"]+)"', text))
    named = {name for job in jobs for name in job.split("|")}
    assert named == scraped, "the alerts select exactly the Services the ServiceMonitors scrape (job = Service name)"
    assert f'namespace="{NAMESPACE}"' in text
    monitoring = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]
    cpu_manifest = render("cpu", values={"networkPolicy.metricsFrom": monitoring,
                                         "observability.serviceMonitor.enabled": True,
                                         "observability.prometheusRule.enabled": True})
    cpu_text = yaml.safe_dump(rules_of(cpu_manifest))
    cpu_named = {name for job in re.findall(r'job=~?"([^"]+)"', cpu_text) for name in job.split("|")}
    assert f"{FULLNAME}-llm" in cpu_named, "llama.cpp's server has /metrics: a CPU LLM that stops answering scrapes alerts too"
    assert cpu_named == {m["metadata"]["name"] for m in cpu_manifest.kinds("ServiceMonitor")}


def test_rules_only_where_asked_and_only_with_service_monitors():
    assert not render("cpu").kinds("PrometheusRule")
    rule = render("production").kinds("PrometheusRule")[0]
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack", "kube-prometheus-stack's ruleSelector"
    error = render_error("cpu", values={"observability.prometheusRule.enabled": True})
    assert "observability.serviceMonitor.enabled" in error


def test_every_alert_is_documented_with_what_to_do():
    docs = DOCS.read_text()
    headings = {h.strip().lower() for h in re.findall(r"^### (.+)$", docs, re.MULTILINE)}
    for rule in alerting_rules(rules_of(render("production"))):
        assert rule["alert"].lower() in headings, f"{rule['alert']} has no section in {DOCS.name}"
        anchor = re.search(r"docs/alerts\.md#(\w+)", rule["annotations"]["description"]).group(1)
        assert anchor == rule["alert"].lower(), rule["annotations"]["description"]
