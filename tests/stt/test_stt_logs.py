"""The server's own log lines reach its log (``voice_common.logs``, as for the TTS server)."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.slow


def test_the_server_log_shows_the_model_load_and_the_warm_up(stt_server):
    log = stt_server.log_path.read_text(errors="replace")
    assert re.search(r" INFO voice_stt: loaded \S+ on cpu/int8 in [\d.]+ s", log), log[-2000:]
    assert re.search(r" INFO voice_stt: warm-up done in [\d.]+ s", log), log[-2000:]
