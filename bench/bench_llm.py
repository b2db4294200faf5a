"""LLM benchmark: which small instruct GGUF answers best within the first-token budget on CPU.

Each model is served by llama.cpp's OpenAI-compatible server started exactly as the local stack
starts it (``voice_agent.stack.llm_spec``: default threads, same context size), one server at a
time on a free loopback port. Every request is what the gateway sends: its system prompt,
``llm_max_tokens`` and ``llm_temperature`` from ``GatewaySettings``, streamed, with the history
of the conversation so far. Measured per model:

- TTFT p50/p95 (request sent -> first streamed text) over every request of the quality set, with
  llama.cpp's prompt-prefix reuse as one caller gets it; "cold" is the same with a prompt that
  shares no prefix with the previous request (what another caller's turn in between costs);
- decode tokens/s (reply tokens after the first, over the time after the first);
- answers: simple factual questions checked by keyword, and follow-ups ("Tell me one more fact
  about it") that repeat an earlier reply of the same conversation (one reply contains the other,
  or word-set Jaccard >= 0.6).

Models run one after another, round after round (``--rounds``), so background load hits each
alike; the load average before and after is printed. Each round samples with its own seed (the
gateway's temperature is not 0), so rounds also vary the answers. Prints markdown; asserts nothing.

Each candidate is a model file with the gateway's settings, or the default model with some of
the gateway's settings changed (``--variant``: a system prompt, sampling penalties), so such a
change is judged by the same questions, seeds and repeat check as a model change.

    .venv/bin/python bench/bench_llm.py                      # the model `make models` assembled
    .venv/bin/python bench/bench_llm.py --model smollm2=models/llm/SmolLM2-135M-Instruct.Q4_1.gguf --rounds 3
    .venv/bin/python bench/bench_llm.py --variant no-penalty:GATEWAY_LLM_FREQUENCY_PENALTY=0 \\
        --variant terse:GATEWAY_SYSTEM_PROMPT="You are a voice assistant. Answer in one sentence."
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

import httpx

from voice_agent.processes import ServiceProcess, start_ready
from voice_agent.stack import LLM_MODEL_ALIAS, llm_spec
from voice_common.models import LLM_GGUF_NAME
from voice_gateway.settings import GatewaySettings
from voice_testkit.machine import machine_description, percentile
from voice_testkit.replies import restates
from voice_testkit.services import LOG_DIR, MODELS_DIR, free_port

# Question -> regex its reply must match (case-insensitive). Answers any decent small model knows.
FACTS: list[tuple[str, str]] = [
    ("What is the capital of France?", r"\bparis\b"),
    ("Which planet is closest to the sun?", r"\bmercury\b"),
    ("How many legs does a spider have?", r"\b(8|eight)\b"),
    ("What is the boiling point of water in Celsius?", r"\b(100|one hundred|a hundred)\b"),
    ("What is the largest ocean on Earth?", r"\bpacific\b"),
    ("Who wrote Romeo and Juliet?", r"\bshakespeare\b"),
    ("How many days are there in a week?", r"\b(7|seven)\b"),
    ("What color is the sky on a clear day?", r"\bblue\b"),
    ("What is the largest planet in our solar system?", r"\bjupiter\b"),
    ("What is the capital of Italy?", r"\brome\b"),
    ("How many continents are there on Earth?", r"\b(7|seven)\b"),
    ("What is the chemical symbol for gold?", r"\bau\b"),
    ("What is the freezing point of water in Celsius?", r"\b(0|zero)\b"),
    ("How many hours are there in a day?", r"\b(24|twenty-four|twenty four)\b"),
    ("What is the capital of Germany?", r"\bberlin\b"),
    ("Which animal is known as the king of the jungle?", r"\blions?\b"),
    ("What is the tallest mountain in the world?", r"\beverest\b"),
    ("Who painted the Mona Lisa?", r"\b(leonardo|da vinci)\b"),
    ("What gas do plants take in from the air?", r"\b(carbon dioxide|co2)\b"),
    ("How many sides does a triangle have?", r"\b(3|three)\b"),
]
# Conversations whose last question refers back; every turn but the last is checked like a fact.
# After France and Japan, models differ by phrasing: Qwen2.5-Coder-0.5B reads "one more fact" as
# "say the fact again" far more often than "What is it famous for?", so several are asked.
FOLLOW_UPS: list[list[tuple[str, str | None]]] = [
    [("What is the capital of Japan?", r"\btokyo\b"), ("What is its population roughly?", None)],
    [("What is the capital of Japan?", r"\btokyo\b"), ("Tell me one more fact about it.", None)],
    *(
        [
            ("What is the capital of France?", r"\bparis\b"),
            ("What is the capital of Japan?", r"\btokyo\b"),
            (follow_up, None),
        ]
        for follow_up in (
            "Tell me one more fact about it.",
            "What is its population roughly?",
            "What is it famous for?",
            "Tell me something else about it.",
        )
    ),
]
DEFAULT_MODEL = MODELS_DIR / "llm" / LLM_GGUF_NAME


@dataclass
class Candidate:
    name: str
    path: Path
    changed: dict[str, str] = field(default_factory=dict)  # GATEWAY_* settings that differ from the defaults

    @property
    def settings(self) -> GatewaySettings:
        """The gateway's settings with these GATEWAY_* values read as the gateway reads its environment
        (so a JSON object such as GATEWAY_LLM_EXTRA_BODY is parsed as it would be there)."""
        with mock.patch.dict(os.environ, self.changed):
            return GatewaySettings()


@dataclass
class Results:
    ttft_ms: list[float] = field(default_factory=list)
    cold_ttft_ms: list[float] = field(default_factory=list)
    tokens_per_s: list[float] = field(default_factory=list)
    rss_mib: float = 0.0
    correct: int = 0
    asked: int = 0
    repeated: int = 0
    follow_ups: int = 0
    wrong: list[str] = field(default_factory=list)
    follow_up_replies: list[str] = field(default_factory=list)


def repeats(reply: str, earlier: list[str]) -> bool:
    """An earlier reply again (``voice_testkit.replies.restates``)."""
    return any(restates(reply, before) for before in earlier)


def parse_candidate(text: str) -> Candidate:
    name, _, path = text.partition("=")
    return Candidate(name, Path(path).resolve())


def parse_variant(text: str) -> tuple[str, str, str]:
    """NAME:GATEWAY_KEY=VALUE -> (name, key, value)."""
    name, _, setting = text.partition(":")
    key, _, value = setting.partition("=")
    return name, key, value


def variants(changes: list[tuple[str, str, str]]) -> list[Candidate]:
    """One candidate per variant name, on the default model, with all the settings given for it."""
    by_name: dict[str, Candidate] = {}
    for name, key, value in changes:
        by_name.setdefault(name, Candidate(name, DEFAULT_MODEL)).changed[key] = value
    return list(by_name.values())


def start_server(candidate: Candidate) -> ServiceProcess:
    spec = llm_spec(MODELS_DIR, free_port(), name=f"bench-llm-{candidate.name}")
    spec.env["LLM_MODEL_PATH"] = str(candidate.path)
    return start_ready(spec, LOG_DIR, 180)


def complete(client: httpx.Client, settings: GatewaySettings, messages: list[dict], seed: int) -> tuple[str, float, float]:
    """Stream one chat completion: (reply, TTFT in ms, decode tokens/s)."""
    body = {
        "model": LLM_MODEL_ALIAS,
        "messages": messages,
        "max_tokens": settings.llm_max_tokens,
        "temperature": settings.llm_temperature,
        **settings.llm_penalties(),
        **settings.llm_extra_body,
        "stream": True,
        # llama.cpp seeds its sampler with a fixed default: without this every fresh server answers alike.
        "seed": seed,
        "stream_options": {"include_usage": True},  # the reply's token count, in the last chunk
    }
    parts: list[str] = []
    count = 0
    sent = time.perf_counter()
    first = last = 0.0
    with client.stream("POST", "/v1/chat/completions", json=body) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            count = (chunk.get("usage") or {}).get("completion_tokens", count)
            choices = chunk.get("choices") or [{}]  # the usage chunk has none
            delta = choices[0].get("delta", {}).get("content") or ""
            if delta:
                last = time.perf_counter()
                first = first or last
                parts.append(delta)
    reply = "".join(parts).strip()
    if not first:
        return reply, (time.perf_counter() - sent) * 1000, 0.0
    rate = (count - 1) / (last - first) if count > 1 and last > first else 0.0
    return reply, (first - sent) * 1000, rate


def rss_mib(pid: int) -> float:
    """Resident memory of the server process (weights mapped in, KV cache, Python)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run_round(candidate: Candidate, results: Results, seed: int) -> None:
    settings = candidate.settings
    system = {"role": "system", "content": settings.system_prompt}
    proc = start_server(candidate)
    try:
        # No idle connection reused: llama.cpp's server closes each one after a streamed reply while
        # announcing keep-alive, so a reused one fails now and then (voice_gateway.llm.shared_client).
        no_keep_alive = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(base_url=proc.spec.base_url, timeout=120, limits=no_keep_alive) as client:
            complete(client, settings, [system, {"role": "user", "content": "Hello."}], seed)  # the gateway's warm-up
            for question, pattern in FACTS:
                reply, ttft, rate = complete(client, settings, [system, {"role": "user", "content": question}], seed)
                results.ttft_ms.append(ttft)
                results.tokens_per_s.append(rate)
                results.asked += 1
                if re.search(pattern, reply, re.IGNORECASE):
                    results.correct += 1
                else:
                    results.wrong.append(f"{question} -> {reply!r}")
            for conversation in FOLLOW_UPS:
                messages = [system]
                replies: list[str] = []
                for question, pattern in conversation:
                    messages.append({"role": "user", "content": question})
                    reply, ttft, rate = complete(client, settings, messages, seed)
                    messages.append({"role": "assistant", "content": reply})
                    results.ttft_ms.append(ttft)
                    results.tokens_per_s.append(rate)
                    if pattern is not None:
                        results.asked += 1
                        if re.search(pattern, reply, re.IGNORECASE):
                            results.correct += 1
                        else:
                            results.wrong.append(f"{question} -> {reply!r}")
                    else:
                        results.follow_ups += 1
                        results.repeated += repeats(reply, replies)
                        results.follow_up_replies.append(f"{question} -> {reply!r} (before: {replies[-1]!r})")
                    replies.append(reply)
            # Nothing of the prompt cached: a fresh prefix in front of the system prompt each time.
            for question, _ in FACTS[:5]:
                cold_system = {"role": "system", "content": f"Call {uuid.uuid4().hex[:8]}. {settings.system_prompt}"}
                _, ttft, _ = complete(client, settings, [cold_system, {"role": "user", "content": question}], seed)
                results.cold_ttft_ms.append(ttft)
        results.rss_mib = max(results.rss_mib, rss_mib(proc.process.pid))
    finally:
        proc.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--model",
        action="append",
        type=parse_candidate,
        help="NAME=PATH.gguf, repeatable (default: the GGUF `make models` assembles)",
    )
    parser.add_argument(
        "--variant",
        action="append",
        type=parse_variant,
        default=[],
        help="NAME:GATEWAY_KEY=VALUE: the default model with this gateway setting changed; repeat a NAME for more",
    )
    parser.add_argument("--rounds", type=int, default=2, help="each model's quality set this many times, models interleaved")
    parser.add_argument("--verbose", action="store_true", help="print every wrong answer and every follow-up reply")
    args = parser.parse_args(argv)
    candidates = (args.model or [Candidate(LLM_MODEL_ALIAS, DEFAULT_MODEL)]) + variants(args.variant)
    settings = GatewaySettings()
    load_before = os.getloadavg()
    results = {candidate.name: Results() for candidate in candidates}
    for round_index in range(args.rounds):
        for candidate in candidates:
            print(f"round {round_index + 1}/{args.rounds}: {candidate.name}", file=sys.stderr, flush=True)
            run_round(candidate, results[candidate.name], seed=round_index)
    load_after = os.getloadavg()

    print(f"Machine: {machine_description()}")
    print(
        f"Load average (1/5/15 min) before: {'/'.join(f'{v:.2f}' for v in load_before)}, "
        f"after: {'/'.join(f'{v:.2f}' for v in load_after)}; {args.rounds} rounds, models interleaved"
    )
    print(
        f"Requests: system prompt {settings.system_prompt!r}, max_tokens {settings.llm_max_tokens}, "
        f"temperature {settings.llm_temperature}, penalties {settings.llm_penalties()}, "
        f"extra body {settings.llm_extra_body}, streamed; "
        "llama.cpp server as `llm_spec` starts it"
    )
    print()
    print(
        "| model | file MiB | RSS MiB | TTFT p50 ms | TTFT p95 ms | cold TTFT p50 ms | decode tok/s p50 | correct "
        "| repeated follow-ups |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for candidate in candidates:
        r = results[candidate.name]
        size = candidate.path.stat().st_size / 2**20
        print(
            f"| {candidate.name} | {size:.0f} | {r.rss_mib:.0f} | "
            f"{percentile(r.ttft_ms, 50):.0f} | {percentile(r.ttft_ms, 95):.0f} | "
            f"{percentile(r.cold_ttft_ms, 50):.0f} | {percentile(r.tokens_per_s, 50):.1f} | "
            f"{r.correct}/{r.asked} | {r.repeated}/{r.follow_ups} |"
        )
    for candidate in candidates:
        if candidate.changed:
            print(f"\n{candidate.name}: {candidate.changed}")
    if args.verbose:
        for candidate in candidates:
            r = results[candidate.name]
            print(f"\n### {candidate.name}\n")
            for line in r.wrong:
                print(f"- wrong: {line}")
            for line in r.follow_up_replies:
                print(f"- follow-up: {line}")


if __name__ == "__main__":
    main()
