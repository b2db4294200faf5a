"""One caller's Pipecat pipeline: transport in -> STT -> user context -> LLM -> TTS -> transport out."""

from __future__ import annotations

import uuid

from fastapi import WebSocket
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADParams
from pipecat.frames.frames import OutputTransportMessageUrgentFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
    LLMUserAggregatorParams,
)
from pipecat.serializers.base_serializer import FrameSerializer
from pipecat.services.openai.llm import OpenAILLMService
from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams, FastAPIWebsocketTransport
from pipecat.turns.user_start.transcription_user_turn_start_strategy import TranscriptionUserTurnStartStrategy
from pipecat.turns.user_start.vad_user_turn_start_strategy import VADUserTurnStartStrategy
from pipecat.turns.user_stop.speech_timeout_user_turn_stop_strategy import SpeechTimeoutUserTurnStopStrategy
from pipecat.turns.user_turn_strategies import UserTurnStrategies

from voice_common.budget import load_budget
from voice_gateway.events import SessionObserver
from voice_gateway.serializer import INPUT_SAMPLE_RATE, RawPCMSerializer, SafeProtobufSerializer
from voice_gateway.settings import GatewaySettings
from voice_gateway.stt import VoiceSTTService
from voice_gateway.tts import TTS_SAMPLE_RATE, VoiceTTSService

WIRE_FORMATS = ("raw", "protobuf")


def make_serializer(wire_format: str, settings: GatewaySettings) -> FrameSerializer:
    if wire_format == "protobuf":
        return SafeProtobufSerializer()
    return RawPCMSerializer(max_frame_bytes=settings.max_frame_bytes)


def build_worker(websocket: WebSocket, settings: GatewaySettings, wire_format: str) -> tuple[PipelineWorker, SessionObserver]:
    """Assemble the per-connection pipeline and the observer that reports on it."""
    transport = FastAPIWebsocketTransport(
        websocket=websocket,
        params=FastAPIWebsocketParams(
            audio_in_enabled=True,
            audio_out_enabled=True,
            audio_in_sample_rate=INPUT_SAMPLE_RATE,
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
    llm = OpenAILLMService(
        api_key=settings.llm_api_key.get_secret_value(),
        base_url=settings.llm_base_url,
        settings=OpenAILLMService.Settings(
            model=settings.llm_model,
            system_instruction=settings.system_prompt,
            max_tokens=settings.llm_max_tokens,
            temperature=settings.llm_temperature,
        ),
    )
    tts = VoiceTTSService(
        url=settings.tts_url, voice=settings.tts_voice, speed=settings.tts_speed, timeout_secs=settings.upstream_timeout_secs
    )
    vad = SileroVADAnalyzer(
        params=VADParams(
            confidence=settings.vad_confidence,
            start_secs=settings.vad_start_secs,
            stop_secs=settings.vad_stop_secs,
            min_volume=settings.vad_min_volume,
        )
    )
    aggregators = LLMContextAggregatorPair(
        LLMContext(),
        user_params=LLMUserAggregatorParams(
            vad_analyzer=vad,
            # Our STT finalizes on VAD stop, so the turn ends the moment the transcript lands.
            user_turn_strategies=UserTurnStrategies(
                start=[VADUserTurnStartStrategy(), TranscriptionUserTurnStartStrategy()],
                stop=[SpeechTimeoutUserTurnStopStrategy(user_speech_timeout=settings.user_speech_timeout_secs)],
            ),
        ),
    )
    pipeline = Pipeline(
        [transport.input(), stt, aggregators.user(), llm, tts, transport.output(), aggregators.assistant()]
    )

    async def send_event(message: dict) -> None:
        await transport.output().queue_frame(OutputTransportMessageUrgentFrame(message=message))

    observer = SessionObserver(send_event, load_budget())
    worker = PipelineWorker(
        pipeline,
        params=PipelineParams(
            audio_in_sample_rate=INPUT_SAMPLE_RATE,
            audio_out_sample_rate=TTS_SAMPLE_RATE,
            enable_metrics=True,
            enable_usage_metrics=True,
        ),
        observers=[observer],
        enable_tracing=settings.tracing_enabled,
        conversation_id=str(uuid.uuid4()),
        idle_timeout_secs=settings.session_timeout_secs,
    )

    @transport.event_handler("on_client_connected")
    async def on_connected(_transport, _websocket) -> None:
        await send_event({"type": "ready", "session_id": worker.name})

    @transport.event_handler("on_client_disconnected")
    async def on_disconnected(_transport, _websocket) -> None:
        await worker.cancel(reason="caller disconnected")

    return worker, observer
