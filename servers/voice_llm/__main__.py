"""``python -m voice_llm`` / ``voice-llm``: serve a GGUF model over llama.cpp's OpenAI-compatible HTTP API."""

from __future__ import annotations

import logging
import signal
import threading

import xllamacpp

from voice_llm.settings import LLMSettings

log = logging.getLogger("voice_llm")


def server_params(settings: LLMSettings) -> xllamacpp.CommonParams:
    """llama.cpp's parameters for ``settings``; everything not set here keeps llama-server's default."""
    params = xllamacpp.CommonParams()
    params.model.path = settings.model_path
    params.model_alias = {settings.model_alias}
    params.hostnames = [settings.host]
    params.port = settings.port
    params.n_parallel = settings.parallel
    params.n_ctx = settings.context_size
    params.endpoint_metrics = True  # Prometheus text on /metrics (llamacpp:* counters and gauges)
    params.cpuparams.poll = params.cpuparams_batch.poll = settings.poll
    if settings.threads:
        params.cpuparams.n_threads = settings.threads
    if settings.batch_threads:
        params.cpuparams_batch.n_threads = settings.batch_threads
    return params


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = LLMSettings()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    # Loads the model and warms it up (llama.cpp runs one empty decode), then serves on its own
    # threads: the port opens only once the first request can be answered without a cold start.
    server = xllamacpp.Server(server_params(settings))
    log.info("serving %s as %r on %s", settings.model_path, settings.model_alias, server.listening_address)
    stop.wait()
    log.info("stopping")


if __name__ == "__main__":
    main()
