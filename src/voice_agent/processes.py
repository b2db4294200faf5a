"""Start, wait for and stop local server processes.

The local stack (``voice-agent up``), the tests and the benchmarks all run the real servers
as child processes on loopback; this module is the one supervisor they share.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx


@dataclass
class ServiceSpec:
    """How to launch one server and how to tell that it is ready."""

    name: str
    argv: list[str]
    port: int
    ready_path: str = "/ready"
    env: dict[str, str] = field(default_factory=dict)
    host: str = "127.0.0.1"

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"


class ServiceProcess:
    """A running server: its process, its log file, and a readiness wait."""

    def __init__(self, spec: ServiceSpec, log_dir: Path) -> None:
        self.spec = spec
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{spec.name}.log"
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            spec.argv,
            env={**os.environ, **spec.env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: Ctrl-C in the terminal reaches us, not it
        )

    def wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        url = self.spec.base_url + self.spec.ready_path
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.spec.name} exited with code {self.process.returncode} before it was ready; "
                    f"log: {self.log_path}\n{self.tail_log()}"
                )
            try:
                if httpx.get(url, timeout=2.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        raise TimeoutError(f"{self.spec.name} not ready at {url} after {timeout_s:.0f} s; log: {self.log_path}")

    def tail_log(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, grace_s: float = 10.0) -> None:
        """SIGTERM the process group (servers drain), SIGKILL what is left after ``grace_s``."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()


def start_ready(spec: ServiceSpec, log_dir: Path, timeout_s: float) -> ServiceProcess:
    """Launch one server and wait until it is ready; a server that never gets there is stopped."""
    proc = ServiceProcess(spec, log_dir)
    try:
        proc.wait_ready(timeout_s)
    except BaseException:
        proc.stop()
        raise
    return proc


class ProcessGroup:
    """Several services started in order and stopped in reverse order."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.running: dict[str, ServiceProcess] = {}

    def start(self, specs: list[ServiceSpec], timeout_s: float = 300.0) -> None:
        try:
            for spec in specs:
                self.running[spec.name] = ServiceProcess(spec, self.log_dir)
            for proc in self.running.values():
                proc.wait_ready(timeout_s)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for proc in reversed(list(self.running.values())):
            proc.stop()
        self.running.clear()

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def python_module(module: str, *args: str) -> list[str]:
    """argv that runs ``python -m module`` with this interpreter (the project's venv)."""
    return [sys.executable, "-m", module, *args]
