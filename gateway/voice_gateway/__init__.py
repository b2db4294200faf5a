"""The Pipecat voice gateway: one pipeline per caller, STT -> LLM -> TTS on our model servers, measured per turn."""
