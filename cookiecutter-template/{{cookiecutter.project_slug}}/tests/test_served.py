"""The service as users run it: `python -m backend serve`, in its own process, with the real Waitress
server on an ephemeral 127.0.0.1 port and the real Huey consumer beside it (the other tests call the
WSGI app in-process, with Huey in immediate mode). Label Studio's webhooks and predictions go over
HTTP; the test reads the service's SQLite state to count its trainings."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from backend.config import Config
from backend.labelconfig import find_target, parse_label_config
from backend.targets import make_target
from conftest import PROJECT, ROOT, annotation_event, example_answers, example_data, learnt

DEBOUNCE = 1.5  # seconds; longer than the consumer's polling, so a training that skips it is seen
STARTUP_SECONDS = 60  # loading scikit-learn on a busy machine
# Environment variables that would change what the service does (auth, Label Studio's API).
FOREIGN = ("WEBHOOK_SECRET", "LABEL_STUDIO_URL", "LABEL_STUDIO_API_KEY", "BACKEND_SPEC", "HOST", "PORT")


def wait_for(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    """The first truthy value of `condition`, polled until `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


class Served:
    """A running `python -m backend serve`, and HTTP calls to it."""

    def __init__(self, process: subprocess.Popen, log: Path, url: str, state: Path) -> None:
        self.process, self.log, self.url, self.state = process, log, url, state

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())

    def post(self, path: str, body: Any) -> Any:
        status, answer = self.call("POST", path, body)
        assert status in (200, 201), (path, status, answer)
        return answer

    def project(self) -> dict[str, Any] | None:
        projects = self.call("GET", "/metrics")[1]["projects"]
        return next((p for p in projects if p["project"] == str(PROJECT)), None)

    def runs(self) -> list[dict[str, Any]]:
        """The trainings the service ran, from its SQLite store (read-only)."""
        with sqlite3.connect(f"file:{self.state / 'backend.db'}?mode=ro", uri=True) as db:
            db.row_factory = sqlite3.Row
            return [dict(row) for row in db.execute("SELECT * FROM runs WHERE project = ? ORDER BY id",
                                                    (str(PROJECT),))]


@contextmanager
def served(spec: dict[str, Any], tmp_path: Path) -> Iterator[Served]:
    """Start the service on this spec; stop it with SIGTERM at the end, as `docker stop` does."""
    spec_file, state, log = tmp_path / "spec.json", tmp_path / "state", tmp_path / "service.log"
    spec_file.write_text(json.dumps(spec), encoding="utf-8")
    auth = spec["server"]["basic_auth"]
    env = {k: v for k, v in os.environ.items() if k not in (*FOREIGN, auth["user_env"], auth["password_env"])}
    env.update(BACKEND_SPEC=str(spec_file), MODEL_DIR=str(state), HOST="127.0.0.1", PORT="0", LOG_LEVEL="INFO")
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "backend", "serve"], cwd=ROOT, env=env,
                                   stdout=out, stderr=subprocess.STDOUT)
    try:
        def port() -> str | None:  # Waitress picks it; the start-up line says which
            if process.poll() is not None:
                raise AssertionError(f"the service exited with {process.returncode}:\n{log.read_text()}")
            found = re.search(r"serving .* on http://127\.0\.0\.1:(\d+) ", log.read_text())
            return found and found.group(1)

        url = f"http://127.0.0.1:{wait_for(port, STARTUP_SECONDS, 'the service to start')}"
        yield Served(process, log, url, state)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, log.read_text()
        assert log.read_text().rstrip().endswith("stopped")  # the server closed, the consumer stopped
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_burst_of_webhooks_over_http_trains_once_after_the_debounce_and_serves_the_model(spec, tmp_path):
    """Fails if each annotation of a burst queues a training of its own (no coalescing), if the
    training starts before the debounce delay, if the consumer never trains or the new version is
    not served, or if its predictions over HTTP are wrong."""
    # no scheduled retraining to add a run; a second training (if one starts amid the burst) is served
    spec["training"].update(debounce_seconds=DEBOUNCE, schedule=None)
    spec["promotion"]["policy"] = "always"
    config = Config.from_spec(spec)
    target = make_target(find_target(parse_label_config(config.labeling_config), config.target),
                         dict(config.prediction))
    answers = example_answers(target)
    with served(spec, tmp_path) as service:
        setup = {"project": f"{PROJECT}.1700000000", "schema": spec["labeling_config"]}
        untrained = service.post("/setup", setup)["model_version"]
        assert untrained.endswith("untrained")
        rounds = max(3, -(-(spec["training"]["min_annotations"] + 3) // len(answers)))  # 4+ due annotations
        events = [annotation_event(spec, target, i * len(answers) + label + 1, label)
                  for i in range(rounds) for label in range(len(answers))]
        jobs, due_at = [], None
        for event in events:  # the burst, as fast as Label Studio sends it
            sent = time.time()
            answer = service.post("/webhook", event)
            assert answer["stored"] == 1, answer
            job = answer["training"][str(PROJECT)]
            if job is not None:
                jobs.append(job)
                due_at = due_at or sent
        assert due_at is not None and len(jobs) >= 4, jobs
        if time.time() < due_at + DEBOUNCE:  # the burst is over before the training may start:
            assert len(set(jobs)) == 1, jobs  # every due annotation joined the one queued training
            queue = service.call("GET", "/metrics")[1]["queue"]
            assert queue["pending"] + queue["scheduled"] <= 1, queue
        else:  # a slow machine: the training started amid the burst, and one follow-up was queued
            assert len(set(jobs)) <= 2, jobs

        def trained() -> str | None:
            project = service.project()
            idle = project and not (project["training_queued"] or project["training_running"])
            # a run is marked ended just after its version is published: wait for that too
            ended = idle and all(run["status"] != "running" for run in service.runs())
            return ended and not project["model_version"].endswith("untrained") and project["model_version"]

        version = wait_for(trained, 60, "a trained version")
        runs = service.runs()
        assert 1 <= len(runs) <= 2 and all(r["status"] == "succeeded" for r in runs), runs
        started = datetime.fromisoformat(runs[0]["started_at"]).timestamp()
        assert started >= due_at + DEBOUNCE - 0.01, (started - due_at, runs)  # it waited out the debounce
        assert runs[-1]["version"] == version and runs[-1]["n_annotations"] == len(events)
        assert service.post("/setup", setup)["model_version"] == version  # what Label Studio is told

        tasks = [{"id": 100 + i, "data": example_data(spec, i, 100 + i)} for i in range(len(answers))]
        results = service.post("/predict", {"tasks": tasks, "project": f"{PROJECT}.1700000000"})["results"]
        assert [r["model_version"] for r in results] == [version] * len(tasks)
        assert learnt(target, [r["result"] for r in results], answers), (results, answers)
    assert service.process.returncode == 0
