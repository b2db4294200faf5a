# The CPU LLM: llama.cpp's OpenAI-compatible server (llama-cpp-python[server]) on 8080.
# GPU nodes use vLLM's upstream image instead (chart: llm.gpu).
# Build context: .cache/images/context/llm (`make image-context`: wheelhouse with the llama-cpp-python
# sdist, its server's dependencies and its build tools; not the project wheel, so the compile layer
# stays cached across code changes). llama.cpp is compiled here for a generic x86-64 (no -march=native)
# and without OpenMP, so the image runs on any node and needs nothing beyond the base at runtime.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends gcc g++ make libc6-dev \
 && rm -rf /var/lib/apt/lists/*
COPY constraints.txt /src/
COPY wheels /wheels
ENV PIP_NO_INDEX=1 PIP_FIND_LINKS=/wheels PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
ARG LLAMA_CPP_PYTHON=0.3.36
RUN python3 -m venv /opt/venv \
 && CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_OPENMP=OFF -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF" \
    CMAKE_BUILD_PARALLEL_LEVEL=2 \
    /opt/venv/bin/pip install -c /src/constraints.txt "llama-cpp-python[server]==${LLAMA_CPP_PYTHON}" \
 && find /opt/venv -name __pycache__ -prune -exec rm -rf {} +

FROM ${BASE_IMAGE}
RUN groupadd --gid 10001 voiceagent && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin voiceagent
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 HOME=/tmp
USER 10001:10001
WORKDIR /tmp
EXPOSE 8080
# The chart passes --model /models/llm/<file>.gguf --model_alias <servedModelName> --n_ctx ...
ENTRYPOINT ["python", "-m", "llama_cpp.server", "--host", "0.0.0.0", "--port", "8080"]
