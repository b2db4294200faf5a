# The TTS server (Kokoro-82M ONNX): WS /ws and POST /v1/audio/speech on 8880. Build context: images/.
# CPU: RUNTIME_IMAGE=voice-agent/runtime, DEVICE=cpu; GPU: RUNTIME_IMAGE=voice-agent/runtime-cuda, DEVICE=cuda.
ARG RUNTIME_IMAGE=voice-agent/runtime:0.1.0
FROM ${RUNTIME_IMAGE}
ARG DEVICE=cpu
ENV TTS_HOST=0.0.0.0 TTS_PORT=8880 TTS_DEVICE=${DEVICE} \
    TTS_MODEL_PATH=/models/kokoro/kokoro-v1.0.int8.onnx TTS_VOICES_PATH=/models/kokoro/voices-v1.0.bin
EXPOSE 8880
CMD ["python", "-m", "voice_tts"]
