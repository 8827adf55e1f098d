"""A real mock mesh on an event loop of its own, and a real orchestrator in a child process.

Hypothesis drives synchronous test functions, so the mesh runs in a background thread and the
tests talk to the servers through blocking channels, as any client would. The orchestrator runs
as `aura serve` in its own process: Hypothesis reseeds this process's global `random` for every
example, and the orchestrator must see the randomness it would see in production. Its JSON log
goes to a file the tests read for errors and tracebacks.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from mock_services import FaultConfig, MockMesh
from orchestrator.cli.processes import wait_serving

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]
SHORT_NAMES = {
    "aura.image.v1.ImageProcessingService": "IMAGE",
    "aura.nlu.v1.NluService": "NLU",
    "aura.style.v1.StyleProfileService": "STYLE",
    "aura.combination.v1.CombinationEngineService": "COMBINATION",
    "aura.recommendation.v1.RecommendationEngineService": "RECOMMENDATION",
}


class TracebackRecorder(logging.Handler):
    """Keeps every log record of this process that is an error or carries a traceback."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RealServers:
    """The mesh in a thread and, with `data_dir`, an orchestrator process on it."""

    def __init__(
        self, data_dir: Path | None = None, faults: dict[str, FaultConfig] | None = None
    ) -> None:
        self._data_dir = data_dir
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.mesh = MockMesh(faults=faults)
        self.tracebacks = TracebackRecorder()
        self._process: subprocess.Popen[bytes] | None = None
        self._log_path: Path | None = None
        self.address = ""

    def run(self, coroutine: Coroutine[Any, Any, T], timeout_s: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout_s)

    def start(self) -> RealServers:
        logging.getLogger().addHandler(self.tracebacks)
        self._thread.start()
        self.run(self.mesh.start())
        if self._data_dir is not None:
            self._start_orchestrator(self._data_dir)
        return self

    def _start_orchestrator(self, data_dir: Path) -> None:
        port = _free_port()
        env = dict(
            os.environ,
            AURA_PORT=str(port),
            AURA_DATA_DIR=str(data_dir),
            AURA_LOG_LEVEL="WARNING",
            AURA_LOG_FORMAT="json",
            AURA_METRICS_PORT="off",
            AURA_SHUTDOWN_GRACE_S="1",
        )
        for service, address in self.mesh.addresses().items():
            env[f"AURA_SERVICE_{SHORT_NAMES[service]}_ADDRESSES"] = address
        data_dir.mkdir(parents=True, exist_ok=True)
        self._log_path = data_dir.parent / "orchestrator.log"
        with self._log_path.open("wb") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "orchestrator.cli", "serve"],
                env=env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.address = f"127.0.0.1:{port}"
        self.run(wait_serving(self.address, timeout_s=30))

    def mark(self) -> tuple[int, int]:
        """Where the logs are now, for `errors(since=...)`."""
        size = self._log_path.stat().st_size if self._log_path is not None else 0
        return len(self.tracebacks.records), size

    def errors(self, since: tuple[int, int] = (0, 0)) -> list[str]:
        """Errors and tracebacks logged by the mesh and the orchestrator since `since`."""
        records, offset = since
        errors = [f"{r.name}: {r.getMessage()[:300]}" for r in self.tracebacks.records[records:]]
        return errors + self._orchestrator_errors(offset)

    def _orchestrator_errors(self, offset: int) -> list[str]:
        if self._log_path is None:
            return []
        with self._log_path.open("rb") as log:
            log.seek(offset)
            text = log.read().decode(errors="replace")
        errors = []
        for line in text.splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                if "Traceback" in line or "Error" in line:
                    errors.append(line[:300])
                continue
            if not isinstance(entry, dict):
                continue
            if entry.get("level") in ("ERROR", "CRITICAL") or "exception" in entry:
                cause = str(entry.get("exception", "")).strip().splitlines()[-1:]
                errors.append(f"{entry.get('logger')}: {entry.get('message')!s:.200} {cause}")
        return errors

    def stop(self) -> None:
        try:
            if self._process is not None and self._process.poll() is None:
                self._process.send_signal(signal.SIGTERM)
                try:
                    self._process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait()
            self.run(self.mesh.stop(grace_s=0.1))
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()
            logging.getLogger().removeHandler(self.tracebacks)
