"""TTS benchmark: time to first byte and real-time factor, ours against the seed's approach, in one run.

Two servers, same model file, same voice, same ONNX Runtime defaults, both on free loopback ports:

- ours (``python -m voice_tts``, ``POST /v1/audio/speech`` with ``pcm``): the first clause or
  sentence is synthesized alone and streamed, the rest follows in bigger chunks; synthesis runs
  in worker threads, so several requests are served at once.
- the seed's (``--serve-seed``, below): the whole text is phonemized into chunks of 175-250
  tokens (Kokoro-FastAPI's smart split), every chunk is synthesized, and only then is the audio
  sent. Synthesis runs on the event loop, so one request at a time is served; the others wait.

For a one-sentence and a three-sentence reply, one request at a time, and for the three-sentence
reply with 4 requests at once, the client measures TTFB (request sent -> first audio byte) and
RTF (request sent -> last byte, over the audio's duration). Requests alternate between the servers
so background load hits both alike. Prints markdown to stdout; asserts nothing.

    .venv/bin/python bench/bench_tts.py --runs 10
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import onnxruntime as ort
import uvicorn
from fastapi import FastAPI, Request, Response
from kokoro_onnx import Kokoro

from voice_agent.processes import ServiceProcess, ServiceSpec, start_ready
from voice_common.audio import float32_to_pcm16, pcm_seconds
from voice_common.protocol.constants import TTS_SAMPLE_RATE
from voice_testkit.machine import machine_description, percentile
from voice_testkit.services import LOG_DIR, MODELS_DIR, free_port, start_service
from voice_tts.settings import TTSSettings

VOICE = "af_heart"
REPLIES = {
    "one sentence": "The capital of France is Paris, a city of about two million people on the river Seine.",
    "three sentences": (
        "The capital of France is Paris, a city of about two million people on the river Seine. "
        "It is known for the Eiffel Tower, the Louvre and its many cafes. "
        "If you visit in spring, the parks along the river are especially beautiful."
    ),
}
CONCURRENT = 4
SEED_MIN_TOKENS, SEED_MAX_TOKENS = 175, 250  # Kokoro-FastAPI's target chunk size, which the seed used


def serve_seed(port: int) -> None:
    """The seed's Kokoro server as it behaved: whole text before the first byte, one at a time."""
    settings = TTSSettings()
    session = ort.InferenceSession(settings.model_path, providers=["CPUExecutionProvider"])
    kokoro = Kokoro.from_session(session, settings.voices_path)
    app = FastAPI()

    def chunks(text: str) -> list[str]:
        """Sentences grouped until 175-250 phoneme tokens, counted by phonemizing as the seed did."""
        grouped, current, tokens = [], [], 0
        for sentence in re.split(r"(?<=[.!?])\s+", text.strip()):
            count = len(kokoro.tokenizer.tokenize(kokoro.tokenizer.phonemize(sentence, settings.lang)))
            if current and tokens + count > SEED_MAX_TOKENS:
                grouped.append(" ".join(current))
                current, tokens = [], 0
            current.append(sentence)
            tokens += count
            if tokens >= SEED_MIN_TOKENS:
                grouped.append(" ".join(current))
                current, tokens = [], 0
        return grouped + ([" ".join(current)] if current else [])

    @app.get("/ready")
    async def ready() -> dict:
        return {"ready": True}

    @app.post("/v1/audio/speech")
    async def speech(request: Request) -> Response:
        body = await request.json()
        # Blocking calls on the event loop, as in the seed: every other request waits for this one.
        audio = [kokoro.create(chunk, voice=body["voice"], speed=1.0, lang=settings.lang)[0] for chunk in chunks(body["input"])]
        return Response(float32_to_pcm16(np.concatenate(audio)), media_type="audio/pcm")

    kokoro.create("Hello there.", voice=VOICE, speed=1.0, lang=settings.lang)  # warm up, as our server does
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def start_seed() -> ServiceProcess:
    port = free_port()
    argv = [sys.executable, __file__, "--serve-seed", str(port)]
    spec = ServiceSpec(f"tts-seed-{port}", argv, port, env={"VOICE_MODELS_DIR": str(MODELS_DIR)})
    return start_ready(spec, LOG_DIR, 300)


@dataclass
class Samples:
    ttfb_s: list[float] = field(default_factory=list)
    rtf: list[float] = field(default_factory=list)


async def speak(client: httpx.AsyncClient, base: str, text: str) -> tuple[float, float]:
    """(TTFB, RTF) of one request, both from the client's clock."""
    body = {"model": "kokoro", "input": text, "voice": VOICE, "response_format": "pcm"}
    started = time.perf_counter()
    first, size = None, 0
    async with client.stream("POST", base + "/v1/audio/speech", json=body) as response:
        response.raise_for_status()
        async for data in response.aiter_raw():
            first = first or time.perf_counter()
            size += len(data)
    audio_s = pcm_seconds(size, TTS_SAMPLE_RATE)
    return first - started, (time.perf_counter() - started) / audio_s


async def measure(bases: dict[str, str], runs: int) -> dict[tuple[str, int, str], Samples]:
    """Every row's requests in turn per run, servers alternating, so machine load hits every row alike."""
    results: dict[tuple[str, int, str], Samples] = {}
    async with httpx.AsyncClient(timeout=600) as client:
        for base in bases.values():
            for text in REPLIES.values():
                await speak(client, base, text)  # untimed: first-use costs of each length
        for _ in range(runs):
            for reply, text in REPLIES.items():
                for server, base in bases.items():
                    samples = results.setdefault((reply, 1, server), Samples())
                    ttfb, rtf = await speak(client, base, text)
                    samples.ttfb_s.append(ttfb)
                    samples.rtf.append(rtf)
            for server, base in bases.items():
                samples = results.setdefault(("three sentences", CONCURRENT, server), Samples())
                replies = await asyncio.gather(*(speak(client, base, REPLIES["three sentences"]) for _ in range(CONCURRENT)))
                for ttfb, rtf in replies:
                    samples.ttfb_s.append(ttfb)
                    samples.rtf.append(rtf)
    return dict(sorted(results.items(), key=lambda item: (item[0][1], item[0][0])))


def report(results: dict[tuple[str, int, str], Samples], runs: int, load: tuple[float, float]) -> None:
    settings = TTSSettings()
    print(f"## TTS benchmark: ours vs the seed's approach, {runs} runs per row\n")
    print(f"Machine: {machine_description()}; load average {load[0]:.1f} before, {load[1]:.1f} after\n")
    print(
        f"Kokoro-82M int8 ONNX ({Path(settings.model_path).name}) on CPU, voice {VOICE}, speed 1, ONNX Runtime defaults;"
        f" ours with TTS_MAX_CONCURRENT_SYNTHESES={settings.max_concurrent_syntheses},"
        f" TTS_FIRST_CHUNK_MAX_CHARS={settings.first_chunk_max_chars}. TTFB: request sent -> first audio byte;"
        " RTF: request sent -> last byte, over the audio's duration (both measured by the client; with 4 at"
        " once, every request of every run is a sample).\n"
    )
    print("| reply | at once | server | TTFB p50 ms | TTFB p95 ms | RTF p50 | RTF p95 |")
    print("|---|---|---|---|---|---|---|")
    for (reply, concurrent, server), samples in results.items():
        print(
            f"| {reply} | {concurrent} | {server} | {percentile(samples.ttfb_s, 50) * 1000:.0f} "
            f"| {percentile(samples.ttfb_s, 95) * 1000:.0f} "
            f"| {percentile(samples.rtf, 50):.3f} | {percentile(samples.rtf, 95):.3f} |"
        )
    print("\n| reply | at once | seed / ours, TTFB p50 | seed / ours, TTFB p95 |")
    print("|---|---|---|---|")
    for reply, concurrent in dict.fromkeys((r, c) for r, c, _ in results):
        seed, ours = results[(reply, concurrent, "seed")].ttfb_s, results[(reply, concurrent, "ours")].ttfb_s
        print(
            f"| {reply} | {concurrent} | {percentile(seed, 50) / percentile(ours, 50):.1f}x "
            f"| {percentile(seed, 95) / percentile(ours, 95):.1f}x |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10, help="timed rounds; each has every row's requests")
    parser.add_argument("--serve-seed", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_seed:
        serve_seed(args.serve_seed)
        return
    load_before = os.getloadavg()[0]
    servers: dict[str, ServiceProcess] = {}
    try:
        servers["ours"] = start_service("tts", "voice_tts", {}, ready_timeout_s=300)
        servers["seed"] = start_seed()
        results = asyncio.run(measure({name: proc.spec.base_url for name, proc in servers.items()}, args.runs))
    finally:
        for proc in servers.values():
            proc.stop()
    report(results, args.runs, (load_before, os.getloadavg()[0]))


if __name__ == "__main__":
    main()
