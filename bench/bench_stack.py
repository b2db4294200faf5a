"""Stack benchmark: N spoken turns through the real local stack; p50/p95 of every stage.

Starts STT, TTS, LLM and gateway on free ports (exactly as ``voice-agent up`` does), then
holds one call and asks the bundled and a few synthesized questions in turn, at real-time
pace. Prints a markdown table for docs/benchmarks.md. Not a test: it asserts nothing.

    .venv/bin/python bench/bench_stack.py --turns 10
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import sys

from voice_agent.client import Caller, budget_rows
from voice_agent.processes import ProcessGroup
from voice_agent.stack import StackPorts, stack_specs
from voice_common.audio import pcm_seconds
from voice_common.budget import load_budget
from voice_common.protocol.constants import TTS_SAMPLE_RATE
from voice_gateway.settings import GatewaySettings
from voice_testkit.machine import machine_description, percentile
from voice_testkit.services import LOG_DIR, MODELS_DIR, free_port
from voice_testkit.speech import spoken

QUESTIONS = [
    "What is the capital of France?",
    "How far away is the moon?",
    "Can you recommend a good book?",
    "What is the weather usually like in spring?",
    "Tell me something interesting about cats.",
]


async def run_turns(urls: list[str], turns: int) -> tuple[list[list], list[float]]:
    """``turns`` questions on each gateway, one call per gateway, alternating turn by turn so that
    machine load drifts hit every configuration alike."""
    results: list[list] = [[] for _ in urls]
    async with contextlib.AsyncExitStack() as stack:
        calls = [await stack.enter_async_context(Caller(url)) for url in urls]
        for call in calls:
            await call.silence(0.5)
        for index in range(turns):
            for call, turns_of_call in zip(calls, results, strict=True):
                turn = await call.say_and_listen(spoken(QUESTIONS[index % len(QUESTIONS)]), timeout=90)
                turns_of_call.append(turn)
        for call in calls:
            if call.conversation.errors:
                print(f"errors: {call.conversation.errors}", file=sys.stderr)
    return results, [reply_stalls_ms(call.conversation) for call in calls]


def reply_stalls_ms(conversation) -> list[float]:
    """Per reply, how long a listener's playback would have run dry after the first audio: the
    gaps where the next chunk came later than the audio before it finished playing (the gateway
    paces audio at real time, so arrival times are playback times). Replies are split where the
    caller spoke next."""
    boundaries = [turn.speech_end for turn in conversation.turns[1:]] + [float("inf")]
    stalls = []
    chunks = iter(conversation.audio)
    pending = next(chunks, None)
    for boundary in boundaries:
        play_clock, stalled = None, 0.0
        while pending is not None and pending[0] < boundary:
            arrived, chunk = pending
            if play_clock is not None and arrived > play_clock:
                stalled += arrived - play_clock
            play_clock = max(play_clock or arrived, arrived) + pcm_seconds(len(chunk), TTS_SAMPLE_RATE)
            pending = next(chunks, None)
        stalls.append(stalled * 1000.0)
    return stalls


# Where a turn's time goes, in order; "playout" is the rest (audio framing and pacing to the caller).
WATERFALL = (
    ("VAD end-of-speech wait", "vad_wait_ms"),
    ("STT (flush to transcript)", "stt_ms"),
    ("LLM: first token + first phrase written", "llm_first_phrase_ms"),
    ("TTS first audio", "tts_ttfb_ms"),
)


def print_budget_table(label: str, turns: list) -> None:
    budget = load_budget()
    measured: dict[str, list[float]] = {}
    for turn in turns:
        for stage, value in budget_rows(turn):
            if value is not None:
                measured.setdefault(stage, []).append(value)
    print(f"### {label}: {len(turns)} turns\n")
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
    print()


def waterfall(turns: list, vad_stop_secs: float) -> dict[str, float]:
    """Median of each segment of server mouth-to-ear; the segments add up to its median's parts."""
    rows: dict[str, list[float]] = {name: [] for name, _ in WATERFALL}
    rows["playout and the rest"] = []
    for turn in turns:
        server = {**turn.server, "vad_wait_ms": vad_stop_secs * 1000.0}
        parts = [server.get(key) for _, key in WATERFALL]
        if None in parts or server.get("mouth_to_ear_ms") is None:
            continue
        for (name, _), value in zip(WATERFALL, parts, strict=True):
            rows[name].append(value)
        rows["playout and the rest"].append(server["mouth_to_ear_ms"] - sum(parts))
    return {name: percentile(values, 50) for name, values in rows.items() if values}


COMPARABLE_SERVERS = ("stt", "llm", "tts")  # --compare-stt, --compare-llm, --compare-tts: a second server for the second gateway


def key_values(items: list[str]) -> dict[str, str]:
    """``["KEY=VALUE", ...]`` from the command line as a dict."""
    return dict(item.split("=", 1) for item in items)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--gateway-env", action="append", default=[], metavar="KEY=VALUE", help="extra gateway setting")
    parser.add_argument(
        "--compare", action="append", default=[], metavar="KEY=VALUE",
        help="also run a second gateway with these settings on the same model servers, turns alternating; "
        "prints both and their ratios",
    )
    for server in COMPARABLE_SERVERS:
        parser.add_argument(
            f"--compare-{server}", action="append", default=[], metavar="KEY=VALUE",
            help=f"the second gateway's {server.upper()} is a second {server.upper()} server with these settings "
            "(e.g. STT_MODEL_PATH=models/whisper-base, LLM_NICE=19); only the turn being answered has its servers working",
        )
    args = parser.parse_args()
    compared_servers = {name: key_values(items) for name in COMPARABLE_SERVERS if (items := getattr(args, f"compare_{name}"))}
    # With two gateways, each call waits silent while the other's turn runs: no first-speech limit.
    configs = [{"GATEWAY_FIRST_SPEECH_TIMEOUT_SECS": "600", **key_values(args.gateway_env)}]
    if args.compare or compared_servers:
        configs.append({**configs[0], **key_values(args.compare)})
    ports = StackPorts(stt=free_port(), tts=free_port(), llm=free_port(), gateway=free_port())
    with ProcessGroup(LOG_DIR) as group:
        specs = stack_specs(MODELS_DIR, ports, gateway_env=configs[0])
        servers, gateways = specs[:-1], [specs[-1]]
        if len(configs) > 1:
            # The second gateway from the stack's own specs on ports of its own: its URLs name its own
            # STT, LLM or TTS server where one is compared, the shared servers otherwise.
            ports_b = dataclasses.replace(ports, gateway=free_port(), **{name: free_port() for name in compared_servers})
            specs_b = {spec.name: spec for spec in stack_specs(MODELS_DIR, ports_b, gateway_env=configs[1])}
            for name, settings in compared_servers.items():
                spec = specs_b[name]
                servers.append(dataclasses.replace(spec, name=f"{name}2", env={**spec.env, **settings}))
            gateways.append(dataclasses.replace(specs_b["gateway"], name="gateway2"))
        group.start(servers + gateways, timeout_s=300)
        results, stalls = asyncio.run(run_turns([f"ws://127.0.0.1:{g.port}/ws" for g in gateways], args.turns))

    print(f"## Stack benchmark: {args.turns} turns per configuration, local stack on CPU\n")
    print(f"Machine: {machine_description()}\n")
    compared = args.compare + [item for name in COMPARABLE_SERVERS for item in getattr(args, f"compare_{name}")]
    labels = [f"A {args.gateway_env or '(defaults)'}"] + [f"B {compared}" for _ in configs[1:]]
    falls = []
    for label, config, turns in zip(labels, configs, results, strict=True):
        print_budget_table(label, turns)
        falls.append(waterfall(turns, float(config.get("GATEWAY_VAD_STOP_SECS", GatewaySettings().vad_stop_secs))))
    print("### Waterfall of server mouth-to-ear (medians, ms)\n")
    print("| segment | " + " | ".join(label.split(" ", 1)[0] for label in labels) + (" | B / A |" if len(falls) > 1 else " |"))
    print("|---|" + "---|" * len(falls) + ("---|" if len(falls) > 1 else ""))
    for name in falls[0]:
        values = [fall.get(name) for fall in falls]
        cells = " | ".join("" if value is None else f"{value:.0f}" for value in values)
        ratio = ""
        if len(values) > 1 and values[0] and values[1] is not None:
            ratio = f" {values[1] / values[0]:.2f}x |"
        print(f"| {name} | {cells} |{ratio}")
    stall_cells = [
        f"{label.split(' ', 1)[0]} p50 {percentile(v, 50):.0f} ms, p95 {percentile(v, 95):.0f} ms"
        for label, v in zip(labels, stalls, strict=True)
        if v
    ]
    print("\nAudio stalls inside a reply (a listener's playback running dry after the first audio), per reply: "
          + "; ".join(stall_cells))
    if len(results) > 1:
        m2e = [percentile([t.server["mouth_to_ear_ms"] for t in turns if t.server.get("mouth_to_ear_ms")], 50)
               for turns in results]
        print(f"\nServer mouth-to-ear p50: A {m2e[0]:.0f} ms, B {m2e[1]:.0f} ms, B / A {m2e[1] / m2e[0]:.2f}x")


if __name__ == "__main__":
    main()
