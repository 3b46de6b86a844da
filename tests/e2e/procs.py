"""A generated backend running as its own process, on a free 127.0.0.1 port."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Backend:
    """A generated backend's process, `python -m backend COMMAND ...`, as a user starts it, with
    MODEL_DIR `state` and its output in `log` (a file beside `state`)."""

    def __init__(self, python: Path, project: Path, state: Path, command: list[str], log: Path,
                 env: dict[str, str] | None = None):
        self.log = log.open("w")
        self.process = subprocess.Popen(
            [str(python), "-m", "backend", *command], cwd=project, stdout=self.log, stderr=subprocess.STDOUT,
            env={**os.environ, "MODEL_DIR": str(state), **(env or {})},
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)  # nothing if it has exited already
        try:
            return self.process.wait(timeout=60)
        finally:
            self.log.close()

    def kill(self) -> int:
        """SIGKILL: it dies at once, requests in flight included (an OOM kill, a lost machine)."""
        self.process.kill()
        try:
            return self.process.wait(timeout=30)
        finally:
            self.log.close()


class Service(Backend):
    """A generated backend serving HTTP (`serve`), as a user starts it."""

    def __init__(self, python: Path, project: Path, state: Path, env: dict[str, str] | None = None,
                 args: list[str] | None = None, ready: bool = True):
        """Start it; with `ready` (the default), wait until it answers /health (else call
        `wait_ready`, e.g. after starting several at once)."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        super().__init__(python, project, state, ["serve", "--host", "127.0.0.1", "--port", str(self.port),
                                                  *(args or [])], state.parent / f"service-{self.port}.log", env)
        if ready:
            self.wait_ready()

    def wait_ready(self, timeout: float = 60) -> None:
        """Until it answers /health."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.get("/health")
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"service did not start; see {self.log.name}") from None
                time.sleep(0.2)

    def request(self, method: str, path: str, body: Any = None, timeout: float = 30) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def get(self, path: str) -> Any:
        return self.request("GET", path)[1]

    def post(self, path: str, body: Any) -> tuple[int, Any]:
        return self.request("POST", path, body)

    def idle(self) -> bool:
        """Some project exists and none has a training queued or running."""
        projects = self.get("/metrics")["projects"]
        return bool(projects) and not any(p["training_queued"] or p["training_running"] for p in projects)


class Worker(Backend):
    """`python -m backend worker`: only the training queue's consumer, no HTTP. Its output goes
    to `worker-<state folder name>.log` beside its MODEL_DIR `state`."""

    def __init__(self, python: Path, project: Path, state: Path, env: dict[str, str] | None = None,
                 ready: bool = True):
        self.log_path = state.parent / f"worker-{state.name}.log"
        super().__init__(python, project, state, ["worker"], self.log_path, env)
        if ready:
            self.wait_ready()

    def wait_ready(self, timeout: float = 60) -> None:
        """Until its consumer has started (Huey logs it, at INFO, once the service is built)."""
        deadline = time.monotonic() + timeout
        while "Huey consumer started" not in self.log_path.read_text(errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker did not start; see {self.log_path}")
            time.sleep(0.2)


def wait_for(condition: Callable[[], Any], timeout: float = 120, interval: float = 0.25) -> Any:
    """The first truthy value of `condition`, polled until `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("timed out waiting")
