"""The per-turn latency table printed by ``voice-agent talk``/``demo``: each stage against its budget."""

from __future__ import annotations

from voice_agent.client import Turn, budget_rows
from voice_common.budget import Budget


def turn_table(number: int, turn: Turn, budget: Budget) -> str:
    lines = [
        f"Turn {number}",
        f"  caller said : {turn.transcript or '(nothing transcribed)'}",
        f"  agent said  : {turn.reply_text.strip() or '(no reply)'}",
        "",
        f"  {'stage':<14}{'target ms':>12}{'max ms':>9}{'measured ms':>14}  verdict",
        f"  {'-' * 14}{'-' * 12:>12}{'-' * 9:>9}{'-' * 14:>14}  {'-' * 11}",
    ]
    for stage, measured in budget_rows(turn):
        stage_budget = budget[stage]
        target = f"{stage_budget.target_min_ms:.0f}-{stage_budget.target_max_ms:.0f}"
        shown = "n/a" if measured is None else f"{measured:.0f}"
        verdict = "not measured" if measured is None else stage_budget.verdict(measured).value
        lines.append(f"  {stage:<14}{target:>12}{stage_budget.max_ms:>9.0f}{shown:>14}  {verdict}")
    return "\n".join(lines)


def turns_json(turns: list[Turn], budget: Budget) -> dict:
    """The machine-readable report: one object per turn with its stages and what was over budget."""
    out = []
    for turn in turns:
        stages = dict(budget_rows(turn))
        out.append(
            {
                "transcript": turn.transcript,
                "reply": turn.reply_text.strip(),
                "mouth_to_ear_ms": stages["mouth_to_ear"],
                "server_mouth_to_ear_ms": turn.metrics.mouth_to_ear_ms if turn.metrics else None,
                "stages": {
                    "stt_ms": stages["stt"],
                    "llm_ttft_ms": stages["llm_ttft"],
                    "tts_ttfb_ms": stages["tts_ttfb"],
                    "network_ms": stages["network"],
                },
                "over_budget": budget.over_budget(stages),
            }
        )
    return {"turns": out}
