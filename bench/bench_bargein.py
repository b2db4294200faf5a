"""Barge-in benchmark: the caller talks over the bot; how soon does the bot's audio stop?

Starts the local stack (as ``voice-agent up`` does), holds one call and, round after round, asks
for a long answer, waits until the bot has been speaking for a while (a different moment each
round), then speaks over it at real-time pace. Measured on the client, per round, from the onset
of the caller's speech (its first voiced frame sent, not the leading silence of the clip):

- ``last bot audio``: the last byte of the interrupted reply received (the number the budget
  cares about: how long the caller hears the bot talking over them);
- ``heard``: the gateway's ``user_started_speaking`` event (the VAD's ``start_secs`` is its floor);
- ``interruption``: the gateway's ``interruption`` event.

Not a test: it asserts nothing and prints p50/p95.

    .venv/bin/python bench/bench_bargein.py --rounds 10 [--gateway-env GATEWAY_VAD_START_SECS=0.1]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sys
import time

from voice_agent.client import Caller
from voice_agent.processes import ProcessGroup
from voice_agent.stack import StackPorts, stack_specs
from voice_common.audio import leading_silence_seconds
from voice_common.protocol.constants import CALLER_SAMPLE_RATE
from voice_testkit.machine import machine_description, percentile
from voice_testkit.services import LOG_DIR, MODELS_DIR, free_port
from voice_testkit.speech import spoken

LONG_ANSWERS = [
    "Please tell me a long story about a dragon and a knight.",
    "Can you describe your favourite city in detail?",
    "Tell me everything you know about the ocean.",
]
INTERRUPTIONS = ["Stop, stop please.", "Wait, wait a moment.", "Hold on, I have a question."]


async def one_round(call: Caller, index: int, rng: random.Random) -> dict[str, float | None] | None:
    """Ask, barge in after the bot has spoken for a while, and time the bot going quiet."""
    # Synthesized first: making a clip mid-round would take the caller's microphone off the line.
    question, interrupter = spoken(LONG_ANSWERS[index % len(LONG_ANSWERS)]), spoken(INTERRUPTIONS[index % len(INTERRUPTIONS)])
    await call.say(question)
    asked_at = time.monotonic()
    async with listening(call):
        if not await call.wait_for(lambda: call.conversation.first_event("bot_started_speaking", after=asked_at), 60):
            return None
        await asyncio.sleep(rng.uniform(0.4, 1.5))  # somewhere in the bot's first sentences
    sent_at = time.monotonic()
    onset = sent_at + leading_silence_seconds(interrupter, CALLER_SAMPLE_RATE)
    await call.stream(interrupter)
    speech_over = time.monotonic()
    # The bot answers the interruption only after it ends: audio before then is the old reply's tail.
    tail = [t for t, _ in call.conversation.audio if onset <= t < speech_over]
    heard = call.conversation.first_event("user_started_speaking", after=sent_at)
    interruption = call.conversation.first_event("interruption", after=sent_at)
    async with listening(call):  # the reply to the interruption plays out before the next round
        answered = call.conversation.first_event
        if await call.wait_for(lambda: answered("bot_started_speaking", after=speech_over), 60):
            replied_at = answered("bot_started_speaking", after=speech_over)[0]
            await call.wait_for(lambda: answered("bot_stopped_speaking", after=replied_at), 60)
        await asyncio.sleep(1.0)
    return {
        "last bot audio": (max(tail) - onset) * 1000 if tail else 0.0,
        "heard": (heard[0] - onset) * 1000 if heard else None,
        "interruption": (interruption[0] - onset) * 1000 if interruption else None,
    }


@contextlib.asynccontextmanager
async def listening(call: Caller):
    """The caller's microphone stays open (silence streams) for the duration."""
    task = asyncio.create_task(call.silence(120))
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def run_rounds(url: str, rounds: int, seed: int) -> list[dict[str, float | None]]:
    rng = random.Random(seed)
    results = []
    async with Caller(url) as call:
        await call.silence(0.5)
        for index in range(rounds):
            result = await one_round(call, index, rng)
            if result is None:
                print(f"round {index + 1}: the bot never started speaking", file=sys.stderr)
                continue
            results.append(result)
        if call.conversation.errors:
            print(f"errors: {call.conversation.errors}", file=sys.stderr)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7, help="when in the bot's speech each barge-in lands")
    parser.add_argument("--gateway-env", action="append", default=[], metavar="KEY=VALUE", help="extra gateway setting")
    args = parser.parse_args()
    gateway_env = dict(item.split("=", 1) for item in args.gateway_env)
    ports = StackPorts(stt=free_port(), tts=free_port(), llm=free_port(), gateway=free_port())
    with ProcessGroup(LOG_DIR) as group:
        group.start(stack_specs(MODELS_DIR, ports, gateway_env=gateway_env), timeout_s=300)
        results = asyncio.run(run_rounds(f"ws://127.0.0.1:{ports.gateway}/ws", args.rounds, args.seed))

    print(f"## Barge-in benchmark: {len(results)} rounds, local stack on CPU {gateway_env or ''}\n")
    print(f"Machine: {machine_description()}\n")
    print("| from the caller's speech onset to | n | p50 ms | p95 ms | max ms |")
    print("|---|---|---|---|---|")
    for key in ("heard", "interruption", "last bot audio"):
        values = [r[key] for r in results if r[key] is not None]
        if values:
            print(f"| {key} | {len(values)} | {percentile(values, 50):.0f} | {percentile(values, 95):.0f} | {max(values):.0f} |")


if __name__ == "__main__":
    main()
