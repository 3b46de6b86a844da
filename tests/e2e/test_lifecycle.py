"""Deployment shapes and failures, with real processes: a separate worker process, and a
service killed in the middle of a training."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
from pathlib import Path

import pytest
from mlgen import render_backend
from procs import Service, wait_for

pytestmark = pytest.mark.e2e
CONFIG = ('<View><Text name="text" value="$text"/><Choices name="mood" toName="text">'
          '<Choice value="happy"/><Choice value="sad"/></Choices></View>')


def render(tmp_path: Path, model: dict, debounce: float = 0.5, retrain_every: int = 2) -> Path:
    spec = {"version": 1, "name": "moods", "labeling_config": CONFIG,
            "features": [{"field": "text", "type": "text"}], "model": model,
            "training": {"min_annotations": 6, "retrain_every": retrain_every, "debounce_seconds": debounce},
            "promotion": {"policy": "always"}}
    path = tmp_path / "backend.yaml"
    path.write_text(json.dumps(spec))
    return render_backend(path, tmp_path / "project")


def annotate(service: Service, count: int, project: int = 3) -> None:
    for i in range(1, count + 1):
        label = "happy" if i % 2 else "sad"
        event = {"action": "ANNOTATION_CREATED", "project": {"id": project},
                 "task": {"id": i, "data": {"text": f"I feel {label} today {i}"}, "project": project},
                 "annotation": {"id": i, "task": i, "project": project, "was_cancelled": False,
                                "result": [{"from_name": "mood", "to_name": "text", "type": "choices",
                                            "value": {"choices": [label]}}]}}
        assert service.post("/webhook", event)[0] == 200


def version(service: Service) -> str:
    return service.post("/setup", {"project": "3.1", "schema": CONFIG})[1]["model_version"]


def test_separate_worker_process(runtime_python, tmp_path):
    """Fails if the model the worker trains answers one class whatever the task (e.g. always the
    first label)."""
    project = render(tmp_path, {"class": "LogisticRegression"})
    state = tmp_path / "state"
    server = Service(runtime_python, project, state, args=["--no-worker"])
    worker = subprocess.Popen([str(runtime_python), "-m", "backend", "worker"], cwd=project,
                              env={**os.environ, "MODEL_DIR": str(state)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        annotate(server, 8)
        trained = wait_for(lambda: (v := version(server)) != "moods-untrained" and v)
        tasks = [{"data": {"text": "so happy"}}, {"data": {"text": "so sad"}}]
        results = server.post("/predict", {"tasks": tasks, "project": 3})[1]["results"]
        assert [r["model_version"] for r in results] == [trained, trained]
        assert [r["result"][0]["value"]["choices"] for r in results] == [["happy"], ["sad"]]
        env = {**os.environ, "MODEL_DIR": str(state), "HOST": "127.0.0.1", "PORT": str(server.port)}
        health = [str(runtime_python), "-m", "backend", "health"]  # the container's health check
        assert subprocess.run(health, cwd=project, env=env).returncode == 0
        assert subprocess.run(health, cwd=project, env={**env, "PORT": "1"}, capture_output=True).returncode == 1
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0
        assert server.stop() == 0


def test_a_training_killed_midway_runs_again_after_restart(runtime_python, tmp_path):
    # Slow enough to be caught running: a few seconds of boosting.
    project = render(tmp_path, {"class": "GradientBoostingClassifier", "params": {"n_estimators": 3000}})
    state = tmp_path / "state"
    service = Service(runtime_python, project, state)
    annotate(service, 8)
    wait_for(lambda: any(p["training_running"] for p in service.get("/metrics")["projects"]), interval=0.05)
    service.process.send_signal(signal.SIGKILL)
    service.process.wait()
    restarted = Service(runtime_python, project, state)
    try:
        assert version(restarted) == "moods-untrained"  # nothing half-published
        trained = wait_for(lambda: (v := version(restarted)) != "moods-untrained" and v, timeout=300)
        runs = restarted.get("/metrics")["projects"][0]["last_run"]
        assert runs["status"] == "succeeded" and runs["trigger"] == "recovery" and runs["version"] == trained
        assert restarted.get("/metrics")["annotations"] == 8  # no annotation lost
        with sqlite3.connect(state / "backend.db") as db:
            statuses = [row[0] for row in db.execute("SELECT status FROM runs ORDER BY id DESC")]
        assert statuses == ["succeeded", "interrupted"]
    finally:
        assert restarted.stop() == 0
