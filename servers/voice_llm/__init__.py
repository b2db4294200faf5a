"""The CPU LLM server: llama.cpp's own OpenAI-compatible HTTP server, run in-process by xllamacpp.

xllamacpp ships llama.cpp prebuilt on PyPI (no compile at install, where llama-cpp-python took
minutes), and runs llama.cpp's C++ server rather than a Python one: continuous batching across
``parallel`` slots, a ``/health`` that answers while a reply streams, and Prometheus ``/metrics``.
This package only turns ``LLM_*`` settings into its parameters and keeps the process alive.
"""
