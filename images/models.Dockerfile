# The weights assembled by `make models` (whisper-base/, whisper-tiny.en/, kokoro/, llm/) under /opt/models: the
# chart's init step copies from here into the model volume. Build context: the models/ directory.
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}
# Files keep the context's modes (world-readable from `make models`), so uid 10001 can copy them.
COPY . /opt/models/
USER 10001:10001
CMD ["ls", "-lR", "/opt/models"]
