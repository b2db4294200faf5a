"""Operational endpoints every service of the stack exposes the same way.

``/health`` says the process is alive (liveness), ``/ready`` says it can serve (readiness:
model loaded and warmed up, or upstreams reachable), ``/metrics`` is Prometheus text (OpenMetrics when asked).
Kubernetes probes and the local stack runner rely on these exact semantics.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.exposition import choose_encoder

ReadinessCheck = Callable[[], Awaitable[tuple[bool, dict]]]


class ModelEngine(Protocol):
    """What a model server's engine offers its app: a slow ``start`` (load + warm-up) and ``close``."""

    async def start(self) -> None: ...

    def close(self) -> None: ...


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
    async def metrics(request: Request) -> Response:
        # OpenMetrics when the scraper asks for it (Prometheus does): the only format that carries
        # the histograms' exemplars (trace ids); the classic text format otherwise.
        encode, content_type = choose_encoder(request.headers.get("accept"))
        return Response(encode(registry), media_type=content_type)


def background_model_lifespan(
    engine: ModelEngine, describe: str, logger: logging.Logger
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """A FastAPI lifespan that loads the model after the server starts listening.

    ``/health`` answers at once while ``/ready`` waits for the engine. A model that fails to load
    stops the process (SIGTERM: uvicorn shuts down, then exits with status 143): a crash is visible
    to Kubernetes and to the local supervisor, an alive-but-never-ready server is not.
    """

    async def load_model() -> None:
        try:
            await engine.start()
        except Exception:
            logger.exception("could not load %s", describe)
            signal.raise_signal(signal.SIGTERM)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        loading = asyncio.create_task(load_model())
        yield
        loading.cancel()
        engine.close()

    return lifespan
