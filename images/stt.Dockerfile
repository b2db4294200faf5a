# The STT server (faster-whisper): WS /v1/listen on 8000. Build context: images/.
# CPU: RUNTIME_IMAGE=voice-agent/runtime, DEVICE=cpu, COMPUTE_TYPE=int8
# GPU: RUNTIME_IMAGE=voice-agent/runtime-cuda, DEVICE=cuda, COMPUTE_TYPE=float16
# Weights: mounted at /models (chart: models.source=emptyDir|pvc) or baked (images/baked.Dockerfile).
ARG RUNTIME_IMAGE=voice-agent/runtime:0.1.0
FROM ${RUNTIME_IMAGE}
ARG DEVICE=cpu
ARG COMPUTE_TYPE=int8
ENV STT_HOST=0.0.0.0 STT_PORT=8000 STT_DEVICE=${DEVICE} STT_COMPUTE_TYPE=${COMPUTE_TYPE} \
    STT_MODEL_PATH=/models/whisper-base
EXPOSE 8000
CMD ["python", "-m", "voice_stt"]
