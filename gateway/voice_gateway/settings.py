"""Typed settings of the gateway, from ``GATEWAY_*`` environment variables (the Helm chart sets them)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class GatewaySettings(BaseSettings):
    """Everything the gateway needs to know: where the model servers are, how to detect turns, limits."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", env_file=None)

    host: str = "0.0.0.0"
    port: int = 7860
    log_level: str = Field(default="INFO", description="loguru level of the gateway and Pipecat (DEBUG traces every frame hop)")

    # Upstream model servers (in the cluster: the chart's Services).
    stt_url: str = "ws://127.0.0.1:8000/v1/listen"
    tts_url: str = "ws://127.0.0.1:8880/ws"
    llm_base_url: str = "http://127.0.0.1:8080/v1"
    llm_api_key: SecretStr = SecretStr("EMPTY")
    llm_model: str = "voice-llm"
    # Keep idle LLM connections open for the next request. Off by default: llama.cpp's server closes
    # each connection after a streamed reply while announcing keep-alive, so a reused one fails now
    # and then (see voice_gateway.llm). On is safe for vLLM, and saves a TLS handshake per turn
    # with a hosted endpoint.
    llm_reuse_connections: bool = False
    # "in English" matters to small models: SmolLM2-135M answered the old prompt in French.
    system_prompt: str = (
        "You are a helpful voice assistant. Reply in English with one or two short sentences, "
        "without lists, markdown or emoji."
    )
    llm_max_tokens: int = 60
    # Past turns sent with each request (the system prompt aside): bounds prompt length and the
    # server's work per turn, so a long call never outgrows a small model's context window.
    llm_max_history_messages: int = Field(default=20, ge=1)
    # One completion with the system prompt before /ready turns 200: a fresh LLM's first is slow.
    llm_warmup: bool = True
    llm_temperature: float = 0.3
    # OpenAI's penalties on tokens already in the text. llama.cpp counts the prompt's last 64 tokens
    # too, so 0.5 keeps the small CPU model from giving its previous answer again when asked for
    # "one more fact" (3 of 30 follow-ups without, 0 of 30 with), but it costs 10-18% of the
    # turn's mouth-to-ear on CPU (the first phrase comes later): off by default, see
    # docs/benchmarks.md. 0 sends none.
    llm_frequency_penalty: float = Field(default=0.0, ge=-2.0, le=2.0)
    llm_presence_penalty: float = Field(default=0.0, ge=-2.0, le=2.0)
    # Fields the LLM server takes beyond OpenAI's, sent in each request's body as they are (a JSON
    # object): llama.cpp's DRY sampler (dry_multiplier, dry_penalty_last_n...), min_p, top_k, or
    # vLLM's repetition_penalty. Empty sends none.
    llm_extra_body: dict[str, Any] = Field(default_factory=dict)
    tts_voice: str = "af_heart"
    tts_speed: float = 1.0
    # Each reply's first words go to TTS at the first clause break or after this many words, not at
    # the end of the first sentence: the first audio waits for less writing and less synthesis.
    tts_first_phrase_max_words: int = Field(default=4, ge=0, description="0: whole sentences only")
    # The phrases after it grow as fast as a TTS this quick keeps ahead of the audio already sent
    # (seconds of synthesis per second of speech): 0.5 doubles each phrase; higher, on a TTS that
    # shares its CPU with the LLM, grows them more slowly, so the audio does not run dry between them.
    tts_expected_rtf: float = Field(default=0.5, gt=0, lt=1, description="the TTS's expected real-time factor")

    # Turn detection (Silero VAD, then turn_confirm_secs of silence).
    vad_confidence: float = 0.7
    # start_secs of speech (and min_volume of loudness, smoothed) before the caller is heard: the
    # floor of a barge-in. Pipecat's 0.2 s / 0.6 had the bot talk over a caller for 320 ms (p50,
    # bench/bench_bargein.py); 0.15 s / 0.3 stop it within the budget, Silero's confidence still
    # keeps noise out.
    vad_start_secs: float = 0.15
    # Silence before the VAD says the caller stopped: the STT finalizes then, and a speculative reply
    # may start. The turn is over only after turn_confirm_secs more silence (0.35 s in all).
    vad_stop_secs: float = 0.15
    vad_min_volume: float = 0.3
    turn_confirm_secs: float = Field(default=0.2, ge=0, description="silence after the VAD stop that confirms the turn")
    # Start the LLM on the transcript while the turn is being confirmed; its reply is held until the
    # turn is confirmed and discarded if the caller speaks again (gateway/voice_gateway/endpointing.py).
    preemptive_generation: bool = True
    # Smart-turn v3 (pipecat's ONNX model) judges at each VAD stop whether the caller finished; a turn
    # it hears as unfinished waits smart_turn_incomplete_confirm_secs of silence, not turn_confirm_secs.
    # Off by default: ~140 ms of CPU per turn end on the cores the STT decodes on (bench_smart_turn.py).
    smart_turn: bool = False
    smart_turn_incomplete_confirm_secs: float = Field(default=1.5, ge=0)

    # Limits and access.
    auth_token: SecretStr | None = Field(
        default=None, description="callers (and POST /drain) must present it; unset: open calls, drain from loopback only"
    )
    drain_token: SecretStr | None = Field(
        default=None, description="POST /drain needs it (else auth_token; with neither, loopback only)"
    )
    # The admission limit lives here, per replica. Each talking caller holds one STT stream, so the
    # STT servers' max_sessions (default 64) must cover replicas x max_sessions of the gateways.
    max_sessions: int = 32
    # A caller holds a gateway slot; these bound how long one can hold it without talking. The STT
    # stream is opened at a caller's first speech, so silent callers hold no STT capacity at all.
    first_speech_timeout_secs: float = Field(
        default=20.0, gt=0, description="end a call with no speech this long after it opened"
    )
    idle_timeout_secs: float = Field(default=120.0, gt=0, description="end a call when neither side has spoken for this long")
    max_frame_bytes: int = 64 * 1024
    session_timeout_secs: float = Field(default=1800.0, gt=0, description="longest call; then it ends with session_timeout")
    upstream_timeout_secs: float = 10.0
    upstream_poll_secs: float = Field(
        default=2.0, gt=0, description="how often the model servers' readiness is polled (admission, /ready, metrics)"
    )
    tracing_enabled: bool = Field(default=True, description="Pipecat spans; exported when OTEL_EXPORTER_OTLP_ENDPOINT is set")
    drain_timeout_secs: float = Field(default=25.0, description="SIGTERM: wait this long for live calls to end")
    # Kubernetes removes a terminating pod from its Services a moment after the preStop hook starts
    # (kube-proxy's next sync, an ingress's next reload): until then new calls still come here. The
    # chart sets 5 s; 0 refuses them as soon as POST /drain arrives.
    drain_admit_secs: float = Field(
        default=0.0, ge=0, description="a drain keeps admitting new calls this long (within drain_timeout_secs)"
    )

    @model_validator(mode="after")
    def _admit_within_drain(self) -> GatewaySettings:
        if self.drain_admit_secs and self.drain_admit_secs >= self.drain_timeout_secs:
            raise ValueError(
                f"drain_admit_secs ({self.drain_admit_secs:g}) must be below drain_timeout_secs "
                f"({self.drain_timeout_secs:g}): calls admitted while draining need time to end"
            )
        return self

    @property
    def drain_secret(self) -> SecretStr | None:
        """What ``POST /drain`` must present: the drain token, else the callers' token."""
        return self.drain_token or self.auth_token

    @property
    def ws_max_message_bytes(self) -> int:
        """The WebSocket layer's hard cap: above ``max_frame_bytes``, so a frame between the two still
        gets a ``frame_too_large`` event and the session goes on; above it the connection closes (1009)."""
        return max(1 << 20, self.max_frame_bytes * 4)

    def llm_penalties(self) -> dict[str, float]:
        """The nonzero sampling penalties, by their OpenAI names: a zero one is not sent at all, as
        some OpenAI-compatible servers refuse fields they do not implement."""
        penalties = {"frequency_penalty": self.llm_frequency_penalty, "presence_penalty": self.llm_presence_penalty}
        return {name: value for name, value in penalties.items() if value}
