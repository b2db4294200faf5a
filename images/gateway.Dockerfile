# The gateway: WebSocket /ws on 7860 (one Pipecat pipeline per caller).
# Build context: .cache/images/context/gateway (`make image-context`): requirements.txt (the gateway
# lock, requirements/gateway.txt: the core and the gateway extra, hash-pinned), wheels/ (exactly those
# distributions) and project/ (the project wheel). The venv is this image's own: no STT or TTS stack
# (faster-whisper, kokoro-onnx) is in it.
# One venv per image rather than a shared runtime base: each image installs its own lock in one
# step, and a shared base could only hold the core set (FastAPI, NumPy, OpenTelemetry, tens of MB),
# for one more image to build and ship in step with the others.
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
 && /opt/venv/bin/python -m compileall -q /opt/venv/lib/python3*/site-packages/voice_common /opt/venv/lib/python3*/site-packages/voice_gateway
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 HOME=/tmp \
    GATEWAY_HOST=0.0.0.0 GATEWAY_PORT=7860
USER 10001:10001
WORKDIR /tmp
EXPOSE 7860
# preStop in the chart: python -m voice_gateway.drain
CMD ["python", "-m", "voice_gateway"]
