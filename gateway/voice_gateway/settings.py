"""Typed settings of the gateway, from ``GATEWAY_*`` environment variables (the Helm chart sets them)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class GatewaySettings(BaseSettings):
    """Everything the gateway needs to know: where the model servers are, how to detect turns, limits."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", env_file=None)

    host: str = "0.0.0.0"
    port: int = 7860

    # Upstream model servers (in the cluster: the chart's Services).
    stt_url: str = "ws://127.0.0.1:8000/v1/listen"
    tts_url: str = "ws://127.0.0.1:8880/ws"
    llm_base_url: str = "http://127.0.0.1:8080/v1"
    llm_api_key: SecretStr = SecretStr("EMPTY")
    llm_model: str = "smollm2"
    # "in English" matters to small models: SmolLM2-135M answered the old prompt in French.
    system_prompt: str = (
        "You are a helpful voice assistant. Reply in English with one or two short sentences, "
        "without lists, markdown or emoji."
    )
    llm_max_tokens: int = 60
    llm_temperature: float = 0.3
    tts_voice: str = "af_heart"
    tts_speed: float = 1.0

    # Turn detection (Silero VAD). stop_secs is the silence that ends the caller's turn.
    vad_confidence: float = 0.7
    vad_start_secs: float = 0.2
    vad_stop_secs: float = 0.3
    vad_min_volume: float = 0.6
    # Extra wait after the final transcript before the bot answers (0: answer at once).
    user_speech_timeout_secs: float = 0.0

    # Limits and access.
    auth_token: SecretStr | None = None
    max_sessions: int = 32
    max_frame_bytes: int = 64 * 1024
    session_timeout_secs: float = 600.0
    upstream_timeout_secs: float = 10.0
    tracing_enabled: bool = Field(default=True, description="Pipecat spans; exported when OTEL_EXPORTER_OTLP_ENDPOINT is set")
    drain_timeout_secs: float = Field(default=25.0, description="SIGTERM: wait this long for live calls to end")

    @property
    def ws_max_message_bytes(self) -> int:
        """The WebSocket layer's hard cap: above ``max_frame_bytes``, so a frame between the two still
        gets a ``frame_too_large`` event and the session goes on; above it the connection closes (1009)."""
        return max(1 << 20, self.max_frame_bytes * 4)
