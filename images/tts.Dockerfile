# The TTS server (Kokoro-82M ONNX): WS /ws and POST /v1/audio/speech on 8880.
# Build context: .cache/images/context/<lock> (`make image-context`, `make image-context-gpu`):
# requirements.txt (the lock: core and the tts extra, hash-pinned), wheels/ (exactly those
# distributions) and project/ (the project wheel). The venv is this image's own: no Pipecat, no
# faster-whisper (see gateway.Dockerfile for why there is no shared runtime base).
#   CPU: context tts,      DEVICE=cpu   (requirements/tts.txt: onnxruntime)
#   GPU: context tts-cuda, DEVICE=cuda  (requirements/tts-cuda.txt: onnxruntime-gpu in onnxruntime's
#        place, with the CUDA 12 libraries its CUDA provider loads; the NVIDIA driver comes from the node)
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
COPY requirements.txt /src/
COPY wheels /wheels
ENV PIP_NO_INDEX=1 PIP_FIND_LINKS=/wheels PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --require-hashes --no-deps -r /src/requirements.txt \
 && find /opt/venv -name __pycache__ -prune -exec rm -rf {} + \
 && /opt/venv/bin/python -m compileall -q /opt/venv/lib

FROM ${BASE_IMAGE}
RUN groupadd --gid 10001 voiceagent && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin voiceagent
COPY --from=build /opt/venv /opt/venv
COPY project /tmp/project
RUN PIP_NO_INDEX=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 /opt/venv/bin/pip install --no-deps /tmp/project/*.whl \
 && rm -rf /tmp/project \
 && /opt/venv/bin/python -m compileall -q /opt/venv/lib/python3*/site-packages/voice_common /opt/venv/lib/python3*/site-packages/voice_tts
ARG DEVICE=cpu
# CUDA libraries installed from wheels live inside the venv (tts-cuda); the loader is pointed at them.
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 HOME=/tmp VOICE_MODELS_DIR=/models \
    LD_LIBRARY_PATH=/opt/venv/lib/python3.11/site-packages/nvidia/cuda_runtime/lib:/opt/venv/lib/python3.11/site-packages/nvidia/cublas/lib:/opt/venv/lib/python3.11/site-packages/nvidia/cudnn/lib:/opt/venv/lib/python3.11/site-packages/nvidia/curand/lib:/opt/venv/lib/python3.11/site-packages/nvidia/cufft/lib:/opt/venv/lib/python3.11/site-packages/nvidia/cuda_nvrtc/lib:/opt/venv/lib/python3.11/site-packages/nvidia/nvjitlink/lib \
    TTS_HOST=0.0.0.0 TTS_PORT=8880 TTS_DEVICE=${DEVICE} \
    TTS_MODEL_PATH=/models/kokoro/kokoro-v1.0.int8.onnx TTS_VOICES_PATH=/models/kokoro/voices-v1.0.bin
USER 10001:10001
WORKDIR /tmp
EXPOSE 8880
CMD ["python", "-m", "voice_tts"]
