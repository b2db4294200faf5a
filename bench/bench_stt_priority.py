"""STT priority benchmark: a live turn's flush latency, alone and with two long uploads in flight.

The probe that motivated it: two 124 s WAV uploads to ``POST /v1/audio/transcriptions`` took a
live ``WS /v1/listen`` flush from 219 ms to 8.2 s, because both decode slots were held by uploads
for their whole decode. Servers compared, same model and decode settings, on free loopback ports:

- ours (defaults): uploads may hold 1 of the 2 decode slots (``STT_MAX_CONCURRENT_UPLOADS=1``),
  live decodes go first, and a long upload gives its slot back after every 30 s window;
- seed-like configuration: the same code with uploads allowed every slot
  (``STT_MAX_CONCURRENT_UPLOADS=2``), so only the priority between windows protects live turns;
- with ``--before-rev REV``, also the server code of that git revision (the seed's scheduling:
  one shared semaphore, a whole upload per slot), run from a ``git archive`` copy.

For each server: ``--runs`` live flushes alone (a 2 s question sent at once, then ``flush``;
the clock runs from ``flush`` to ``final``), then the same with two uploads kept in flight
(each upload loop posts the long file again as soon as it is answered). Servers are measured one
after the other so only one is busy at a time. Prints markdown to stdout; asserts nothing.

    .venv/bin/python bench/bench_stt_priority.py --runs 10 --before-rev e91e071
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import websockets

from voice_agent.processes import ServiceProcess
from voice_common.audio import wav_bytes
from voice_common.protocol.constants import CALLER_SAMPLE_RATE
from voice_testkit.machine import machine_description, percentile
from voice_testkit.services import start_service
from voice_testkit.speech import CAPITAL, CAPITAL_WORDS, long_speech, spoken, words

REPO_ROOT = Path(__file__).resolve().parents[1]
UPLOAD_SECONDS = 124  # the probe's files
UPLOADS_IN_FLIGHT = 2
SERVERS = {
    "ours (uploads ≤ 1 of 2 slots)": {},
    "seed-like config (uploads may take both slots)": {"STT_MAX_CONCURRENT_UPLOADS": "2"},
}


@dataclass
class Row:
    flush_s: list[float] = field(default_factory=list)
    correct: int = 0
    upload_s: list[float] = field(default_factory=list)


async def live_flush(ws_base: str, question: bytes) -> tuple[float, str]:
    async with websockets.connect(ws_base + "/v1/listen", proxy=None, compression=None, max_size=None) as ws:
        await ws.send(json.dumps({"type": "start"}))
        await ws.recv()
        await ws.send(question)
        started = time.perf_counter()
        await ws.send(json.dumps({"type": "flush"}))
        final = json.loads(await ws.recv())
        return time.perf_counter() - started, final["text"]


async def keep_uploading(client: httpx.AsyncClient, upload: bytes, stop: asyncio.Event, row: Row) -> None:
    """Post the long file again and again until ``stop`` is set (the one in flight is awaited, not cut)."""
    while not stop.is_set():
        started = time.perf_counter()
        response = await client.post("/v1/audio/transcriptions", files={"file": ("long.wav", upload)})
        response.raise_for_status()
        row.upload_s.append(time.perf_counter() - started)


async def measure(http_base: str, runs: int, question: bytes, upload: bytes) -> tuple[Row, Row]:
    ws_base = http_base.replace("http://", "ws://", 1)
    alone, loaded = Row(), Row()
    await live_flush(ws_base, question)  # untimed: first-use costs
    for _ in range(runs):
        latency, text = await live_flush(ws_base, question)
        alone.flush_s.append(latency)
        alone.correct += CAPITAL_WORDS <= words(text)
    stop = asyncio.Event()
    async with httpx.AsyncClient(base_url=http_base, timeout=900) as client:
        uploaders = [asyncio.create_task(keep_uploading(client, upload, stop, loaded)) for _ in range(UPLOADS_IN_FLIGHT)]
        await asyncio.sleep(3)  # both files sent, read and handed to the decoder (a few MB on loopback)
        for _ in range(runs):
            latency, text = await live_flush(ws_base, question)
            loaded.flush_s.append(latency)
            loaded.correct += CAPITAL_WORDS <= words(text)
            await asyncio.sleep(0.5)  # a caller's next turn comes a moment later
        stop.set()
        await asyncio.gather(*uploaders)
    return alone, loaded


def source_of(rev: str, into: Path) -> Path:
    """The ``servers`` and ``src`` trees of git revision ``rev``, unpacked under ``into``."""
    archive = subprocess.run(["git", "archive", rev, "servers", "src"], cwd=REPO_ROOT, check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def ms(values: list[float], q: float) -> str:
    return f"{percentile(values, q) * 1000:.0f}" if values else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10, help="timed live flushes per server and condition")
    parser.add_argument("--before-rev", help="also measure the server code of this git revision (e.g. the seed's)")
    args = parser.parse_args()
    question = spoken(CAPITAL)  # synthesize before any server runs
    upload = wav_bytes(long_speech(UPLOAD_SECONDS), CALLER_SAMPLE_RATE)
    servers = dict(SERVERS)
    with tempfile.TemporaryDirectory(prefix="stt-before-") as before:
        if args.before_rev:
            tree = source_of(args.before_rev, Path(before))
            servers[f"code at {args.before_rev} (before the fix)"] = {"PYTHONPATH": f"{tree / 'servers'}:{tree / 'src'}"}
        load_before = os.getloadavg()
        results: dict[str, tuple[Row, Row]] = {}
        for name, env in servers.items():  # one server at a time: the others would share the 2 cores
            proc: ServiceProcess = start_service("stt", "voice_stt", env, ready_timeout_s=300)
            try:
                results[name] = asyncio.run(measure(proc.spec.base_url, args.runs, question, upload))
            finally:
                proc.stop()
        load_after = os.getloadavg()

    print(f"## STT priority benchmark: live flush latency with {UPLOADS_IN_FLIGHT} x {UPLOAD_SECONDS} s uploads in flight\n")
    print(f"Machine: {machine_description()}; load average {load_before[0]:.1f} before, {load_after[0]:.1f} after\n")
    print(f"whisper-base int8 on CPU, 2 decode slots; {args.runs} live flushes of a 2 s question per row.\n")
    print("| server | condition | flush p50 ms | flush p95 ms | flush max ms | words ok | uploads done | upload p50 s |")
    print("|---|---|---|---|---|---|---|---|")
    for name, rows in results.items():
        for condition, row in zip(("alone", f"{UPLOADS_IN_FLIGHT} uploads in flight"), rows, strict=True):
            uploads = f"{len(row.upload_s)} | {percentile(row.upload_s, 50):.1f}" if row.upload_s else "- | -"
            print(
                f"| {name} | {condition} | {ms(row.flush_s, 50)} | {ms(row.flush_s, 95)} "
                f"| {max(row.flush_s) * 1000:.0f} | {row.correct}/{len(row.flush_s)} | {uploads} |"
            )


if __name__ == "__main__":
    main()
