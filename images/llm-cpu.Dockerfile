# The CPU LLM: llama.cpp's own OpenAI-compatible server (C++), run in-process by `python -m voice_llm`
# (servers/voice_llm, settings from LLM_* env) through xllamacpp's prebuilt wheel, on 8080:
# /v1/chat/completions, /v1/models, /health, /metrics. GPU nodes use vLLM's upstream image instead
# (chart: llm.gpu). Nothing is compiled.
# Build context: .cache/images/context/llm (`make image-context`): requirements.txt (the LLM lock,
# requirements/llm.txt: the llm extra alone, xllamacpp and what voice_llm imports, pydantic and
# pydantic-settings, hash-pinned; voice_llm imports nothing of the core), wheels/ (exactly those
# distributions) and project/ (the project wheel). The project wheel goes in last with --no-deps: a
# code change rebuilds only that small layer, and the image holds none of the core's or the gateway's,
# STT's or TTS's dependencies (fastapi, pipecat, faster-whisper, onnxruntime).
# xllamacpp's library links the system's OpenMP runtime, libgomp.so.1 (Debian's libgomp1): the local
# base (make images-base) includes it; a base without it gets it from apt here.
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
RUN ldconfig -p | grep -q 'libgomp\.so\.1 ' || { apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libgomp1 \
 && rm -rf /var/lib/apt/lists/*; }
RUN groupadd --gid 10001 voiceagent && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin voiceagent
COPY --from=build /opt/venv /opt/venv
COPY project /tmp/project
RUN PIP_NO_INDEX=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 /opt/venv/bin/pip install --no-deps /tmp/project/*.whl \
 && rm -rf /tmp/project \
 && /opt/venv/bin/python -m compileall -q /opt/venv/lib/python3*/site-packages/voice_llm
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 HOME=/tmp LLM_HOST=0.0.0.0 LLM_PORT=8080
USER 10001:10001
WORKDIR /tmp
EXPOSE 8080
# The chart sets LLM_MODEL_PATH=/models/llm/<file>.gguf, LLM_MODEL_ALIAS, LLM_PARALLEL, LLM_CONTEXT_PER_SLOT,
# LLM_THREADS and LLM_BATCH_THREADS (servers/voice_llm/settings.py).
ENTRYPOINT ["python", "-m", "voice_llm"]
