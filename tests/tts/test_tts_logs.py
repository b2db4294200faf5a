"""The server's own log lines reach its log (``voice_common.logs``): before, ``voice-tts`` set up no
logging, so the model's "loaded" and "warm-up done" lines went nowhere."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.slow


def test_the_server_log_shows_the_model_load_and_the_warm_up(tts_server):
    log = tts_server.log_path.read_text(errors="replace")
    threads = r"(, \d+ threads a call \(\d+ beside another\))?"  # where calls beside another get fewer
    assert re.search(rf" INFO voice_tts: loaded \S+\.onnx \(\d+ voices\) on cpu{threads} in [\d.]+ s", log), log[-2000:]
    assert re.search(r" INFO voice_tts: warm-up done in [\d.]+ s", log), log[-2000:]
