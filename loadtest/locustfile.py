"""Locust load test of the gateway's raw-PCM WebSocket, for those who prefer Python to k6.

Each user makes ``LOADTEST_SESSIONS`` calls of ``LOADTEST_TURNS`` spoken turns at real-time
pace and then stops; the run ends when every user has. Each turn fires one request event per
budget stage it measured (request type ``turn``: ``mouth_to_ear``, ``stt``, ``llm_ttft``,
``tts_ttfb``, ``network``), so Locust's tables and charts show mouth-to-ear per turn, plus one
``reply`` event (its time: the reply's audio length) that fails when the reply did not come back
complete; gateway errors are ``error`` failures and each call is one ``call`` event. At the end it
prints its numbers as one JSON line for the driver and, as the k6 script's thresholds do, exits 99
when any stage's p95 breaks the budget file's max.

    locust -f loadtest/locustfile.py --headless -u 2 -r 2 --run-time 60s --host ws://127.0.0.1:7860/ws
"""

from __future__ import annotations

import json
import logging
import time

import gevent
from locust import User, constant, events, task
from locust.env import Environment
from locust.exception import StopUser

from loadtest.blocking_caller import BlockingCaller
from loadtest.locust_run import BUDGET_BROKEN_EXIT, SUMMARY_MARKER
from loadtest.settings import LoadtestSettings
from loadtest.speech import speech_pcm
from voice_agent.client import budget_rows
from voice_common.budget import load_budget

SETTINGS = LoadtestSettings()
BUDGET = load_budget(SETTINGS.budget)
SPEECH = speech_pcm(SETTINGS.speech)
TURN = "turn"


class IncompleteReply(Exception):
    """The bot's reply did not finish (no turn report, no audio, or not done in time)."""


class GatewayError(Exception):
    """An ``error`` event from the gateway."""


class VoiceCaller(User):
    """A caller who speaks, waits for the whole spoken reply, and speaks again."""

    wait_time = constant(0)
    finished_users = 0

    def on_start(self) -> None:
        self.calls_left = SETTINGS.sessions

    @task
    def call(self) -> None:
        if self.calls_left == 0:
            self._stop()
        self.calls_left -= 1
        started = time.perf_counter()
        failure: Exception | None = None
        try:
            with BlockingCaller(self.host) as caller:
                caller.silence(0.5)  # let the VAD settle on the line first, as `voice-agent talk` does
                for _ in range(SETTINGS.turns):
                    if not self._turn(caller):
                        failure = IncompleteReply("a turn did not complete")
                        break
                for error in caller.conversation.errors:
                    self._fire("error", 0.0, 0, GatewayError(error.get("code", "error")), request_type="gateway")
        except Exception as exc:  # noqa: BLE001 - a refused or broken call is a failed call, not a crashed user
            failure = exc
        self._fire("call", (time.perf_counter() - started) * 1000.0, 0, failure, request_type="session")

    def _turn(self, caller: BlockingCaller) -> bool:
        errors_before = len(caller.conversation.errors)
        turn = caller.say_and_listen(SPEECH, timeout=SETTINGS.turn_timeout_s, settle_s=SETTINGS.settle_s)
        complete = (
            turn.reply_audio_bytes > 0
            and len(caller.conversation.errors) == errors_before
            and caller.conversation.reply_finished(turn, time.monotonic(), SETTINGS.settle_s)
        )
        for stage, value in budget_rows(turn):
            if stage == "mouth_to_ear":
                value = turn.client_mouth_to_ear_ms  # the caller's clock only, never the server's
            if value is not None:
                self._fire(stage, value, 0, None)
        failure = None if complete else IncompleteReply(f"reply audio {turn.reply_audio_bytes} bytes")
        self._fire("reply", turn.reply_audio_bytes / 48.0, turn.reply_audio_bytes, failure)  # 24 kHz s16le: 48 bytes/ms
        return complete

    def _fire(self, name: str, ms: float, length: int, exception: Exception | None, request_type: str = TURN) -> None:
        self.environment.events.request.fire(
            request_type=request_type, name=name, response_time=ms, response_length=length,
            exception=exception, context={},
        )

    def _stop(self) -> None:
        """Stop this user; the last one to finish ends the run (bounded by count, not only time)."""
        VoiceCaller.finished_users += 1
        runner = self.environment.runner
        if runner is not None and VoiceCaller.finished_users >= runner.target_user_count:
            gevent.spawn_later(0.1, runner.quit)
        raise StopUser()


def summary(environment: Environment) -> dict[str, dict[str, float]]:
    """Every event's count, failures and p50/p95 (Locust's own percentiles), keyed ``type/name``."""
    return {
        f"{entry.method}/{entry.name}": {
            "count": entry.num_requests,
            "failures": entry.num_failures,
            "p50_ms": entry.get_response_time_percentile(0.5),
            "p95_ms": entry.get_response_time_percentile(0.95),
        }
        for entry in environment.stats.entries.values()
    }


@events.quitting.add_listener
def report(environment: Environment, **_: object) -> None:
    """Print the numbers for the driver; fail the run like a crossed k6 threshold when a stage's p95
    is over the budget's max."""
    numbers = summary(environment)
    print(SUMMARY_MARKER, json.dumps(numbers), flush=True)
    over = [
        f"{stage} p95 {numbers[key]['p95_ms']:.0f} ms > {BUDGET[stage].max_ms:.0f} ms"
        for stage in BUDGET.stages
        if (key := f"{TURN}/{stage}") in numbers and numbers[key]["p95_ms"] > BUDGET[stage].max_ms
    ]
    if over:
        logging.error("over budget: %s", "; ".join(over))
        environment.process_exit_code = BUDGET_BROKEN_EXIT
