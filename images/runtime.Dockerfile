# The Python runtime shared by the gateway, STT and TTS images: a venv with this project and its
# dependencies at the exact versions of the tested .venv (constraints.txt), owned by root and
# run as uid 10001.
#
# Build context: .cache/images/context (`make image-context`: the project wheel, constraints.txt and
# a wheelhouse of every dependency, so the build needs no index and no network).
#   VARIANT=cpu   onnxruntime, CTranslate2 on CPU
#   VARIANT=cuda  onnxruntime-gpu and the CUDA 12 / cuDNN 9 libraries from PyPI (CTranslate2 and
#                 onnxruntime load them); the NVIDIA driver comes from the node (device plugin).
# BASE_IMAGE: any Debian/Ubuntu image with CPython 3.11 and its venv module.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
ARG VARIANT=cpu
COPY constraints.txt /src/
COPY wheels /wheels
ENV PIP_NO_INDEX=1 PIP_FIND_LINKS=/wheels PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install -c /src/constraints.txt voice-agent-stack \
 && if [ "$VARIANT" = cuda ]; then \
      /opt/venv/bin/pip uninstall -y onnxruntime \
   && /opt/venv/bin/pip install onnxruntime-gpu nvidia-cublas-cu12 "nvidia-cudnn-cu12>=9,<10"; \
    fi \
 && find /opt/venv -name __pycache__ -prune -exec rm -rf {} + \
 && /opt/venv/bin/python -m compileall -q /opt/venv/lib

FROM ${BASE_IMAGE}
ARG VARIANT=cpu
RUN groupadd --gid 10001 voiceagent && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin voiceagent
COPY --from=build /opt/venv /opt/venv
# CUDA libraries installed from PyPI live inside the venv; point the loader at them.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    VOICE_MODELS_DIR=/models \
    LD_LIBRARY_PATH=/opt/venv/lib/python3.11/site-packages/nvidia/cublas/lib:/opt/venv/lib/python3.11/site-packages/nvidia/cudnn/lib
LABEL org.opencontainers.image.source="https://github.com/voice-agent-stack/voice-agent-stack" \
      org.opencontainers.image.description="voice-agent Python runtime (${VARIANT})"
USER 10001:10001
WORKDIR /tmp
