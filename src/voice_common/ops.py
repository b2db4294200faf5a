"""Operational endpoints every service of the stack exposes the same way.

``/health`` says the process is alive (liveness), ``/ready`` says it can serve (readiness:
model loaded and warmed up, or upstreams reachable), ``/metrics`` is Prometheus text.
Kubernetes probes and the local stack runner rely on these exact semantics.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

ReadinessCheck = Callable[[], Awaitable[tuple[bool, dict]]]


def add_ops_routes(app: FastAPI, readiness: ReadinessCheck, registry: CollectorRegistry = REGISTRY) -> None:
    """Attach /health, /ready and /metrics to ``app``."""

    @app.get("/health", include_in_schema=False)
    async def health() -> dict:
        return {"status": "ok"}

    @app.get("/ready", include_in_schema=False)
    async def ready() -> JSONResponse:
        is_ready, detail = await readiness()
        return JSONResponse({"ready": is_ready, **detail}, status_code=200 if is_ready else 503)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def error_event(code: str, message: str, **extra: object) -> dict:
    """The JSON error event sent over every WebSocket of the stack: a stable ``code`` and a human message."""
    return {"type": "error", "code": code, "message": message, **extra}
