"""llama.cpp's server parameters from :class:`LLMSettings`; everything not set keeps llama-server's default."""

from __future__ import annotations

import xllamacpp

from voice_llm.settings import LLMSettings


def server_params(settings: LLMSettings) -> xllamacpp.CommonParams:
    params = xllamacpp.CommonParams()
    params.model.path = settings.model_path
    params.model_alias = {settings.model_alias}
    params.hostnames = [settings.host]
    params.port = settings.port
    params.n_parallel = settings.parallel
    params.n_ctx = settings.context_size
    params.endpoint_metrics = True  # Prometheus text on /metrics (llamacpp:* counters and gauges)
    if settings.threads:
        params.cpuparams.n_threads = settings.threads
    if settings.batch_threads:
        params.cpuparams_batch.n_threads = settings.batch_threads
    return params


def start_server(settings: LLMSettings) -> xllamacpp.Server:
    """Loads the model, warms it up (llama.cpp runs one empty decode), then serves on its own threads.

    The port opens only once the first request can be answered without a cold start. Returns once
    llama.cpp's task loop runs: the server's constructor returns just before that loop starts, and
    a stop asked for in between is lost (the loop starts anyway, and the server's destructor waits
    for it forever: seen once in 31 runs of the SIGTERM test, the signal in the same millisecond
    as the server came up). A metrics task is answered by that loop, so once one has been, a stop
    reaches it.
    """
    server = xllamacpp.Server(server_params(settings))
    server.handle_metrics()
    return server
