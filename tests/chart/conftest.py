"""Fixtures of the chart tests: the helm binary (required, never skipped) and each ci/ scenario rendered once."""

from __future__ import annotations

import pytest

from chart_support import HELM, SCENARIOS, Manifest, render


@pytest.fixture(scope="session", autouse=True)
def helm_binary():
    """These tests are the chart's CI: without helm they fail instead of silently skipping."""
    if not HELM.exists():
        pytest.fail(f"{HELM} is missing: run `make helm-tools` (a prerequisite of `make test`)", pytrace=False)
    return HELM


@pytest.fixture(scope="session", params=SCENARIOS)
def scenario(request) -> str:
    return request.param


@pytest.fixture(scope="session")
def manifest(scenario: str) -> Manifest:
    return render(scenario)


@pytest.fixture(scope="session")
def scenarios() -> dict[str, Manifest]:
    return {name: render(name) for name in SCENARIOS}
