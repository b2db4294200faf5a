"""``python -m loadtest`` (``make loadtest``): ramp concurrency against a gateway and write the report.

Without ``--url`` it starts the local stack on loopback (as ``voice-agent up`` does) and stops it
afterwards; with one it loads that gateway (a cluster's, say) and nothing else. Every run is
bounded: at most ``--max-users`` callers, each making ``--sessions`` calls of ``--turns`` turns per
step, and the whole ramp within ``--seconds``.

    python -m loadtest --max-users 4 --seconds 240 --out .cache/loadtest
    python -m loadtest --url ws://gateway.example:7860/ws --engine locust
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pydantic_settings import CliApp

from loadtest.k6_run import run_k6
from loadtest.locust_run import run_locust
from loadtest.ramp import run_ramp
from loadtest.report import ms_text, write_report
from loadtest.settings import LoadtestSettings
from loadtest.speech import write_speech_pcm
from loadtest.warmup import warm_up
from voice_agent.processes import ProcessGroup
from voice_agent.stack import LOG_DIR, StackPorts, default_models_dir, stack_specs
from voice_common.budget import load_budget

ENGINES = {"k6": run_k6, "locust": run_locust}


@contextmanager
def gateway(settings: LoadtestSettings) -> Iterator[tuple[str, str, ProcessGroup | None]]:
    """(WebSocket URL, how the report names it, the local processes): the given URL, or a local
    stack started for the run (its processes are then known, so their resources can be read)."""
    if settings.url:
        yield settings.url, settings.url, None
        return
    ports = StackPorts()
    with ProcessGroup(LOG_DIR) as group:
        print("starting the local stack (STT, TTS, LLM, gateway) on loopback...", flush=True)
        group.start(stack_specs(default_models_dir(), ports))
        yield f"ws://127.0.0.1:{ports.gateway}/ws", "the local stack on loopback (`voice-agent up` settings)", group


def main() -> None:
    settings = CliApp.run(LoadtestSettings)
    budget = load_budget(settings.budget)
    speech = write_speech_pcm(settings.speech, settings.out / "runs" / "speech.pcm")
    with gateway(settings) as (url, target, _processes):
        if settings.warmup:
            print(f"warm-up turn: mouth-to-ear {warm_up(url, settings.speech, settings.turn_timeout_s)} ms", flush=True)
        print(
            f"ramping {settings.engine} callers against {url} (max {settings.max_users} users, {settings.seconds:.0f} s)",
            flush=True,
        )
        ramp = run_ramp(settings, url, speech, ENGINES[settings.engine], budget["mouth_to_ear"])
    data = write_report(ramp, budget, settings, target)
    for step in data["steps"]:
        client = step["client"]
        print(
            f"  {step['users']} users: {client['turns']} turns, {client['errors']} errors, "
            f"mouth-to-ear p50/p95 {ms_text(client['mouth_to_ear_p50_ms'])}/{ms_text(client['mouth_to_ear_p95_ms'])} ms, "
            f"{'held' if step['held'] else 'did not hold'}"
        )
    print(f"capacity: {data['capacity_users']} concurrent callers ({data['stopped_because']})")
    print(f"report: {settings.out / 'loadtest.md'}")


if __name__ == "__main__":
    main()
