"""The stack's wire protocol in one place: every constant and message shape that crosses a socket.

Servers, gateway, caller library and load tests import their messages from here, so a field
renamed on one side is renamed on the other. What cannot import Python (the browser client,
k6's ``loadtest/voice.js``, the chart's ``helm test`` script) is checked against these models by
``tests/unit/test_protocol_clients.py``; ``docs/protocol-reference.md`` is generated from them
(``scripts/protocol_doc.py``), and ``docs/protocols.md`` is checked against them.

Modules: ``constants`` (close codes, sample rates, the END marker), ``message`` (the base
class), ``errors`` (error event and OpenAI-style error body), ``stt``, ``tts`` and ``gateway``
(one module per WebSocket), ``parsing`` (the bounded JSON parser every server reads with).
"""
