"""Our servers started on free loopback ports, with the assembled models and logs in known places."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from voice_agent.processes import ServiceProcess, ServiceSpec, python_module, start_ready

REPO_ROOT = Path(__file__).resolve().parents[2]
MODELS_DIR = Path(os.environ.get("VOICE_MODELS_DIR", REPO_ROOT / "models"))
LOG_DIR = REPO_ROOT / ".cache" / "test-logs"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_service(
    name: str, module: str, env: dict[str, str], ready_timeout_s: float = 180.0, ready_path: str = "/ready"
) -> ServiceProcess:
    """Launch ``python -m module`` with ``env`` on a free port and wait until ``ready_path`` answers 200."""
    port = free_port()
    prefix = name.upper()
    spec = ServiceSpec(
        name=f"{name}-{port}",
        argv=python_module(module),
        port=port,
        ready_path=ready_path,
        env={f"{prefix}_HOST": "127.0.0.1", f"{prefix}_PORT": str(port), "VOICE_MODELS_DIR": str(MODELS_DIR), **env},
    )
    return start_ready(spec, LOG_DIR, ready_timeout_s)
