"""Prometheus' HTTP API, as Grafana's Prometheus data source uses it."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import httpx

SCRAPE_S = 1.0


@dataclass
class Prometheus:
    """Prometheus' HTTP API (the one Grafana's Prometheus data source uses)."""

    url: str

    def _get(self, path: str, **params) -> object:
        response = httpx.get(self.url + path, params=params, timeout=30)
        body = response.json()
        assert response.status_code == 200 and body["status"] == "success", (path, params, body)
        return body["data"]

    def instant(self, expr: str, at: float | None = None) -> list[dict]:
        return self._get("/api/v1/query", query=expr, **({"time": at} if at is not None else {}))["result"]

    def value(self, expr: str, at: float | None = None) -> float:
        """The single value of an instant query (which must return exactly one series)."""
        result = self.instant(expr, at)
        assert len(result) == 1, (expr, result)
        return float(result[0]["value"][1])

    def range(self, expr: str, start: float, end: float, step: float) -> list[dict]:
        return self._get("/api/v1/query_range", query=expr, start=start, end=end, step=step)["result"]

    def exemplars(self, expr: str, start: float, end: float) -> list[dict]:
        """``/api/v1/query_exemplars`` (what Grafana asks for a panel with exemplars on): per series, its exemplars."""
        return self._get("/api/v1/query_exemplars", query=expr, start=start, end=end)

    def rules(self) -> list[dict]:
        """Every loaded recording and alerting rule with its health and last evaluation error."""
        return [rule for group in self._get("/api/v1/rules")["groups"] for rule in group["rules"]]

    def label_values(self, label: str, match: str) -> list[str]:
        """Grafana's ``label_values(match, label)``."""
        return self._get(f"/api/v1/label/{label}/values", **{"match[]": match})

    def wait_for_targets(self, count: int, timeout_s: float = 30.0) -> None:
        """Until ``count`` targets have been scraped successfully (up == 1)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if sum(1 for r in self.instant("up") if r["value"][1] == "1") >= count:
                return
            time.sleep(0.25)
        raise TimeoutError(f"fewer than {count} targets up after {timeout_s:.0f} s: {self.instant('up')}")


def has_data(series: list[dict]) -> bool:
    """What a Grafana panel draws: some series with a finite point (histogram_quantile of no
    observations and 0/0 ratios are NaN, which Grafana leaves blank)."""
    return any(math.isfinite(float(v)) for s in series for _, v in s.get("values", [s.get("value", (0, "NaN"))]))
