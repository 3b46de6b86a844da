"""Every sample, as a user meets it: render, install, run the project's own tests, start the
service, then speak Label Studio's protocol to it over real HTTP with a real queue consumer."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path

import pytest
from helpers import PAYLOADS, SAMPLES
from mlgen import render_backend
from procs import Service, wait_for

pytestmark = pytest.mark.e2e
SAMPLE_NAMES = sorted(p.parent.name for p in SAMPLES.glob("*/backend.yaml"))
PROJECT_ID = 5


def payload(name: str) -> dict:
    return json.loads((PAYLOADS / f"{name}.json").read_text())["body"]


def strict_problems(prediction: dict, target: str, to_name: str, labels: list[str]) -> list[str]:
    """PROTOCOL.md §5: what LabelInterface lets through but Label Studio users trip over."""
    problems = []
    if not isinstance(prediction.get("model_version"), str) or not prediction["model_version"]:
        problems.append("model_version must be a non-empty string")
    score = prediction.get("score")
    if not isinstance(score, float) or not 0.0 <= score <= 1.0:
        problems.append(f"score must be a float in [0, 1], got {score!r}")
    for region in prediction["result"]:
        if (region.get("from_name"), region.get("to_name"), region.get("type")) != (target, to_name, "choices"):
            problems.append(f"wrong names or type: {region}")
        choices = region.get("value", {}).get("choices")
        if not isinstance(choices, list) or len(choices) != 1 or choices[0] not in labels:
            problems.append(f"a single-choice control needs exactly one known choice: {choices}")
    return problems


def served_version(service: Service, spec: dict) -> str:
    body = {**payload("setup"), "project": f"{PROJECT_ID}.1700000000", "schema": spec["labeling_config"]}
    status, answer = service.post("/setup", body)
    assert status == 200, answer
    return answer["model_version"]


def predict(service: Service, spec: dict, tasks: list[dict]) -> list[dict]:
    body = {**payload("predict"), "tasks": tasks, "project": f"{PROJECT_ID}.1700000000",
            "label_config": spec["labeling_config"]}
    status, answer = service.post("/predict", body)
    assert status == 200, answer
    assert len(answer["results"]) == len(tasks)
    return answer["results"]


@pytest.mark.parametrize("sample", SAMPLE_NAMES)
def test_sample_end_to_end(sample, runtime_python, tmp_path):
    from label_studio_sdk.label_interface import LabelInterface

    folder: Path = SAMPLES / sample
    project = render_backend(folder / "backend.yaml", tmp_path / "project")
    own_tests = subprocess.run([str(runtime_python), "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                               cwd=project, capture_output=True, text=True)
    assert own_tests.returncode == 0, own_tests.stdout[-3000:]

    spec = json.loads((project / "spec.json").read_text())
    interface = LabelInterface(spec["labeling_config"])
    target = interface.get_control(spec["target"])
    to_name, labels = target.to_name[0], list(target.labels)
    tasks = json.loads((folder / "tasks.json").read_text())
    truth = json.loads((folder / "heldout_labels.json").read_text())
    for i, task in enumerate(tasks, start=1):
        task.update(id=i, project=PROJECT_ID)
    annotated = [t for t in tasks if t.get("annotations")]
    heldout = [(t, truth[t["id"] - 1]) for t in tasks if not t.get("annotations")]

    service = Service(runtime_python, project, tmp_path / "state")
    try:
        assert service.get("/health")["status"] == "UP"
        untrained = served_version(service, spec)
        for prediction in predict(service, spec, [{k: v for k, v in t.items() if k != "annotations"} for t in tasks]):
            assert prediction == {"result": [], "score": 0.0, "model_version": untrained}

        # Annotations arrive as Label Studio's automatic webhook sends them: a burst.
        template = payload("webhook-ANNOTATION_CREATED")
        for task in annotated:
            event = copy.deepcopy(template)
            event["annotation"].update(id=task["id"], task=task["id"], project=PROJECT_ID,
                                       result=task["annotations"][0]["result"])
            event["task"] = {**event["task"], "id": task["id"], "data": task["data"], "project": PROJECT_ID}
            event["project"] = {**event["project"], "id": PROJECT_ID}
            status, answer = service.post("/webhook", event)
            assert status == 200 and answer["status"] == "ok", answer

        wait_for(lambda: served_version(service, spec) != untrained)
        wait_for(service.idle)
        version = served_version(service, spec)
        trained = [v for v in service.get("/versions")["versions"] if v != untrained]
        assert 1 <= len(trained) <= 3, f"{len(annotated)} annotations in a burst made {len(trained)} trainings"
        assert version in trained

        results = predict(service, spec, [t for t, _ in heldout])
        correct = 0
        for (_, label), prediction in zip(heldout, results):
            assert interface.validate_prediction(prediction, return_errors=True) == []
            assert strict_problems(prediction, spec["target"], to_name, labels) == []
            assert prediction["model_version"] == version
            correct += prediction["result"][0]["value"]["choices"][0] == label
        accuracy = correct / len(heldout)
        chance = max(truth.count(label) for label in set(truth)) / len(truth)
        assert accuracy >= min(0.95, chance + 0.25), f"held-out accuracy {accuracy:.2f}, majority class {chance:.2f}"

        status, answer = service.post("/webhook", {**payload("webhook-START_TRAINING"), "project": {"id": PROJECT_ID}})
        assert status == 201 and answer["status"] == "ok" and answer["job"]
        wait_for(lambda: served_version(service, spec) != version)
        status, answer = service.post("/webhook", payload("webhook-PROJECT_UPDATED"))
        assert status == 200 and answer["status"] == "ignored"
    finally:
        assert service.stop() == 0, "the service did not stop cleanly on SIGTERM"
