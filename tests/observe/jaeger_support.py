"""Jaeger's HTTP query API (what its UI and Grafana's Jaeger data source read), and a recording
proxy that shows which ``traceparent`` the gateway sent with each LLM request."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from voice_testkit.services import free_port


@dataclass(frozen=True)
class Span:
    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    service: str
    start: float  # seconds since the epoch
    duration: float  # seconds
    tags: dict

    @property
    def end(self) -> float:
        return self.start + self.duration


@dataclass
class Trace:
    trace_id: str
    spans: list[Span]

    def named(self, name: str, service: str | None = None) -> list[Span]:
        return [s for s in self.spans if s.name == name and (service is None or s.service == service)]

    def one(self, name: str, service: str | None = None) -> Span:
        found = self.named(name, service)
        assert len(found) == 1, f"{len(found)} {name!r} spans ({service}): {self.outline()}"
        return found[0]

    def children(self, parent: Span, name: str | None = None) -> list[Span]:
        return [s for s in self.spans if s.parent_id == parent.span_id and (name is None or s.name == name)]

    def outline(self) -> str:
        """The tree as text, for assertion messages."""
        by_parent: dict[str | None, list[Span]] = {}
        for span in sorted(self.spans, key=lambda s: s.start):
            by_parent.setdefault(span.parent_id, []).append(span)
        ids = {s.span_id for s in self.spans}
        lines: list[str] = []

        def walk(span: Span, depth: int) -> None:
            lines.append(f"{'  ' * depth}{span.service}: {span.name} {span.duration * 1000:.1f} ms")
            for child in by_parent.get(span.span_id, []):
                walk(child, depth + 1)

        for root in [s for s in self.spans if s.parent_id not in ids]:
            walk(root, 0)
        return "\n" + "\n".join(lines)


def _trace(data: dict) -> Trace:
    services = {pid: process["serviceName"] for pid, process in data["processes"].items()}
    spans = []
    for raw in data["spans"]:
        parent = next((r["spanID"] for r in raw.get("references", []) if r["refType"] == "CHILD_OF"), None)
        spans.append(
            Span(
                trace_id=raw["traceID"],
                span_id=raw["spanID"],
                parent_id=parent,
                name=raw["operationName"],
                service=services[raw["processID"]],
                start=raw["startTime"] / 1e6,
                duration=raw["duration"] / 1e6,
                tags={tag["key"]: tag["value"] for tag in raw.get("tags", [])},
            )
        )
    return Trace(data["traceID"], spans)


@dataclass
class Jaeger:
    url: str

    def _get(self, path: str, **params) -> list:
        response = httpx.get(self.url + path, params=params, timeout=30)
        assert response.status_code == 200, (path, params, response.text[:500])
        return response.json()["data"]

    def services(self) -> list[str]:
        return self._get("/api/services") or []

    def traces(self, service: str, operation: str | None = None, limit: int = 20) -> list[Trace]:
        """The newest traces with a span of ``service`` (named ``operation``), each with all its spans."""
        params = {"service": service, "lookback": "1h", "limit": limit, **({"operation": operation} if operation else {})}
        return [_trace(t) for t in self._get("/api/traces", **params)]

    def trace(self, trace_id: str) -> Trace:
        return _trace(self._get(f"/api/traces/{trace_id}")[0])

    def wait_for(self, service: str, operation: str, complete: Callable[[Trace], bool], timeout_s: float = 30.0) -> Trace:
        """The first trace of ``service``'s ``operation`` that ``complete`` accepts (spans arrive in batches, per process)."""
        deadline = time.monotonic() + timeout_s
        seen: list[Trace] = []
        while time.monotonic() < deadline:
            seen = self.traces(service, operation)
            for found in seen:
                if complete(found):
                    return found
            time.sleep(0.5)
        raise TimeoutError(f"no complete {service} trace after {timeout_s:.0f} s: {[t.outline() for t in seen]}")


@dataclass
class RecordingProxy:
    """An HTTP proxy in front of ``upstream`` (the LLM server) that keeps each request's headers."""

    upstream: str
    requests: list[tuple[float, str, dict]] = field(default_factory=list)  # (time.time(), path, headers)

    def start(self) -> str:
        async def forward(request: Request) -> Response:
            headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
            self.requests.append((time.time(), request.url.path, dict(request.headers)))
            client = httpx.AsyncClient(timeout=120)
            url, body = self.upstream + request.url.path, await request.body()
            upstream = await client.send(client.build_request(request.method, url, headers=headers, content=body), stream=True)

            async def relay():
                try:
                    async for chunk in upstream.aiter_raw():
                        yield chunk
                finally:
                    await upstream.aclose()
                    await client.aclose()

            hop_by_hop = ("content-length", "transfer-encoding", "connection")
            passed = {k: v for k, v in upstream.headers.items() if k.lower() not in hop_by_hop}
            return StreamingResponse(relay(), status_code=upstream.status_code, headers=passed)

        app = Starlette(routes=[Route("/{path:path}", forward, methods=["GET", "POST"])])
        port = free_port()
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        threading.Thread(target=self._server.run, daemon=True).start()
        while not self._server.started:
            time.sleep(0.05)
        return f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        self._server.should_exit = True
