"""The STT server: faster-whisper (CTranslate2) behind streaming WebSockets and an OpenAI-compatible HTTP API."""
