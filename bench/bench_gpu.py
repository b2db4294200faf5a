"""GPU benchmark: each stage of a turn on one CUDA GPU, held against the latency budget.

What a GPU node runs, in one process and without the servers' HTTP layer, so that it can run
on a bare GPU machine with nothing but the model files:

- STT: our ``WhisperEngine`` (``servers/voice_stt``) on faster-whisper with ``device=cuda`` and
  ``compute_type=float16``, as the chart's GPU values set it. Its input is real speech: questions
  spoken by Kokoro in several voices (not the bot's), resampled to 16 kHz as a caller's audio is.
  The clock runs from handing over the whole utterance to the final transcript: what the
  streaming server does at the flush, when the caller stops. Each transcript's words are checked.
- TTS: our ``KokoroEngine`` (``servers/voice_tts``) with ``device=cuda``: ONNX Runtime's CUDA
  provider on the int8 model file rewritten in float as the engine loads it (``float_model``).
  Time to the first audio byte of a reply's first
  phrase (what the gateway sends first), one stream and several at once; the real-time factor
  of a whole reply. Each audio is checked to be speech (not silence) at 24 kHz.
- LLM: vLLM is what the chart deploys on GPU; it does not fit on a machine without a network, so
  the LLM here runs on PyTorch (transformers, eager, bf16): an upper bound on what vLLM's
  CUDA graphs give. ``--llm-gguf`` loads the CPU stack's own model (Qwen2.5-0.5B-Instruct from
  its GGUF file, dequantized) and times the first token and the first phrase of answers to
  spoken-style questions, with the gateway's system prompt; the answers are printed.
  ``--llm-shapes`` adds models of a GPU deployment's size built from their published shapes
  with random weights: their time per token depends on the shapes, not on the values, so they
  give timings only (their text is meaningless and is not printed).

Prints markdown to stdout (``--json`` also writes the numbers); asserts nothing.

    python bench/bench_gpu.py --runs 10 --llm-runs 3 --llm-gguf models/llm/Qwen2.5-Coder-0.5B-Instruct-AWQ.Q4_K_M.gguf
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "servers"), str(ROOT / "gateway")]

from voice_common.audio import float32_to_pcm16, pcm16_to_float32, pcm_seconds, resample, rms_dbfs  # noqa: E402
from voice_common.budget import load_budget  # noqa: E402
from voice_common.protocol.constants import STT_SAMPLE_RATE, TTS_SAMPLE_RATE  # noqa: E402
from voice_testkit.machine import machine_description, percentile  # noqa: E402
from voice_testkit.speech import silence, words  # noqa: E402

# Questions a caller asks, and the words each transcript must contain.
QUESTIONS = {
    "What is the capital of France?": {"capital", "france"},
    "How far away is the moon?": {"far", "moon"},
    "Tell me one more fact about it.": {"one", "more", "fact"},
    "Which planet is closest to the sun?": {"planet", "closest"},
    "Can you recommend a good book to read on the train?": {"recommend", "book", "train"},
}
CALLER_VOICES = ("am_michael", "bf_emma", "bm_george", "af_bella")  # the bot speaks af_heart
# What the gateway sends the TTS first: a reply's first phrase (a clause, or its first words).
FIRST_PHRASES = ("Sure.", "The capital of France is Paris.", "The Moon is about", "Here is one more fact,")
# First phrases the engine has never synthesized: every turn brings text of a new length.
NEW_FIRST_PHRASES = (
    "Of course.",
    "Good question!",
    "Paris is the capital",
    "Mercury is the closest planet,",
    "I think so.",
    "Light from the Sun",
    "Absolutely, here goes:",
    "The train leaves at",
    "That depends on",
    "Yes.",
    "One more fact:",
    "Cats sleep for about",
    "A good book for",
    "It is roughly",
    "Let me think,",
    "The tallest mountain is",
    "Water boils at",
    "Tokyo is the capital",
    "Not quite,",
    "Sharks have been around",
    "Honey never spoils,",
    "The speed of light",
    "Bananas are berries,",
    "Octopuses have three hearts.",
)
REPLY = (
    "The Moon is about three hundred and eighty four thousand kilometres away. "
    "Light from it reaches us in a little over a second. It drifts away by about four centimetres a year."
)
# Published shapes of models a GPU deployment would serve (their config.json), for timing only.
LLM_SHAPES = {
    "Qwen2.5-7B-Instruct": {
        "hidden_size": 3584,
        "intermediate_size": 18944,
        "num_hidden_layers": 28,
        "num_attention_heads": 28,
        "num_key_value_heads": 4,
        "vocab_size": 152064,
        "max_position_embeddings": 32768,
        "rope_theta": 1000000.0,
        "tie_word_embeddings": False,
    },
    "Qwen2.5-1.5B-Instruct": {
        "hidden_size": 1536,
        "intermediate_size": 8960,
        "num_hidden_layers": 28,
        "num_attention_heads": 12,
        "num_key_value_heads": 2,
        "vocab_size": 151936,
        "max_position_embeddings": 32768,
        "rope_theta": 1000000.0,
        "tie_word_embeddings": True,
    },
}
CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
FIRST_PHRASE_WORDS = 4  # the gateway's GATEWAY_TTS_FIRST_PHRASE_MAX_WORDS default
CLAUSE_BREAKS = ",;:.!?"


def ms(seconds: float) -> float:
    return round(seconds * 1000.0, 1)


def summary(values_s: list[float]) -> dict[str, float]:
    return {"p50_ms": ms(percentile(values_s, 50)), "p95_ms": ms(percentile(values_s, 95)), "n": len(values_s)}


async def section(name: str, results: dict, run: Callable[[], Awaitable[object]]) -> None:
    """Run one part; a failure is printed and recorded, and the other parts still run."""
    print(f"\n## {name}\n", flush=True)
    try:
        results[name] = await run()
    except Exception as exc:  # noqa: BLE001 - a benchmark reports what broke and goes on with the other stages
        traceback.print_exc()
        results[name] = {"error": f"{type(exc).__name__}: {exc}"}
        print(f"\n{name} failed: {type(exc).__name__}: {exc}", flush=True)


# -- TTS ------------------------------------------------------------------------------------------
async def first_byte(engine, text: str, voice: str) -> tuple[float, float, bytes]:
    """(seconds to the first audio byte, seconds to the last, the audio) of one stream."""
    started = time.perf_counter()
    first = None
    pieces = []
    async for piece in engine.stream(text, voice, 1.0):
        first = first or time.perf_counter() - started
        pieces.append(piece)
    return first, time.perf_counter() - started, b"".join(pieces)


def check_speech(pcm: bytes, what: str) -> None:
    level = rms_dbfs(pcm16_to_float32(pcm))
    if len(pcm) < TTS_SAMPLE_RATE // 5 or level < -40:
        raise AssertionError(f"{what}: {pcm_seconds(len(pcm), TTS_SAMPLE_RATE):.2f} s of audio at {level:.0f} dBFS is not speech")


async def new_text_first_bytes(engine) -> list[float]:
    """Seconds to the first byte of each first phrase the engine has not seen before."""
    firsts = []
    for text in NEW_FIRST_PHRASES:
        first, _total, pcm = await first_byte(engine, text, "af_heart")
        check_speech(pcm, text)
        firsts.append(first)
    return firsts


async def bench_tts(engines: dict, runs: int) -> dict:
    """``engines``: the served one first, then others to compare on new text (by their setting)."""
    results: dict = {}
    for index, (name, engine) in enumerate(engines.items()):
        key = "first_phrase_new_text" if index == 0 else f"first_phrase_new_text ({name})"
        results[key] = summary(await new_text_first_bytes(engine))
    served, engine = next(iter(engines.items()))
    repeated = []
    for run in range(runs):
        for text in FIRST_PHRASES:
            first, _total, pcm = await first_byte(engine, text, "af_heart")
            check_speech(pcm, text)
            if run:  # the first round is each phrase's first time
                repeated.append(first)
    results["first_phrase_repeated_text"] = summary(repeated)
    rtfs = []
    for _ in range(max(3, runs // 2)):
        _first, total, pcm = await first_byte(engine, REPLY, "af_heart")
        check_speech(pcm, "reply")
        rtfs.append(total / pcm_seconds(len(pcm), TTS_SAMPLE_RATE))
    results["reply_real_time_factor_p50"] = round(percentile(rtfs, 50), 4)
    for streams in (4, 8):
        firsts = []
        for run in range(runs):
            texts = [FIRST_PHRASES[(run + i) % len(FIRST_PHRASES)] for i in range(streams)]
            done = await asyncio.gather(*(first_byte(engine, text, "af_heart") for text in texts))
            firsts += [first for first, _total, _pcm in done]
        results[f"first_phrase_{streams}_streams_at_once"] = summary(firsts)
    print("| first audio byte of a first phrase | p50 | p95 | n |\n|---|---|---|---|")
    for key, value in results.items():
        if isinstance(value, dict):
            print(f"| {key} | {value['p50_ms']} ms | {value['p95_ms']} ms | {value['n']} |")
    print(f"\nWhole reply ({len(REPLY)} chars): real-time factor p50 {results['reply_real_time_factor_p50']}.")
    print(f"Rows without a setting in brackets: the served settings ({served}).")
    return results


# -- STT ------------------------------------------------------------------------------------------
async def caller_speech(tts_engine) -> list[tuple[str, str, bytes]]:
    """(question, voice, 16 kHz PCM with 0.3 s of silence after it): each question in two caller voices."""
    spoken = []
    for index, question in enumerate(QUESTIONS):
        for voice in (CALLER_VOICES[index % len(CALLER_VOICES)], CALLER_VOICES[(index + 1) % len(CALLER_VOICES)]):
            _first, _total, pcm = await first_byte(tts_engine, question, voice)
            audio = resample(pcm16_to_float32(pcm), TTS_SAMPLE_RATE, STT_SAMPLE_RATE)
            spoken.append((question, voice, float32_to_pcm16(audio) + silence(0.3, STT_SAMPLE_RATE)))
    return spoken


async def bench_stt(engine, spoken: list[tuple[str, str, bytes]], runs: int) -> dict:
    latencies, wrong = [], []
    for run in range(runs):
        for question, voice, pcm in spoken:
            started = time.perf_counter()
            transcript = await engine.transcribe(pcm, STT_SAMPLE_RATE, "en")
            elapsed = time.perf_counter() - started
            if run == 0:
                missing = QUESTIONS[question] - words(transcript.text)
                print(f"- {voice}: {question!r} -> {transcript.text!r}" + (f" (missing {sorted(missing)})" if missing else ""))
                if missing:
                    wrong.append(question)
            else:
                latencies.append(elapsed)
    seconds = [pcm_seconds(len(pcm), STT_SAMPLE_RATE) for _q, _v, pcm in spoken]
    result = {"final_transcript": summary(latencies), "utterances": len(spoken), "transcripts_missing_words": len(wrong)}
    result["utterance_seconds"] = [round(min(seconds), 2), round(max(seconds), 2)]
    print("\n| utterances | end of audio -> final transcript p50 | p95 | transcripts missing a word |\n|---|---|---|---|")
    print(
        f"| {len(spoken)} ({result['utterance_seconds'][0]}-{result['utterance_seconds'][1]} s), {runs - 1} rounds | "
        f"{result['final_transcript']['p50_ms']} ms | {result['final_transcript']['p95_ms']} ms | {len(wrong)} |"
    )
    return result


# -- LLM ------------------------------------------------------------------------------------------
def first_phrase_done(text: str) -> bool:
    """The gateway's first phrase: a clause break, or FIRST_PHRASE_WORDS words followed by a space."""
    words = text.split()
    if any(c in CLAUSE_BREAKS for c in text) or len(words) > FIRST_PHRASE_WORDS:
        return True
    return len(words) == FIRST_PHRASE_WORDS and text[-1:].isspace()


def time_reply(torch, model, prompt_ids, max_tokens: int, eos: int | None, decode=None) -> tuple[float, float | None, float, str]:
    """Greedy decoding with the KV cache: (time to the first token, to the first phrase (None without
    ``decode``), per later token, the text)."""
    torch.cuda.synchronize()
    started = time.perf_counter()
    first_phrase = None
    with torch.inference_mode():
        out = model(input_ids=prompt_ids, use_cache=True)
        token = out.logits[:, -1].argmax(-1, keepdim=True)
        tokens = [int(token)]
        first_token = time.perf_counter() - started
        for _ in range(max_tokens - 1):
            if decode is not None and first_phrase is None and first_phrase_done(decode(tokens)):
                first_phrase = time.perf_counter() - started
            if tokens[-1] == eos:
                break
            out = model(input_ids=token, past_key_values=out.past_key_values, use_cache=True)
            token = out.logits[:, -1].argmax(-1, keepdim=True)
            tokens.append(int(token))
    total = time.perf_counter() - started
    per_token = (total - first_token) / max(1, len(tokens) - 1)
    if decode is not None and first_phrase is None:
        first_phrase = total  # the whole reply was shorter than a first phrase
    return first_token, first_phrase, per_token, decode(tokens) if decode else ""


def chat_prompts(tokenizer, device) -> list:
    """The gateway's system prompt and each question, through the model's chat template."""
    from voice_gateway.settings import GatewaySettings

    system = GatewaySettings().system_prompt
    ids = []
    for question in QUESTIONS:
        messages = [{"role": "system", "content": system}, {"role": "user", "content": question}]
        text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        ids.append(tokenizer(text, return_tensors="pt").input_ids.to(device))
    return ids


def time_model(torch, model, prompt_ids, runs: int, max_tokens: int, eos: int | None, decode=None) -> dict:
    for ids in prompt_ids[:2]:  # warm-up: the first calls load and tune kernels
        time_reply(torch, model, ids, 8, eos)
    firsts, phrases, per_tokens = [], [], []
    for run in range(runs):
        for ids in prompt_ids:
            first, phrase, per_token, text = time_reply(torch, model, ids, max_tokens, eos, decode)
            firsts.append(first)
            per_tokens.append(per_token)
            if phrase is not None:
                phrases.append(phrase)
            if decode is not None and run == 0:
                print(f"- ({ids.shape[1]} prompt tokens) {text!r}")
    return {
        "ttft": summary(firsts),
        "first_phrase": summary(phrases) if phrases else None,
        "per_token_ms_p50": ms(percentile(per_tokens, 50)),
        "prompt_tokens": [int(ids.shape[1]) for ids in prompt_ids],
    }


def bench_llm(gguf: Path, shapes: list[str], runs: int) -> dict:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    device = torch.device("cuda")
    results: dict = {}
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    if tokenizer.chat_template is None:  # a GGUF without one: Qwen's own (ChatML), as llama.cpp falls back to
        tokenizer.chat_template = CHATML
    prompt_ids = chat_prompts(tokenizer, device)
    try:
        started = time.perf_counter()
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.bfloat16)
        model = model.to(device).eval()
        print(f"loaded {gguf.name} (dequantized to bf16) in {time.perf_counter() - started:.1f} s; its answers:\n")
        decode = lambda tokens: tokenizer.decode(tokens, skip_special_tokens=True)  # noqa: E731
        results[gguf.stem] = time_model(torch, model, prompt_ids, runs, 60, tokenizer.eos_token_id, decode)
        del model
    except Exception as exc:  # noqa: BLE001 - the shapes below still time the GPU without this model
        traceback.print_exc()
        results[gguf.stem] = {"error": f"{type(exc).__name__}: {exc}"}
    for name in shapes:
        torch.manual_seed(0)
        torch.set_default_dtype(torch.bfloat16)
        with torch.device(device):
            model = Qwen2ForCausalLM(Qwen2Config(**LLM_SHAPES[name])).eval()
        torch.set_default_dtype(torch.float32)
        # Random weights say nothing: no EOS, no text. Time a reply of 40 tokens, the real model's usual length.
        results[f"{name} (shapes only, random weights)"] = time_model(torch, model, prompt_ids, runs, 40, None)
        del model
        torch.cuda.empty_cache()
    print("\n| model | prompt tokens | TTFT p50 | p95 | first phrase p50 | p95 | per later token |")
    print("|---|---|---|---|---|---|---|")
    for name, value in results.items():
        if "error" in value:
            print(f"| {name} | {value['error']} | | | | | |")
            continue
        span = f"{min(value['prompt_tokens'])}-{max(value['prompt_tokens'])}"
        phrase = value["first_phrase"] or {"p50_ms": "-", "p95_ms": "-"}
        print(
            f"| {name} | {span} | {value['ttft']['p50_ms']} ms | {value['ttft']['p95_ms']} ms | "
            f"{phrase['p50_ms']} ms | {phrase['p95_ms']} ms | {value['per_token_ms_p50']} ms |"
        )
    return results


def lookup(tree: object, *keys: str) -> float | None:
    """A number deep in the results, or None where a part failed or did not run."""
    for key in keys:
        if not isinstance(tree, dict) or key not in tree:
            return None
        tree = tree[key]
    return tree


# -- the turn -------------------------------------------------------------------------------------
def budget_table(results: dict) -> None:
    """Each measured stage against its budget, and the stages in series after the caller stops."""
    budget = load_budget()
    llm = next(iter(results.get("LLM", {}).values()), None)  # the real model's row
    measured = {
        "stt": lookup(results, "STT", "final_transcript", "p50_ms"),
        "llm_ttft": lookup(llm, "ttft", "p50_ms"),
        "tts_ttfb": lookup(results, "TTS", "first_phrase_new_text", "p50_ms"),
    }
    stages = {stage: value for stage, value in measured.items() if value is not None}
    first_phrase = lookup(llm, "first_phrase", "p50_ms")
    print("| stage | p50 | target | max | verdict |\n|---|---|---|---|---|")
    for stage, value in stages.items():
        band = budget[stage]
        target = f"{band.target_min_ms:.0f}-{band.target_max_ms:.0f} ms"
        print(f"| {band.label} | {value} ms | {target} | {band.max_ms:.0f} ms | {band.verdict(value)} |")
    if {"stt", "tts_ttfb"} <= stages.keys() and first_phrase is not None:
        series = stages["stt"] + first_phrase + stages["tts_ttfb"]
        results["stages_in_series_ms"] = round(series, 1)
        print(
            f"\nSTT + LLM first phrase + TTS first byte, one after the other: {series:.0f} ms (p50s summed). "
            "The gateway adds the VAD's stop wait before the STT's flush and the network after the TTS."
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"], help="cpu: check the script without a GPU")
    parser.add_argument("--models-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--llm-runs", type=int, default=3, help="rounds of the questions per LLM")
    parser.add_argument("--llm-gguf", type=Path, default=None, help="without it, no LLM is timed")
    parser.add_argument("--llm-shapes", nargs="*", default=[], choices=sorted(LLM_SHAPES))
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args()

    from voice_stt.engine import WhisperEngine
    from voice_stt.settings import STTSettings
    from voice_tts.engine import KokoroEngine
    from voice_tts.settings import TTSSettings

    gpu = args.device == "cuda"
    results: dict = {"machine": machine_description(), "device": args.device, "runs": args.runs}
    if gpu:
        import torch

        results["gpu"] = torch.cuda.get_device_name(0)
    print(f"# GPU path, stage by stage\n\n{results['machine']}; {results.get('gpu', 'no GPU')}")

    def tts_settings(**overrides: object) -> TTSSettings:
        kokoro = args.models_dir / "kokoro"
        paths = {"model_path": str(kokoro / "kokoro-v1.0.int8.onnx"), "voices_path": str(kokoro / "voices-v1.0.bin")}
        return TTSSettings(device=args.device, **paths, **overrides)

    # The served settings first; on a GPU, ONNX Runtime's own convolution search beside them.
    served = tts_settings()
    tts = {f"conv search {served.cuda_conv_algo_search}" if gpu else "cpu": KokoroEngine(served)}
    if gpu:
        tts["conv search EXHAUSTIVE"] = KokoroEngine(tts_settings(cuda_conv_algo_search="EXHAUSTIVE"))
    stt_settings = STTSettings(
        device=args.device, compute_type="float16" if gpu else "int8", model_path=str(args.models_dir / "whisper-base")
    )
    asyncio.run(run_all(args, results, tts, WhisperEngine(stt_settings)))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


async def run_all(args: argparse.Namespace, results: dict, tts: dict, stt) -> None:
    async def tts_part() -> dict:
        for engine in tts.values():
            await engine.start()
        return await bench_tts(tts, args.runs)

    async def stt_part() -> dict:
        spoken = await caller_speech(next(iter(tts.values())))
        await stt.start()
        return await bench_stt(stt, spoken, args.runs)

    async def llm_part() -> dict:
        return bench_llm(args.llm_gguf, args.llm_shapes, args.llm_runs)

    async def budget_part() -> None:
        budget_table(results)

    await section("TTS", results, tts_part)
    await section("STT", results, stt_part)
    if args.device == "cuda" and args.llm_gguf is not None:  # the GGUF's tokenizer makes every model's prompts
        await section("LLM", results, llm_part)
    await section("Against the budget", results, budget_part)


if __name__ == "__main__":
    main()
