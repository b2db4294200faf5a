"""The gateway's FastAPI app: ``WS /ws`` (one Pipecat pipeline per caller), probes, metrics, drain."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from loguru import logger
from starlette.websockets import WebSocketState

from voice_common.budget import BUDGET_FILE
from voice_common.ops import add_ops_routes
from voice_common.protocol.constants import CLOSE_INTERNAL_ERROR, CLOSE_POLICY_VIOLATION, CLOSE_TRY_AGAIN_LATER
from voice_common.protocol.errors import error_event
from voice_gateway import metrics
from voice_gateway.auth import caller_authorized, drain_authorized
from voice_gateway.pipeline import WIRE_FORMATS, build_call
from voice_gateway.sessions import SessionRegistry
from voice_gateway.settings import GatewaySettings
from voice_gateway.upstream_health import UpstreamWatch
from voice_gateway.warmup import LLMWarmup

STATIC_DIR = Path(__file__).parent / "static"


async def _refuse(websocket: WebSocket, code: str, message: str, close_code: int, service: str | None = None) -> None:
    """Accept only to say why, so clients get a JSON reason and not a bare HTTP 403."""
    metrics.SESSIONS_REJECTED.labels(reason=code).inc()
    await websocket.accept()
    await websocket.send_json(error_event(code, message, **({"service": service} if service else {})))
    await websocket.close(close_code)


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()
    sessions = SessionRegistry(settings.max_sessions)
    llm_warmup = LLMWarmup(settings)
    upstreams = UpstreamWatch(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        background = [asyncio.create_task(llm_warmup.run()), asyncio.create_task(upstreams.run())]
        yield
        for task in background:
            task.cancel()

    app = FastAPI(title="voice-gateway", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.sessions = sessions

    async def readiness() -> tuple[bool, dict]:
        # Upstreams gate readiness only until all were seen up (see voice_gateway.upstream_health).
        ready = upstreams.all_seen_up and llm_warmup.done and not sessions.draining
        return ready, {
            "upstreams": upstreams.up,
            "upstreams_seen_up": upstreams.all_seen_up,
            "llm_warm": llm_warmup.done,
            "draining": sessions.draining,
            "admitting": sessions.admitting,
            "active_sessions": sessions.active,
        }

    add_ops_routes(app, readiness, registry=metrics.REGISTRY)

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False)
    async def browser_client() -> FileResponse:
        """The talk-to-it page (no build step, no CDN: everything is served from here)."""
        return FileResponse(STATIC_DIR / "index.html")

    @app.get("/budget.json", include_in_schema=False)
    async def budget_file() -> FileResponse:
        """The latency budget, so browser and load-test clients judge turns by the same numbers."""
        return FileResponse(BUDGET_FILE)

    @app.post("/drain", include_in_schema=False)
    async def drain(request: Request) -> JSONResponse:
        """preStop hook: turn unready, refuse new calls (after drain_admit_secs), wait for live calls to finish."""
        if not drain_authorized(request, settings):
            return JSONResponse(error_event("unauthorized", "draining needs the drain token"), status_code=401)
        left = await sessions.drain(settings.drain_timeout_secs, settings.drain_admit_secs)
        return JSONResponse({"draining": True, "sessions_left": left})

    @app.websocket("/ws")
    async def caller(websocket: WebSocket, format: str = "raw") -> None:  # noqa: A002 - the query name
        if format not in WIRE_FORMATS:
            await _refuse(websocket, "unknown_format", f"format must be one of {WIRE_FORMATS}", CLOSE_POLICY_VIOLATION)
            return
        if not caller_authorized(websocket, settings):
            await _refuse(websocket, "unauthorized", "missing or wrong token", CLOSE_POLICY_VIOLATION)
            return
        refusal = sessions.refusal()
        if refusal:
            await _refuse(websocket, *refusal, CLOSE_TRY_AGAIN_LATER)
            return
        upstream_down = upstreams.refusal()
        if upstream_down:
            code, message, service = upstream_down
            await _refuse(websocket, code, message, CLOSE_TRY_AGAIN_LATER, service=service)
            return
        await websocket.accept()
        slot = sessions.opened()
        try:
            await build_call(websocket, settings, format, on_caller_gone=slot.release).run()
        except Exception:  # noqa: BLE001 - one broken session must not affect others
            logger.exception("session failed")
            if websocket.client_state == WebSocketState.CONNECTED:
                await websocket.send_json(error_event("internal_error", "the session failed; please reconnect"))
                await websocket.close(CLOSE_INTERNAL_ERROR)
        finally:
            sessions.finished(slot)

    return app
