"""The TTS model server: Kokoro-82M streamed sentence by sentence over HTTP and WebSocket."""
