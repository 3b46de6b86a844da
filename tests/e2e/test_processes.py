"""Several serving processes on one machine (SERVER_PROCESSES, server.processes), with real
processes: they share one port and one state directory, exactly one of them trains, all serve
the new version, a web process killed with -9 is started again, and a stop stops them all."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from procs import Service, wait_for
from test_lifecycle import CONFIG, annotate, render

pytestmark = pytest.mark.e2e


def answering(service: Service, requests: int = 40) -> dict[int, str]:
    """The processes that answer `requests` fresh connections: pid -> the version it serves."""
    seen: dict[int, str] = {}
    for _ in range(requests):
        pid = service.get("/metrics")["process"]
        seen[pid] = service.post("/setup", {"project": "3.1", "schema": CONFIG})[1]["model_version"]
    return seen


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_three_processes_share_the_port_the_state_and_one_worker(runtime_python, tmp_path):
    project = render(tmp_path, {"class": "LogisticRegression"}, debounce=0.5, retrain_every=100)
    state = tmp_path / "state"
    service = Service(runtime_python, project, state, env={"SERVER_PROCESSES": "3"})
    parent = service.process.pid
    try:
        first = wait_for(lambda: len(seen := answering(service)) == 3 and seen, timeout=60)
        assert parent in first and set(first.values()) == {"moods-untrained"}
        annotate(service, 8)  # through whichever processes accept: one training follows
        trained = wait_for(lambda: len(set((seen := answering(service, 30)).values())) == 1
                           and "moods-untrained" not in seen.values() and seen, timeout=60)
        [version] = set(trained.values())
        metrics = service.get("/metrics")
        assert metrics["annotations"] == 8
        [row] = metrics["projects"]
        assert row["model_version"] == version and row["last_run"]["status"] == "succeeded"
        log = Path(service.log.name).read_text()
        assert log.count("Huey consumer started") == 1  # exactly one process trains
        assert log.count("training made") == 1

        child = next(pid for pid in first if pid != parent)
        os.kill(child, signal.SIGKILL)
        restarted = wait_for(lambda: len(seen := answering(service)) == 3 and child not in seen and seen,
                             timeout=30)
        assert set(restarted.values()) == {version}  # the new process serves the trained model
        children = [pid for pid in restarted if pid != parent]
    finally:
        started = time.monotonic()
        assert service.stop() == 0
    assert time.monotonic() - started < 10
    assert not any(alive(pid) for pid in children)
