"""``python -m voice_llm`` / ``voice-llm``: serve a GGUF model over llama.cpp's OpenAI-compatible HTTP API."""

from __future__ import annotations

import logging
import os
import signal
import threading

from voice_llm.priority import lower_priority
from voice_llm.settings import LLMSettings

log = logging.getLogger("voice_llm")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = LLMSettings()
    # libgomp reads its wait policy once, when it is loaded with xllamacpp: set it before the import.
    os.environ["OMP_WAIT_POLICY"] = settings.omp_wait_policy
    if lowered := lower_priority(settings.nice):  # before any thread starts: they inherit it
        log.info("running at nice %d (%s)", settings.nice, " and ".join(lowered))
    from voice_llm.params import start_server

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    server = start_server(settings)
    log.info("serving %s as %r on %s", settings.model_path, settings.model_alias, server.listening_address)
    stop.wait()
    log.info("stopping")


if __name__ == "__main__":
    main()
