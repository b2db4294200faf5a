"""The concurrency ramp: 1, 2, 4, ... callers until p95 mouth-to-ear breaks the budget, the
user limit is reached or the time bound runs out; the highest level that held is the capacity."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from loadtest import gateway_metrics
from loadtest.gateway_metrics import StageQuantiles
from loadtest.settings import LoadtestSettings
from loadtest.step import ClientResult, StepRequest
from voice_common.budget import StageBudget

RunStep = Callable[[LoadtestSettings, StepRequest], ClientResult]
MIN_STEP_SECONDS = 15.0  # below this a step cannot complete one call of real speech and a reply


@dataclass(frozen=True)
class Step:
    users: int
    client: ClientResult
    seconds: float
    gateway: dict[str, StageQuantiles] = field(default_factory=dict)  # empty where /metrics is unreachable
    gateway_counters: dict[str, float] = field(default_factory=dict)

    def problems(self, mouth_to_ear: StageBudget) -> list[str]:
        """Why this level did not hold: errors, incomplete replies, or p95 mouth-to-ear over the max."""
        client = self.client
        found = []
        if client.turns == 0:
            found.append("no turn finished")
        if client.errors:
            found.append(f"{client.errors} errors")
        if client.reply_complete_rate is not None and client.reply_complete_rate < 1.0:
            found.append(f"{(1.0 - client.reply_complete_rate) * 100:.0f}% of replies incomplete")
        p95 = client.mouth_to_ear_p95_ms
        if p95 is not None and p95 > mouth_to_ear.max_ms:
            found.append(f"p95 mouth-to-ear {p95:.0f} ms > {mouth_to_ear.max_ms:.0f} ms")
        return found

    def held(self, mouth_to_ear: StageBudget) -> bool:
        return not self.problems(mouth_to_ear)


@dataclass(frozen=True)
class Ramp:
    steps: list[Step]
    stopped_because: str
    load_average: float  # this machine's 1-minute load when the ramp began: others' work skews latency too


def concurrency_levels(max_users: int) -> list[int]:
    """Doubling from 1, ending exactly at ``max_users``."""
    levels = []
    users = 1
    while users < max_users:
        levels.append(users)
        users *= 2
    return [*levels, max_users]


def capacity(steps: list[Step], mouth_to_ear: StageBudget) -> int:
    """The highest concurrency of the unbroken run of held steps from the first; 0 if the first broke."""
    held = 0
    for step in steps:
        if not step.held(mouth_to_ear):
            break
        held = step.users
    return held


def run_ramp(
    settings: LoadtestSettings, url: str, speech_pcm: Path, run_step: RunStep, mouth_to_ear: StageBudget
) -> Ramp:
    """Run the steps one after another, each bounded by the time the ramp has left."""
    deadline = time.monotonic() + settings.seconds
    load_average = os.getloadavg()[0]
    steps: list[Step] = []
    for users in concurrency_levels(settings.max_users):
        left = deadline - time.monotonic()
        needed = max(MIN_STEP_SECONDS, steps[-1].seconds if steps else 0.0)
        if left < needed:
            return Ramp(steps, f"time bound ({settings.seconds:.0f} s) reached before {users} users", load_average)
        before = gateway_metrics.scrape(url)
        started = time.monotonic()
        client = run_step(settings, StepRequest(url, users, speech_pcm, left, settings.out / "runs"))
        seconds = time.monotonic() - started
        after = gateway_metrics.scrape(url)
        delta = after - before if before is not None and after is not None else None
        step = Step(
            users,
            client,
            round(seconds, 1),
            gateway_metrics.stage_quantiles(delta) if delta else {},
            delta.counters if delta else {},
        )
        steps.append(step)
        if problems := step.problems(mouth_to_ear):
            return Ramp(steps, f"{users} users did not hold: {', '.join(problems)}", load_average)
    return Ramp(steps, f"all levels up to {settings.max_users} users held", load_average)
