"""How both model servers answer an HTTP request they refuse: one handler per app, not per endpoint.

Endpoints raise :class:`~voice_common.protocol.errors.ApiError` (the code, message, field and
status); these handlers render it in OpenAI's error shape and count it by code in the server's
own errors counter. FastAPI's own validation errors (a missing form field, a wrong type) are
rendered the same way as ``invalid_request``, naming the field.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import Counter

from voice_common.protocol.errors import ApiError


def not_ready(param: str | None = None) -> ApiError:
    """What every model endpoint answers until the model is loaded and warmed up (TTS names ``model``)."""
    return ApiError("not_ready", "the model is still loading; retry when /ready answers 200", param, 503)


def add_error_handlers(app: FastAPI, errors: Counter) -> None:
    """Render ApiError, and FastAPI's request validation errors, as OpenAI-style bodies counted in ``errors``."""

    def respond(error: ApiError) -> JSONResponse:
        errors.labels(code=error.code).inc()
        return JSONResponse(error.body(), status_code=error.status)

    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return respond(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problem = exc.errors()[0]
        param = str(problem["loc"][-1]) if problem.get("loc") else None
        return respond(ApiError("invalid_request", f"{param}: {problem['msg']}", param))
