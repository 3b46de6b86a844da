"""Every sample, as a user meets it: render, install, run the project's own tests, start the
service, then speak Label Studio's protocol to it over real HTTP with a real queue consumer."""

from __future__ import annotations

import copy
import json
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from helpers import PAYLOADS, SAMPLES
from label_studio_files import LabelStudioFiles, folder
from mlgen import render_backend
from procs import Service, wait_for

pytestmark = pytest.mark.e2e
SAMPLE_NAMES = sorted(p.parent.name for p in SAMPLES.glob("*/backend.yaml"))
PROJECT_ID = 5


def payload(name: str) -> dict:
    return json.loads((PAYLOADS / f"{name}.json").read_text())["body"]


def strict_problems(prediction: dict, spec: dict, interface) -> list[str]:
    """PROTOCOL.md §5: what LabelInterface lets through but Label Studio users trip over."""
    target = interface.get_control(spec["target"])
    labels, tag = list(target.labels or []), target.tag
    problems = []
    if not isinstance(prediction.get("model_version"), str) or not prediction["model_version"]:
        problems.append("model_version must be a non-empty string")
    score = prediction.get("score")
    if not isinstance(score, float) or not 0.0 <= score <= 1.0:
        problems.append(f"score must be a float in [0, 1], got {score!r}")
    if len(prediction["result"]) > 1 and tag != "Labels":
        problems.append(f"one region per task, got {len(prediction['result'])}")
    for region in prediction["result"]:
        if (region.get("from_name"), region.get("to_name"), region.get("type")) != (
                spec["target"], target.to_name[0], tag.lower()):
            problems.append(f"wrong names or type: {region}")
        value = region.get("value", {})
        if tag == "Labels":
            start, end, chosen = value.get("start"), value.get("end"), value.get("labels")
            if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end) \
                    or not isinstance(chosen, list) or len(chosen) != 1 or chosen[0] not in labels:
                problems.append(f"a span needs 0 <= start < end and one known label: {value}")
        elif tag == "Choices":
            choices = value.get("choices")
            single = target.attr.get("choice", "single") == "single"
            if not isinstance(choices, list) or not choices or any(c not in labels for c in choices) \
                    or len(set(choices)) != len(choices) or (single and len(choices) != 1):
                problems.append(f"choices must be {'one' if single else 'distinct'} known choice(s): {choices}")
        else:
            number = value.get(tag.lower())
            low = float(target.attr.get("min", "-inf")) if tag == "Number" else 1
            high = float(target.attr.get("max", "inf")) if tag == "Number" else int(target.attr.get("maxRating", 5))
            if isinstance(number, bool) or not isinstance(number, (int, float)) or not low <= number <= high \
                    or (tag == "Rating" and not isinstance(number, int)):
                problems.append(f"{tag.lower()} must be a number in [{low}, {high}]: {number!r}")
    return problems


def answer_of(prediction: dict, tag: str) -> object:
    """What a prediction answers: its choices, or its number (None when it has no region)."""
    if tag == "Labels":
        return sorted((r["value"]["start"], r["value"]["end"], r["value"]["labels"][0]) for r in prediction["result"])
    if not prediction["result"]:
        return [] if tag == "Choices" else None
    value = prediction["result"][0]["value"]
    return value["choices"] if tag == "Choices" else value[tag.lower()]


def quality(truths: list, answers: list, annotated: list, multiple: bool) -> tuple[str, float, float, bool]:
    """(metric, value, baseline, good enough): accuracy against the majority class, mean
    Jaccard against the best constant label set, or MAE against the median answer."""
    if isinstance(truths[0], (int, float)):
        mae = sum(abs(t - a) for t, a in zip(truths, answers)) / len(truths)
        median = sorted(annotated)[len(annotated) // 2]
        baseline = sum(abs(t - median) for t in truths) / len(truths)
        return "MAE", mae, baseline, mae <= 0.9 * baseline
    if multiple:
        def jaccard(a: list, b: list) -> float:
            return 1.0 if not a and not b else len(set(a) & set(b)) / len(set(a) | set(b))
        value = sum(jaccard(t, a) for t, a in zip(truths, answers)) / len(truths)
        constants = [list(c) for c in {tuple(t) for t in truths}] + [[]]
        baseline = max(sum(jaccard(t, c) for t in truths) / len(truths) for c in constants)
        return "Jaccard", value, baseline, value >= baseline + 0.1
    accuracy = sum(t == a[0] for t, a in zip(truths, answers)) / len(truths)
    chance = max(truths.count(label) for label in set(truths)) / len(truths)
    return "accuracy", accuracy, chance, accuracy >= min(0.95, chance + 0.25)


def span_quality(texts: list[str], truths: list, answers: list, annotated: list) -> tuple[str, float, float, bool]:
    """(metric, value, baseline, good enough) for entity spans: micro F1 of exact (start, end,
    label) against a gazetteer of the annotated entities (each annotated string found again in
    a held-out text, longest first, with its most frequent label)."""
    def f1(truth: list, guess: list) -> float:
        true = {(i, tuple(span[:3])) for i, spans in enumerate(truth) for span in spans}
        found = {(i, tuple(span[:3])) for i, spans in enumerate(guess) for span in spans}
        hits = len(true & found)
        return 2 * hits / (len(true) + len(found)) if true or found else 1.0
    known: dict[str, Counter] = {}
    for spans in annotated:
        for _, _, label, text in spans:
            known.setdefault(text, Counter())[label] += 1
    lookup = []
    for text in texts:
        found, taken = [], [False] * len(text)
        for name in sorted(known, key=len, reverse=True):
            at = text.find(name)
            while at != -1:
                if not any(taken[at:at + len(name)]):
                    found.append((at, at + len(name), known[name].most_common(1)[0][0]))
                    taken[at:at + len(name)] = [True] * len(name)
                at = text.find(name, at + 1)
        lookup.append(found)
    value, baseline = f1(truths, answers), f1(truths, lookup)
    return "entity F1", value, baseline, value >= baseline + 0.1


TOKEN = "e2e-legacy-token-0123456789"  # what /setup sends as the stand-in Label Studio's token


def label_studio_files(sample: Path, spec: dict) -> LabelStudioFiles | None:
    """A stand-in Label Studio serving the sample's files, when its tasks point at images."""
    return LabelStudioFiles(folder(sample), TOKEN) if any(f["type"] == "image" for f in spec["features"]) else None


def served_version(service: Service, spec: dict, label_studio: LabelStudioFiles | None = None) -> str:
    reach = ({"hostname": label_studio.url, "access_token": label_studio.token} if label_studio
             else {"hostname": "http://127.0.0.1:9"})  # no Label Studio there: nothing to import
    body = {**payload("setup"), "project": f"{PROJECT_ID}.1700000000", "schema": spec["labeling_config"], **reach}
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
def test_sample_end_to_end(sample, python_for, tmp_path):
    from label_studio_sdk.label_interface import LabelInterface

    folder: Path = SAMPLES / sample
    project = render_backend(folder / "backend.yaml", tmp_path / "project")
    python = python_for(project)
    own_tests = subprocess.run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                               cwd=project, capture_output=True, text=True)
    assert own_tests.returncode == 0, own_tests.stdout[-3000:]

    spec = json.loads((project / "spec.json").read_text())
    interface = LabelInterface(spec["labeling_config"])
    target = interface.get_control(spec["target"])
    tag, multiple = target.tag, target.attr.get("choice") == "multiple"
    tasks = json.loads((folder / "tasks.json").read_text())
    truth = json.loads((folder / "heldout_labels.json").read_text())
    for i, task in enumerate(tasks, start=1):
        task.update(id=i, project=PROJECT_ID)
    annotated = [t for t in tasks if t.get("annotations")]
    heldout = [(t, truth[t["id"] - 1]) for t in tasks if not t.get("annotations")]

    label_studio = label_studio_files(folder, spec)  # the backend reads the images from it, with /setup's token

    def setup() -> str:
        return served_version(service, spec, label_studio)

    # served as the Docker image serves it, under python -OO (PYTHONOPTIMIZE=2): no library may need
    # its docstrings or asserts, whatever the sample's kind (the other e2e tests serve without it)
    service = Service(python, project, tmp_path / "state", env={"PYTHONOPTIMIZE": "2"})
    try:
        assert service.get("/health")["status"] == "UP"
        untrained = setup()
        for prediction in predict(service, spec, [{k: v for k, v in t.items() if k != "annotations"} for t in tasks]):
            assert prediction == {"result": [], "score": 0.0, "model_version": untrained}
        if label_studio:  # the import the first /setup queued has listed the project (its full pass
            assert label_studio.listed.wait(30)  # removes only annotations written before it began)

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

        wait_for(lambda: setup() != untrained)
        wait_for(service.idle)
        version = setup()
        trained = [v for v in service.get("/versions")["versions"] if v != untrained]
        assert 1 <= len(trained) <= 3, f"{len(annotated)} annotations in a burst made {len(trained)} trainings"
        assert version in trained

        results = predict(service, spec, [t for t, _ in heldout])
        for prediction in results:
            assert interface.validate_prediction(prediction, return_errors=True) == []
            assert strict_problems(prediction, spec, interface) == []
            assert prediction["model_version"] == version
        answers = [answer_of(p, tag) for p in results]
        if label_studio:
            assert label_studio.served >= len(tasks), "every image read from Label Studio, with the token"
        if tag == "Choices" and not multiple:
            assert all(answers), "a single-choice prediction always names a choice"
        if tag == "Labels":
            metric, value, baseline, good = span_quality([t["data"]["text"] for t, _ in heldout], [t for _, t in heldout],
                                                         answers, [truth[t["id"] - 1] for t in annotated])
        else:
            metric, value, baseline, good = quality([t for _, t in heldout], answers,
                                                    [truth[t["id"] - 1] for t in annotated], multiple)
        assert good, f"held-out {metric} {value:.3f}, baseline {baseline:.3f}"

        status, answer = service.post("/webhook", {**payload("webhook-START_TRAINING"), "project": {"id": PROJECT_ID}})
        assert status == 201 and answer["status"] == "ok" and answer["job"]
        wait_for(lambda: setup() != version)
        status, answer = service.post("/webhook", payload("webhook-PROJECT_UPDATED"))
        assert status == 200 and answer["status"] == "ignored"
    finally:
        stopped = service.stop()
        if label_studio:
            label_studio.close()
        assert stopped == 0, "the service did not stop cleanly on SIGTERM"
