"""``voice-agent``: run the stack locally (``up``), talk to a gateway (``talk``), or both (``demo``)."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import threading
from pathlib import Path

from voice_agent.client import Turn, caller_pcm, converse
from voice_agent.observe import JaegerPorts, jaeger_spec, prometheus_spec, stack_targets, traced
from voice_agent.processes import ProcessGroup
from voice_agent.report import turn_table, turns_json
from voice_agent.stack import LOG_DIR, StackPorts, default_models_dir, stack_specs
from voice_common.audio import write_wav
from voice_common.budget import load_budget
from voice_common.protocol.constants import TTS_SAMPLE_RATE
from voice_stt.settings import STTSettings

SAMPLES_DIR = Path(__file__).resolve().parents[2] / "samples"
DEMO_UTTERANCES = [SAMPLES_DIR / "capital-of-france.wav", SAMPLES_DIR / "tell-me-more.wav"]
OBSERVE_DIR = Path(".cache/observe")


async def talk(url: str, wavs: list[Path], out: Path | None, timeout: float) -> list[Turn]:
    conversation = await converse(url, [caller_pcm(wav) for wav in wavs], timeout)
    if conversation.errors and not conversation.turns:
        raise SystemExit(f"gateway refused the call: {conversation.errors[0]}")
    for error in conversation.errors:
        print(f"error from gateway: {error}", file=sys.stderr)
    if out is not None:
        write_wav(out, conversation.reply_pcm(), TTS_SAMPLE_RATE)
    return conversation.turns


def print_report(turns: list[Turn], as_json: bool) -> None:
    budget = load_budget()
    if as_json:
        print(json.dumps(turns_json(turns, budget), indent=2))
        return
    for number, turn in enumerate(turns, start=1):
        print(turn_table(number, turn, budget))
        print()


def _wait_for_ctrl_c() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()


def cmd_up(args: argparse.Namespace) -> None:
    ports = StackPorts(args.stt_port, args.tts_port, args.llm_port, args.gateway_port)
    with ProcessGroup(LOG_DIR) as group:
        print("starting STT, TTS, LLM and gateway (first start loads the models)...", flush=True)
        specs = stack_specs(default_models_dir(), ports)
        if args.observe:
            jaeger = JaegerPorts.free(query=args.jaeger_port)  # first: the stack's spans go to it from the start
            specs = [jaeger_spec(jaeger), *traced(specs, jaeger.otlp_endpoint)]
            specs.append(prometheus_spec(OBSERVE_DIR, stack_targets(ports), args.prometheus_port))
        group.start(specs)
        for name, proc in group.running.items():
            print(f"  {name:<10} {proc.spec.base_url}   log: {proc.log_path}")
        print(f"\ncall it: ws://127.0.0.1:{ports.gateway}/ws  (browser: http://127.0.0.1:{ports.gateway}/)")
        if args.observe:
            print(f"metrics: http://127.0.0.1:{args.prometheus_port}/graph  (config and data: {OBSERVE_DIR}; "
                  "dashboards: docs/observability.md)")
            print(f"traces:  http://127.0.0.1:{args.jaeger_port}/api/traces?service=voice-gateway&operation=conversation"
                  "  (Jaeger's API, one trace per call; or add it to your Grafana: docs/observability.md)")
        print("Ctrl-C stops everything.", flush=True)
        _wait_for_ctrl_c()
        print("stopping...")


def cmd_talk(args: argparse.Namespace) -> None:
    turns = asyncio.run(talk(args.url, args.wav, args.out, args.timeout))
    if not args.json and args.out:
        print(f"reply audio written to {args.out}\n")
    print_report(turns, args.json)


def cmd_demo(args: argparse.Namespace) -> None:
    ports = StackPorts()
    with ProcessGroup(LOG_DIR) as group:
        stt_model = Path(STTSettings().model_path).name  # STT_MODEL_PATH from the environment reaches the server too
        print(f"starting the local stack on CPU (STT {stt_model}, LLM Qwen2.5-Coder-0.5B, TTS Kokoro-82M)...", flush=True)
        group.start(stack_specs(default_models_dir(), ports))
        url = f"ws://127.0.0.1:{ports.gateway}/ws"
        print(f"talking to {url} with {', '.join(p.name for p in DEMO_UTTERANCES)}\n", flush=True)
        out = Path(".cache/demo-reply.wav")
        turns = asyncio.run(talk(url, DEMO_UTTERANCES, out, args.timeout))
        print(f"reply audio written to {out}\n")
        print_report(turns, args.json)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="voice-agent", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser("up", help="start the local stack until Ctrl-C")
    defaults = StackPorts()
    up.add_argument("--stt-port", type=int, default=defaults.stt)
    up.add_argument("--tts-port", type=int, default=defaults.tts)
    up.add_argument("--llm-port", type=int, default=defaults.llm)
    up.add_argument("--gateway-port", type=int, default=defaults.gateway)
    up.add_argument(
        "--observe", action="store_true",
        help="also run Prometheus scraping the stack and Jaeger receiving its spans (make prometheus jaeger)",
    )
    up.add_argument("--prometheus-port", type=int, default=9191)
    up.add_argument("--jaeger-port", type=int, default=16686, help="Jaeger's query API with --observe (make jaeger)")
    up.set_defaults(func=cmd_up)

    talk_cmd = commands.add_parser("talk", help="stream WAV files to a gateway and print each turn against the budget")
    talk_cmd.add_argument("wav", type=Path, nargs="+", help="16-bit WAV files, one utterance each")
    talk_cmd.add_argument("--url", default=f"ws://127.0.0.1:{defaults.gateway}/ws")
    talk_cmd.add_argument("--out", type=Path, default=Path("reply.wav"), help="where to write the reply audio")
    talk_cmd.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    talk_cmd.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for each reply")
    talk_cmd.set_defaults(func=cmd_talk)

    demo = commands.add_parser("demo", help="start the stack, talk to it with the bundled samples, print, stop")
    demo.add_argument("--json", action="store_true")
    demo.add_argument("--timeout", type=float, default=60.0)
    demo.set_defaults(func=cmd_demo)

    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
