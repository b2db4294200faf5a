"""One caller's Pipecat pipeline: transport in -> STT -> user context -> LLM -> TTS -> transport out."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import WebSocket
from pipecat.audio.vad.vad_analyzer import VADParams
from pipecat.frames.frames import OutputTransportMessageUrgentFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_response_universal import LLMUserAggregatorParams
from pipecat.serializers.base_serializer import FrameSerializer
from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams, FastAPIWebsocketTransport
from pipecat.turns.user_start.transcription_user_turn_start_strategy import TranscriptionUserTurnStartStrategy
from pipecat.turns.user_start.vad_user_turn_start_strategy import VADUserTurnStartStrategy
from pipecat.turns.user_turn_strategies import UserTurnStrategies
from pipecat.workers.runner import WorkerRunner

from voice_common.budget import load_budget
from voice_common.protocol.constants import CALLER_SAMPLE_RATE, TTS_SAMPLE_RATE
from voice_common.protocol.errors import error_event
from voice_common.protocol.gateway import Ready
from voice_gateway.endpointing import ConfirmingUserTurnStopStrategy
from voice_gateway.events import CallerEventsObserver
from voice_gateway.latency import TurnLatencyObserver
from voice_gateway.llm import OpenAICompatibleLLMService
from voice_gateway.serializer import RawPCMSerializer, SafeProtobufSerializer
from voice_gateway.settings import GatewaySettings
from voice_gateway.smart_turn import SharedSmartTurnAnalyzer
from voice_gateway.stt import VoiceSTTService
from voice_gateway.timeouts import FirstSpeechWatch
from voice_gateway.tracing import turn_trace_ids
from voice_gateway.tts import VoiceTTSService
from voice_gateway.user_context import context_aggregators
from voice_gateway.vad import SharedSileroVADAnalyzer

WIRE_FORMATS = ("raw", "protobuf")


def make_serializer(wire_format: str, settings: GatewaySettings) -> FrameSerializer:
    if wire_format == "protobuf":
        return SafeProtobufSerializer()
    return RawPCMSerializer(max_frame_bytes=settings.max_frame_bytes)


def turn_stop_strategy(settings: GatewaySettings, vad: SharedSileroVADAnalyzer) -> ConfirmingUserTurnStopStrategy:
    """Our STT finalizes on VAD stop, so the transcript is decoded while the turn is confirmed."""
    return ConfirmingUserTurnStopStrategy(
        confirm_secs=settings.turn_confirm_secs,
        speculate=settings.preemptive_generation,
        vad=vad,
        turn_analyzer=SharedSmartTurnAnalyzer() if settings.smart_turn else None,
        incomplete_confirm_secs=settings.smart_turn_incomplete_confirm_secs,
    )


def llm_service(settings: GatewaySettings) -> OpenAICompatibleLLMService:
    """The call's LLM client, sampling as configured (Pipecat's own defaults send no penalty)."""
    return OpenAICompatibleLLMService(
        max_history_messages=settings.llm_max_history_messages,
        reuse_connections=settings.llm_reuse_connections,
        api_key=settings.llm_api_key.get_secret_value(),
        base_url=settings.llm_base_url,
        settings=OpenAICompatibleLLMService.Settings(
            model=settings.llm_model,
            system_instruction=settings.system_prompt,
            max_tokens=settings.llm_max_tokens,
            temperature=settings.llm_temperature,
            **settings.llm_penalties(),
            # Pipecat merges ``extra`` into the request; the OpenAI client sends extra_body's fields in the JSON body.
            extra={"extra_body": settings.llm_extra_body} if settings.llm_extra_body else {},
        ),
    )


@dataclass
class Call:
    """One caller's pipeline and the watch that ends it if the caller never speaks."""

    worker: PipelineWorker
    end_if_silent: Callable[[], Awaitable[None]]

    async def run(self) -> None:
        """Run the call to its end. Nothing of it may outlive the call: a task still holding the
        worker would keep the whole pipeline (VAD model, sockets, buffers) in memory for good."""
        runner = WorkerRunner(handle_sigint=False)
        await runner.add_workers(self.worker)
        watch = asyncio.create_task(self.end_if_silent())
        try:
            await runner.run()
        finally:
            watch.cancel()


def build_call(
    websocket: WebSocket, settings: GatewaySettings, wire_format: str, on_caller_gone: Callable[[], None]
) -> Call:
    """Assemble the per-connection pipeline, its caller events and its time limits.

    ``on_caller_gone`` runs as soon as the caller's connection is gone, before the teardown.
    """
    transport = FastAPIWebsocketTransport(
        websocket=websocket,
        params=FastAPIWebsocketParams(
            audio_in_enabled=True,
            audio_out_enabled=True,
            audio_in_sample_rate=CALLER_SAMPLE_RATE,
            audio_out_sample_rate=TTS_SAMPLE_RATE,
            serializer=make_serializer(wire_format, settings),
            session_timeout=int(settings.session_timeout_secs),
            allowed_origins=[],
        ),
    )
    stt = VoiceSTTService(
        url=settings.stt_url,
        language="en",
        pre_roll_secs=settings.vad_start_secs + 0.5,
        connect_timeout=settings.upstream_timeout_secs,
    )
    llm = llm_service(settings)
    tts = VoiceTTSService(
        url=settings.tts_url,
        voice=settings.tts_voice,
        speed=settings.tts_speed,
        timeout_secs=settings.upstream_timeout_secs,
        first_phrase_max_words=settings.tts_first_phrase_max_words,
        expected_rtf=settings.tts_expected_rtf,
    )
    vad = SharedSileroVADAnalyzer(
        params=VADParams(
            confidence=settings.vad_confidence,
            start_secs=settings.vad_start_secs,
            stop_secs=settings.vad_stop_secs,
            min_volume=settings.vad_min_volume,
        )
    )
    user_context, assistant_context = context_aggregators(
        LLMUserAggregatorParams(
            vad_analyzer=vad,
            user_turn_strategies=UserTurnStrategies(
                start=[VADUserTurnStartStrategy(), TranscriptionUserTurnStartStrategy()],
                stop=[turn_stop_strategy(settings, vad)],
            ),
        )
    )
    pipeline = Pipeline([transport.input(), stt, user_context, llm, tts, transport.output(), assistant_context])

    async def send_event(message: dict) -> None:
        await transport.output().queue_frame(OutputTransportMessageUrgentFrame(message=message))

    # The worker is built below, with the observers: the turn's trace is read from it at the first turn.
    latency = TurnLatencyObserver(send_event, load_budget(), trace_ids=lambda: turn_trace_ids(worker.turn_trace_observer))
    first_speech = FirstSpeechWatch()
    worker = PipelineWorker(
        pipeline,
        params=PipelineParams(
            audio_in_sample_rate=CALLER_SAMPLE_RATE,
            audio_out_sample_rate=TTS_SAMPLE_RATE,
            enable_metrics=True,
            enable_usage_metrics=True,
        ),
        observers=[CallerEventsObserver(send_event), latency, first_speech],
        enable_tracing=settings.tracing_enabled,
        conversation_id=str(uuid.uuid4()),
        idle_timeout_secs=settings.idle_timeout_secs,
        cancel_on_idle_timeout=False,  # end_call tells the caller why first
    )

    async def end_call(code: str, message: str) -> None:
        """Tell the caller which limit ended the call (sent ahead of the close), then end it."""
        await send_event(error_event(code, message))
        await worker.cancel(reason=code)

    async def end_if_silent() -> None:
        if not await first_speech.heard_within(settings.first_speech_timeout_secs):
            await end_call("first_speech_timeout", f"no speech within {settings.first_speech_timeout_secs:g} s of connecting")

    @transport.event_handler("on_client_connected")
    async def on_connected(_transport, _websocket) -> None:
        await send_event(Ready(session_id=worker.name).wire())

    @transport.event_handler("on_client_disconnected")
    async def on_disconnected(_transport, _websocket) -> None:
        on_caller_gone()
        await worker.cancel(reason="caller disconnected")

    @transport.event_handler("on_session_timeout")
    async def on_session_timeout(_transport, _websocket) -> None:
        await end_call("session_timeout", f"calls are limited to {settings.session_timeout_secs:g} s")

    @worker.event_handler("on_idle_timeout")
    async def on_idle(_worker) -> None:
        await end_call("idle_timeout", f"nobody spoke for {settings.idle_timeout_secs:g} s")

    return Call(worker, end_if_silent)
