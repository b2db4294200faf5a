# The STT server (faster-whisper): WS /v1/listen on 8000.
# Build context: .cache/images/context/<lock> (`make image-context`, `make image-context-gpu`):
# requirements.txt (the lock: core and the stt extra, hash-pinned), wheels/ (exactly those
# distributions) and project/ (the project wheel). The venv is this image's own: no Pipecat, no
# Kokoro (see gateway.Dockerfile for why there is no shared runtime base).
#   CPU: context stt,      DEVICE=cpu,  COMPUTE_TYPE=int8     (requirements/stt.txt)
#   GPU: context stt-cuda, DEVICE=cuda, COMPUTE_TYPE=float16  (requirements/stt-cuda.txt: plus the
#        CUDA 12 cuBLAS / cuDNN 9 wheels CTranslate2 loads; the NVIDIA driver comes from the node)
# Weights: mounted at /models (chart: models.source=emptyDir|pvc) or baked (images/baked.Dockerfile).
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
 && /opt/venv/bin/python -m compileall -q /opt/venv/lib/python3*/site-packages/voice_common /opt/venv/lib/python3*/site-packages/voice_stt
ARG DEVICE=cpu
ARG COMPUTE_TYPE=int8
# CUDA libraries installed from wheels live inside the venv (stt-cuda); the loader is pointed at them
# (cuDNN 9 opens NVRTC at run time for its runtime-compiled engines).
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 HOME=/tmp VOICE_MODELS_DIR=/models \
    LD_LIBRARY_PATH=/opt/venv/lib/python3.11/site-packages/nvidia/cublas/lib:/opt/venv/lib/python3.11/site-packages/nvidia/cudnn/lib:/opt/venv/lib/python3.11/site-packages/nvidia/cuda_nvrtc/lib \
    STT_HOST=0.0.0.0 STT_PORT=8000 STT_DEVICE=${DEVICE} STT_COMPUTE_TYPE=${COMPUTE_TYPE} \
    STT_MODEL_PATH=/models/whisper-base
USER 10001:10001
WORKDIR /tmp
EXPOSE 8000
CMD ["python", "-m", "voice_stt"]
