# The gateway: WebSocket /ws on 7860 (one Pipecat pipeline per caller). Build context: images/.
ARG RUNTIME_IMAGE=voice-agent/runtime:0.1.0
FROM ${RUNTIME_IMAGE}
ENV GATEWAY_HOST=0.0.0.0 GATEWAY_PORT=7860
EXPOSE 7860
# preStop in the chart: python -m voice_gateway.drain
CMD ["python", "-m", "voice_gateway"]
