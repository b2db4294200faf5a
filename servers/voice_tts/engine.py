"""The one shared Kokoro model, streaming chunk by chunk without blocking the event loop.

Loading, warm-up and the worker pool are ``voice_common.engine``'s. Each model call runs in a
worker thread while holding one of ``max_concurrent_syntheses`` slots, granted call by call in
the order asked, so several requests stream at once and none blocks another's first byte beyond
the slot it waits for. A cancelled stream (barge-in, a client gone) terminates its ONNX run
mid-chunk, so the slot and the CPU/GPU are free at once instead of after the chunk.

Text is phonemized here, chunk by chunk, rather than inside kokoro-onnx: the engine sees the
phonemes, so it can bound the work of each model call (``max_phonemes_per_call``) and tell a
text with nothing to say (``unspeakable_input``) before any audio is sent.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Mapping

import numpy as np
import onnxruntime as ort
from kokoro_onnx import Kokoro
from kokoro_onnx.chunker import pause_after, split_phonemes
from opentelemetry.context import Context

from voice_common import tracing
from voice_common.audio import PCM_SAMPLE_WIDTH, float32_to_pcm16
from voice_common.engine import PooledEngine
from voice_common.protocol.constants import TTS_SAMPLE_RATE
from voice_common.slots import Slots
from voice_tts import metrics
from voice_tts.chunking import chunk_text
from voice_tts.requests import SpeechLimits, unspeakable_input
from voice_tts.settings import TTSSettings
from voice_tts.tracing import chunk_span

logger = logging.getLogger("voice_tts")

# kokoro-onnx's own pauses where it joins the batches of one call: the engine joins its batches alike.
SENTENCE_PAUSE_S, CLAUSE_PAUSE_S = 0.25, 0.1
SYNTHESIS = "synthesis"  # the one class of slot: syntheses are served in the order they ask


class SynthesisError(RuntimeError):
    """The phonemizer or the model failed on validated text: the server's failure, not the client's."""


class Synthesis:
    """One stream's cancel switch: no further chunk starts, and the ONNX run in flight terminates."""

    def __init__(self) -> None:
        self.cancelled = False
        self.run_options = ort.RunOptions()

    def cancel(self) -> None:
        self.cancelled = True
        self.run_options.terminate = True  # ONNX Runtime polls it between operators of the running call


class _TerminableSession:
    """kokoro-onnx calls ``sess.run(None, inputs)`` with no run options; this wrapper passes the
    calling thread's, so ``Synthesis.cancel`` can stop a run that is already computing, and runs
    it on the session the calling thread chose: the one with all the engine's threads, or, for a
    call that runs beside another, the one with its share of them (``KokoroEngine._load``).

    ``_model_path`` is the file the model came from: kokoro-onnx checks that it exists, and a
    session made from bytes (the float rewrite on cuda) has none of its own."""

    def __init__(self, session: ort.InferenceSession, model_path: str, shared: ort.InferenceSession | None = None) -> None:
        self._session = session
        self._shared = shared or session
        self._model_path = model_path
        self.thread = threading.local()

    def run(self, output_names: list[str] | None, input_feed: dict, run_options: ort.RunOptions | None = None) -> list:
        session = self._shared if getattr(self.thread, "beside_another", False) else self._session
        return session.run(output_names, input_feed, run_options or getattr(self.thread, "run_options", None))

    def __getattr__(self, name: str) -> object:
        return getattr(self._session, name)


def call_threads(settings: TTSSettings) -> tuple[int, int]:
    """ONNX Runtime threads of a model call that runs alone and of one that starts while another
    runs (index False / True); 0 is ONNX Runtime's own default.

    On a CPU, two calls that each take every core run no faster than one after the other: each
    operator waits for its slowest thread, and the threads of two calls take turns on the cores.
    With the cores split between them, two calls take the time of one (measured on 2 cores: two
    streams of three sentences, 7.3 s with 2 threads each, 6.2 s with 1). A call alone keeps
    every core, for the first audio of a lone caller. On a GPU the threads do not matter.
    """
    if settings.device != "cpu" or settings.max_concurrent_syntheses < 2 or not settings.split_threads:
        return settings.intra_op_threads, settings.intra_op_threads
    alone = settings.intra_op_threads or len(os.sched_getaffinity(0))
    return alone, max(1, alone // settings.max_concurrent_syntheses)


def _publish(held: Mapping[str, int], waiting: Mapping[str, int]) -> None:
    metrics.QUEUE_DEPTH.set(waiting[SYNTHESIS])


class KokoroEngine(PooledEngine[str]):
    """The shared Kokoro model (load, warm-up and slots in ``PooledEngine``): streams chunk by chunk."""

    def __init__(self, settings: TTSSettings) -> None:
        workers = settings.max_concurrent_syntheses
        super().__init__(Slots(workers, {SYNTHESIS: workers}, _publish), settings.warmup, logger, span_prefix="tts")
        self.settings = settings
        self.voices: list[str] = []
        self._kokoro: Kokoro | None = None
        self._session: _TerminableSession | None = None
        self._threads = call_threads(settings)

    @property
    def limits(self) -> SpeechLimits:
        """What requests are validated against: the loaded voices and the input limits."""
        return SpeechLimits(self.voices, self.settings.default_voice, self.settings.max_input_chars)

    async def stream(
        self, text: str, voice: str, speed: float, synthesis: Synthesis | None = None, trace: Context | None = None
    ) -> AsyncIterator[bytes]:
        """PCM s16le 24 kHz pieces of ``text`` spoken, chunk after chunk, until done or cancelled.

        Raises ``unspeakable_input`` (a ApiError) before any audio when no chunk has anything to
        say, and SynthesisError when the phonemizer or the model fails. A consumer that stops
        iterating (a client disconnect cancels the task) terminates the run in flight. With
        ``trace`` (a request's span), each chunk's synthesis is a ``tts.chunk`` span beneath it.
        """
        synthesis = synthesis or Synthesis()
        piece_bytes = int(self.settings.stream_piece_seconds * TTS_SAMPLE_RATE) * PCM_SAMPLE_WIDTH
        spoke = False
        metrics.ACTIVE_STREAMS.inc()
        try:
            chunks = chunk_text(text, self.settings.first_chunk_max_chars, self.settings.later_chunk_max_chars)
            for index, chunk in enumerate(chunks):
                span = chunk_span(trace, index, chunk)
                try:
                    # Phonemizing takes milliseconds and espeak-ng runs one text at a time anyway
                    # (kokoro-onnx's lock): it needs no synthesis slot, only to be off the event loop.
                    batches = await asyncio.to_thread(self._phoneme_batches, chunk)
                    for number, (phonemes, pause) in enumerate(batches, 1):
                        in_chunk = tracing.child_context(span)
                        samples = await self._synthesize_in_slot(phonemes, pause, voice, speed, synthesis, in_chunk)
                        if samples is None:
                            return
                        if number == len(batches):
                            tracing.end_span(span, **{"tts.model_calls": number})
                            span = None
                        pcm = float32_to_pcm16(samples)
                        for offset in range(0, len(pcm), piece_bytes):
                            if synthesis.cancelled:
                                return
                            spoke = True
                            yield pcm[offset : offset + piece_bytes]
                finally:
                    tracing.end_span(span, **{"tts.cancelled": synthesis.cancelled or None})
            if not spoke and not synthesis.cancelled:
                raise unspeakable_input()
        except (asyncio.CancelledError, GeneratorExit):
            synthesis.cancel()
            raise
        finally:
            metrics.ACTIVE_STREAMS.dec()

    async def _synthesize_in_slot(
        self, phonemes: str, pause: float, voice: str, speed: float, synthesis: Synthesis, trace: Context | None = None
    ) -> np.ndarray | None:
        """One model call in a worker thread once a slot is free; None when the stream was cancelled.
        With ``trace``, the wait for the slot and the model call are spans beneath it."""
        async with self.slot(SYNTHESIS, trace):
            if synthesis.cancelled:
                return None
            beside_another = self.slots.total - self.slots.free > 1  # another call holds a slot and runs
            threads = self._threads[beside_another]
            attributes = {"tts.phonemes": len(phonemes), "tts.threads": threads}
            return await self.infer(
                trace, self._synthesize, phonemes, pause, voice, speed, synthesis, beside_another, **attributes
            )

    # -- the model's own parts ------------------------------------------------------------------
    def _describe(self) -> str:
        alone, beside_another = self._threads
        threads = f", {alone} threads a call ({beside_another} beside another)" if alone != beside_another else ""
        return f"{self.settings.model_path} ({len(self.voices)} voices) on {self.settings.device}{threads}"

    async def _warm_up(self) -> None:
        """Synthesize a short sentence (one model call at a time: the first call initialises ONNX
        Runtime), on the session of calls alone and, if there is one, on that of calls beside another."""
        text, voice = "Hello there.", self.settings.default_voice
        async for _ in self.stream(text, voice, 1.0):
            pass
        if self._threads[True] != self._threads[False]:
            for phonemes, pause in await self.in_worker(self._phoneme_batches, text):
                await self.in_worker(self._synthesize, phonemes, pause, voice, 1.0, Synthesis(), True)

    # -- worker threads -----------------------------------------------------------------------
    def _load(self) -> None:
        providers: list = ["CPUExecutionProvider"]
        if self.settings.device == "cuda":
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                # ONNX Runtime would quietly run on the CPU: a GPU pod many times slower than planned.
                raise RuntimeError("TTS_DEVICE=cuda but ONNX Runtime has no CUDA provider (onnxruntime-gpu: the tts-cuda image)")
            cuda = {"cudnn_conv_algo_search": self.settings.cuda_conv_algo_search}
            providers = [("CUDAExecutionProvider", cuda), "CPUExecutionProvider"]
        model = self._session_model()
        alone, beside_another = self._threads
        session = ort.InferenceSession(model, sess_options=self._session_options(alone), providers=providers)
        shared = None
        if beside_another != alone:
            shared = ort.InferenceSession(model, sess_options=self._session_options(beside_another), providers=providers)
        self._session = _TerminableSession(session, self.settings.model_path, shared)
        self._kokoro = Kokoro.from_session(self._session, self.settings.voices_path)
        self.voices = sorted(self._kokoro.get_voices())
        if self.settings.default_voice not in self.voices:
            raise ValueError(f"TTS_DEFAULT_VOICE {self.settings.default_voice!r} is not in {self.settings.voices_path}")

    def _session_options(self, threads: int) -> ort.SessionOptions:
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if self.settings.intra_op_spinning else "0")
        return options

    def _session_model(self) -> str | bytes:
        """The model file; on ``cuda``, an int8 file rewritten in float first (``voice_tts.float_model``:
        the CUDA provider has no kernels for its integer nodes). ``onnx`` is in the CUDA image only."""
        if self.settings.device != "cuda":
            return self.settings.model_path
        from voice_tts.float_model import for_cuda

        model = for_cuda(self.settings.model_path)
        if isinstance(model, bytes):
            logger.info("int8 model rewritten in float for the CUDA provider (%d MB)", len(model) // 1_000_000)
        return model

    def _phoneme_batches(self, chunk: str) -> list[tuple[str, float]]:
        """The chunk's phonemes in model calls of at most ``max_phonemes_per_call``, each with the
        pause that follows it inside the chunk; batches with nothing to say are left out."""
        try:
            phonemes = self._kokoro.tokenizer.phonemize(chunk, self.settings.lang)
        except Exception as exc:
            raise SynthesisError(f"phonemizing failed: {exc}") from exc
        # kokoro-onnx's own splitter (sentence, clause, word, then mid-run; balanced sizes), with our cap.
        batches = split_phonemes(" ".join(phonemes.split()), self.settings.max_phonemes_per_call)
        # A batch of punctuation alone (the phonemizer keeps it) has nothing to say: it is not
        # given to the model, and a text of nothing else is unspeakable_input.
        batches = [batch for batch in batches if any(symbol.isalpha() for symbol in batch)]
        pauses = [pause_after(batch, SENTENCE_PAUSE_S, CLAUSE_PAUSE_S) for batch in batches[:-1]]
        # Chunks themselves are joined without a pause. Not strict: with no batches, the 0.0 has no partner.
        return list(zip(batches, [*pauses, 0.0], strict=False))

    def _synthesize(
        self, phonemes: str, pause: float, voice: str, speed: float, synthesis: Synthesis, beside_another: bool = False
    ) -> np.ndarray | None:
        metrics.PHONEMES_PER_CALL.observe(len(phonemes))
        metrics.MODEL_CALLS.labels(threads=str(self._threads[beside_another])).inc()
        started = time.perf_counter()
        self._session.thread.run_options = synthesis.run_options
        self._session.thread.beside_another = beside_another
        try:
            samples, _ = self._kokoro.create(phonemes, voice=voice, speed=speed, is_phonemes=True)
        except Exception as exc:
            if synthesis.cancelled:  # the terminated run raises; that is the cancel working
                return None
            raise SynthesisError(f"the model failed: {exc}") from exc
        finally:
            self._session.thread.run_options = None
            self._session.thread.beside_another = False
        seconds = samples.size / TTS_SAMPLE_RATE
        metrics.AUDIO_SECONDS.inc(seconds)
        metrics.REAL_TIME_FACTOR.observe((time.perf_counter() - started) / max(seconds, 1e-6))
        # kokoro-onnx trims the silence around each call's audio, so the pause its punctuation
        # asks for is added back, as kokoro-onnx does where it joins its own batches.
        return np.concatenate([samples, np.zeros(int(pause * TTS_SAMPLE_RATE), dtype=samples.dtype)])
