"""The STT model server: faster-whisper behind a streaming WebSocket and an OpenAI-compatible HTTP API."""
