"""Stack benchmark: N spoken turns through the real local stack; p50/p95 of every stage.

Starts STT, TTS, LLM and gateway on free ports (exactly as ``voice-agent up`` does), then
holds one call and asks the bundled and a few synthesized questions in turn, at real-time
pace. Prints a markdown table for docs/benchmarks.md. Not a test: it asserts nothing.

    .venv/bin/python bench/bench_stack.py --turns 10
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from machine import machine_description, percentile  # noqa: E402
from support import LOG_DIR, MODELS_DIR, free_port, spoken  # noqa: E402

from voice_agent.client import Caller, budget_rows  # noqa: E402
from voice_agent.processes import ProcessGroup  # noqa: E402
from voice_agent.stack import StackPorts, stack_specs  # noqa: E402
from voice_common.budget import load_budget  # noqa: E402

QUESTIONS = [
    "What is the capital of France?",
    "How far away is the moon?",
    "Can you recommend a good book?",
    "What is the weather usually like in spring?",
    "Tell me something interesting about cats.",
]


async def run_turns(url: str, turns: int) -> list:
    results = []
    async with Caller(url) as call:
        await call.silence(0.5)
        for index in range(turns):
            turn = await call.say_and_listen(spoken(QUESTIONS[index % len(QUESTIONS)]), timeout=90)
            results.append(turn)
        if call.conversation.errors:
            print(f"errors: {call.conversation.errors}", file=sys.stderr)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--gateway-env", action="append", default=[], metavar="KEY=VALUE", help="extra gateway setting")
    args = parser.parse_args()
    gateway_env = dict(item.split("=", 1) for item in args.gateway_env)
    ports = StackPorts(stt=free_port(), tts=free_port(), llm=free_port(), gateway=free_port())
    with ProcessGroup(LOG_DIR) as group:
        group.start(stack_specs(MODELS_DIR, ports, gateway_env=gateway_env), timeout_s=300)
        turns = asyncio.run(run_turns(f"ws://127.0.0.1:{ports.gateway}/ws", args.turns))

    budget = load_budget()
    measured: dict[str, list[float]] = {}
    for turn in turns:
        for stage, value in budget_rows(turn):
            if value is not None:
                measured.setdefault(stage, []).append(value)
    print(f"## Stack benchmark: {len(turns)} turns, one call, local stack on CPU {gateway_env or ''}\n")
    print(f"Machine: {machine_description()}\n")
    print("| stage | n | p50 ms | p95 ms | budget target | budget max | p95 verdict |")
    print("|---|---|---|---|---|---|---|")
    for stage, values in measured.items():
        p50, p95 = percentile(values, 50), percentile(values, 95)
        b = budget[stage]
        print(
            f"| {stage} | {len(values)} | {p50:.0f} | {p95:.0f} | {b.target_min_ms:.0f}-{b.target_max_ms:.0f} "
            f"| {b.max_ms:.0f} | {b.verdict(p95).value} |"
        )
    server_m2e = [t.server["mouth_to_ear_ms"] for t in turns if t.server.get("mouth_to_ear_ms")]
    if server_m2e:
        print(f"\nServer-side mouth-to-ear p50/p95: {percentile(server_m2e, 50):.0f} / {percentile(server_m2e, 95):.0f} ms "
              "(includes the VAD's end-of-speech wait).")
    if len(server_m2e) > 1:  # the stack is fresh: turn 1 is its first
        later = percentile(server_m2e[1:], 50)
        print(f"Turn 1 (a fresh stack's first) server mouth-to-ear: {server_m2e[0]:.0f} ms, {server_m2e[0] / later:.2f}x "
              f"the median of the later turns ({later:.0f} ms).")


if __name__ == "__main__":
    main()
