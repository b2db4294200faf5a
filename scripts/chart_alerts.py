"""Generate the chart's Prometheus alerting rules from the code: the latency budget and the gateway's metrics.

    python scripts/chart_alerts.py            # rewrite charts/voice-agent/alerts/voice-agent.rules.yaml
    python scripts/chart_alerts.py --check    # exit 1 if the committed file is stale

Budget SLO alerts in the style of the Google SRE workbook's multiwindow, multi-burn-rate alerts:
the objective is that at most 5% of turns go over a stage's budget maximum (the load test's
threshold: p95 of every stage within its max), and an alert fires when the error budget burns
14.4x too fast over 1 h and 5 min (2% of a 30-day budget in an hour) or 6x over 6 h and 30 min.
The stages, their labels and maxima come from ``src/voice_common/budget.json`` and
``voice_gateway.metrics`` (the gateway counts ``voice_turns_over_budget_total{stage}`` against
those maxima), so no budget number is copied here. The same scheme covers the gateway's upstream
errors; sessions near the gateway's limit and model servers that stop answering complete the set.

The file is a Prometheus rule file whose release-specific parts are ``${...}`` placeholders,
filled by templates/prometheusrule.yaml: ``${namespace}``, ``${gatewayJob}`` and
``${modelServerJobs}`` (a ServiceMonitor's series carry its Service's name as ``job``) and
``${maxSessions}`` (gateway.config.maxSessions). docs/alerts.md says what each alert means and
what an operator does; tests/chart/test_chart_alerts.py runs ``promtool test rules`` on the
rendered PrometheusRule.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from generated_files import write_or_check
from voice_common.budget import load_budget
from voice_gateway import metrics as gateway_metrics

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "charts" / "voice-agent" / "alerts" / "voice-agent.rules.yaml"

TURN_OBJECTIVE = 0.95       # share of turns within each stage's budget max (k6: p(95) <= max)
UPSTREAM_OBJECTIVE = 0.99   # share of turns that meet no upstream error
SESSIONS_NEAR_LIMIT = 0.8   # of gateway.config.maxSessions, sustained: the autoscaler is not keeping up
# (long window, short window, burn rate, for): the workbook's two paging pairs.
BURNS = [("1h", "5m", 14.4, "2m"), ("6h", "30m", 6.0, "15m")]
# What the caller hears (pages) versus one stage's share of it (warns: the cause, not the symptom).
SYMPTOM_STAGE = "mouth_to_ear"

GATEWAY = 'namespace="${namespace}", job="${gatewayJob}"'
MODEL_SERVERS = 'namespace="${namespace}", job=~"${modelServerJobs}"'
RUNBOOK = "docs/alerts.md"


def recording_rules() -> list[dict]:
    """Ratios per window: turns over budget by stage, and upstream errors by service, per turn."""
    rules = []
    windows = sorted({w for long, short, _, _ in BURNS for w in (long, short)}, key=_seconds)
    for window in windows:
        turns = f"sum by (namespace, job) (rate(voice_turns_total{{{GATEWAY}}}[{window}]))"
        errors = f"sum by (namespace, job) (rate(voice_upstream_errors_total{{{GATEWAY}}}[{window}]))"
        rules.append({
            "record": f"namespace_job:voice_turns_over_budget:ratio_rate{window}",
            "expr": f"sum by (namespace, job, stage) (rate(voice_turns_over_budget_total{{{GATEWAY}}}[{window}]))\n"
                    f"  / ignoring (stage) group_left\n{turns}\n",
        })
        rules.append({
            "record": f"namespace_job:voice_upstream_errors:ratio_rate{window}",
            "expr": f"sum by (namespace, job, service) (rate(voice_upstream_errors_total{{{GATEWAY}}}[{window}]))\n"
                    # "group_left ()": an empty label list, so the bracket after it is the denominator
                    f"  / ignoring (service) group_left ()\n({turns}\n + {errors})\n",
        })
    return rules


def _seconds(window: str) -> int:
    return int(window[:-1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[window[-1]]


def _burn_expr(record: str, matchers: str, threshold: float, long: str, short: str) -> str:
    return (f"namespace_job:{record}:ratio_rate{long}{{{matchers}}} > {threshold:g}\n"
            f"and\nnamespace_job:{record}:ratio_rate{short}{{{matchers}}} > {threshold:g}\n")


def budget_alerts() -> list[dict]:
    """Per stage the gateway counts and per burn pair: the share of turns over the stage's max."""
    budget = load_budget()
    alerts = []
    for stage in gateway_metrics.STAGE_HISTOGRAMS:
        b = budget[stage]
        for long, short, burn, hold in BURNS:
            threshold = round(burn * (1 - TURN_OBJECTIVE), 4)
            severity = ("critical" if long == BURNS[0][0] else "warning") if stage == SYMPTOM_STAGE else "warning"
            alerts.append({
                "alert": "VoiceTurnsOverBudget",
                "expr": _burn_expr("voice_turns_over_budget", f'{GATEWAY}, stage="{stage}"', threshold, long, short),
                "for": hold,
                # stage also as a static label: rules of one name differ by their labels (promtool's lint)
                "labels": {"severity": severity, "stage": stage, "long_window": long},
                "annotations": {
                    "summary": f"{b.label}: over its {b.max_ms:g} ms budget max in "
                               "{{ $value | humanizePercentage }} of turns over " + long + ".",
                    "description": f"At most {1 - TURN_OBJECTIVE:.0%} of turns may go over the max; that budget is burning "
                                   f"{burn:g}x too fast over {long} and {short}. See {RUNBOOK}#voiceturnsoverbudget.",
                },
            })
    return alerts


def upstream_alerts() -> list[dict]:
    alerts = []
    for long, short, burn, hold in BURNS:
        threshold = round(burn * (1 - UPSTREAM_OBJECTIVE), 4)
        alerts.append({
            "alert": "VoiceUpstreamErrors",
            "expr": _burn_expr("voice_upstream_errors", GATEWAY, threshold, long, short),
            "for": hold,
            "labels": {"severity": "critical" if long == BURNS[0][0] else "warning", "long_window": long},
            "annotations": {
                "summary": "{{ $labels.service }} errors in {{ $value | humanizePercentage }} of turns over " + long + ".",
                "description": f"Callers get error events from the gateway's {{{{ $labels.service }}}} upstream; at most "
                               f"{1 - UPSTREAM_OBJECTIVE:.0%} of turns may, and that budget is burning {burn:g}x too fast over "
                               f"{long} and {short}. See {RUNBOOK}#voiceupstreamerrors.",
            },
        })
    return alerts


def capacity_alerts() -> list[dict]:
    return [
        {
            "alert": "VoiceGatewaySessionsNearLimit",
            "expr": f"max by (namespace, job, pod) (voice_active_sessions{{{GATEWAY}}})\n"
                    f"  >= {SESSIONS_NEAR_LIMIT:g} * ${{maxSessions}}\n",
            "for": "5m",
            "labels": {"severity": "warning"},
            "annotations": {
                "summary": "{{ $labels.pod }} holds {{ $value }} of its ${maxSessions} sessions.",
                "description": f"Above {SESSIONS_NEAR_LIMIT:.0%} of gateway.config.maxSessions for 5 minutes; at the limit new "
                               f"callers are refused (too_many_sessions). See {RUNBOOK}#voicegatewaysessionsnearlimit.",
            },
        },
        {
            "alert": "VoiceModelServerPodDown",
            "expr": f"up{{{MODEL_SERVERS}}} == 0\n",
            "for": "2m",
            "labels": {"severity": "warning"},
            "annotations": {
                "summary": "{{ $labels.job }} pod {{ $labels.pod }} does not answer its /metrics scrape.",
                "description": "The pod is down, restarting or wedged; its replicas carry its load. "
                               f"See {RUNBOOK}#voicemodelserverpoddown.",
            },
        },
        {
            "alert": "VoiceModelServerDown",
            "expr": f"sum by (namespace, job) (up{{{MODEL_SERVERS}}}) == 0\n",
            "for": "2m",
            "labels": {"severity": "critical"},
            "annotations": {
                "summary": "No pod of {{ $labels.job }} answers.",
                "description": "Every call's turns fail at this stage, and the gateways refuse new calls with its "
                               f"<service>_unavailable. See {RUNBOOK}#voicemodelserverdown.",
            },
        },
        {
            "alert": "VoiceGatewayUpstreamUnreachable",
            "expr": f"voice_gateway_upstream_up{{{GATEWAY}}} == 0\n",
            "for": "2m",
            "labels": {"severity": "critical"},
            "annotations": {
                "summary": "{{ $labels.pod }} cannot reach its {{ $labels.service }} server.",
                "description": "The gateway's polls of that server's readiness fail, so it refuses every new call with "
                               "{{ $labels.service }}_unavailable (live calls get the service's errors). Also fires where "
                               "no up series can: a server with no pod at all, one outside the release, or a NetworkPolicy "
                               f"in the way. See {RUNBOOK}#voicegatewayupstreamunreachable.",
            },
        },
    ]


def rule_groups() -> dict:
    return {"groups": [
        {"name": "voice-agent.slo.rules", "rules": recording_rules()},
        {"name": "voice-agent.slo.alerts", "rules": budget_alerts() + upstream_alerts()},
        {"name": "voice-agent.capacity.alerts", "rules": capacity_alerts()},
    ]}


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(str, lambda dumper, text: dumper.represent_scalar(
    "tag:yaml.org,2002:str", text, style="|" if "\n" in text else None))


def render() -> str:
    header = ("# Generated by scripts/chart_alerts.py (make dashboards) from src/voice_common/budget.json and\n"
              "# voice_gateway.metrics: do not edit. templates/prometheusrule.yaml fills the ${...} placeholders.\n")
    return header + yaml.dump(rule_groups(), Dumper=_Dumper, sort_keys=False, width=200)


def main(argv: list[str] | None = None) -> int:
    return write_or_check(
        argv, what="alert rules", out_dir=OUT.parent, pattern="*.rules.yaml", render=lambda: {OUT.name: render()}
    )


if __name__ == "__main__":
    sys.exit(main())
