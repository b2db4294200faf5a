"""Typed settings of a load test run, from ``LOADTEST_*`` environment variables or the command line.

The same names reach every part: the driver (``python -m loadtest``), the Locust file (which the
driver starts with these variables set) and the k6 script (passed as ``-e LOADTEST_...``), so a
value means the same thing wherever it is read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from voice_common.budget import BUDGET_FILE

REPO_ROOT = Path(__file__).resolve().parents[1]


class LoadtestSettings(BaseSettings):
    """What to load, how hard, and for how long at most."""

    model_config = SettingsConfigDict(env_prefix="LOADTEST_", env_file=None, cli_kebab_case=True)

    url: str | None = Field(
        default=None, description="gateway WebSocket (ws://host:port/ws); unset: start the local stack on loopback"
    )
    engine: Literal["k6", "locust"] = Field(default="k6", description="load generator for every step of the ramp")
    max_users: int = Field(default=4, ge=1, le=64, description="the ramp stops at this many concurrent callers")
    seconds: float = Field(default=240.0, gt=0, le=3600, description="time bound of the whole ramp (stack start excluded)")
    sessions: int = Field(default=1, ge=1, le=20, description="calls each user makes per step")
    turns: int = Field(default=2, ge=1, le=20, description="spoken turns per call")
    warmup: bool = Field(default=True, description="one unmeasured turn first: a fresh stack's first replies are slow")
    turn_timeout_s: float = Field(default=30.0, gt=0, description="a reply not finished by then is an error")
    settle_s: float = Field(default=1.0, ge=0, description="bot silence that marks its reply as finished")
    speech: Path = Field(
        default=REPO_ROOT / "samples" / "capital-of-france.wav", description="the caller's utterance (16-bit WAV)"
    )
    budget: Path = Field(default=BUDGET_FILE, description="latency budget: k6 thresholds and the capacity limit")
    out: Path = Field(default=REPO_ROOT / ".cache" / "loadtest", description="report folder (loadtest.md/.json/.png)")
