# A server image with its weights baked in under /models (make images BAKE_MODELS=1; chart:
# models.source=image). IMAGE: the server image; MODELS_IMAGE: voice-agent/models; MODEL_DIR:
# whisper-base | kokoro | llm. Build context: images/ (unused).
ARG IMAGE
ARG MODELS_IMAGE
FROM ${MODELS_IMAGE} AS models

FROM ${IMAGE}
ARG MODEL_DIR
COPY --from=models /opt/models/${MODEL_DIR} /models/${MODEL_DIR}
