"""Fixtures: the service built from this project's spec.json, in a temporary state directory,
with trainings run synchronously (Huey immediate mode) and no debounce, and a client that calls
its WSGI app in-process; and the example task data and answers, for any kind of target, that
every test (tests/test_served.py too, over real HTTP) sends."""

from __future__ import annotations

import base64
import copy
import io
import json
import sys
from pathlib import Path
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from backend.app import StripTrailingSlash, create_app  # noqa: E402
from backend.settings import load_settings  # noqa: E402
from backend.spec import load_spec  # noqa: E402
from backend.wiring import create_service  # noqa: E402

PROJECT = 7


@pytest.fixture
def spec() -> dict[str, Any]:
    spec = copy.deepcopy(load_spec(ROOT / "spec.json"))
    spec["training"].update(debounce_seconds=0, min_annotations=6, retrain_every=3)
    return spec


@pytest.fixture
def make_client(spec, tmp_path, monkeypatch):
    def make(environ: dict[str, str] | None = None) -> Client:
        env = {"MODEL_DIR": str(tmp_path / "state"), **(environ or {})}
        service = create_service(spec, load_settings(spec, env), immediate=True)
        return Client(StripTrailingSlash(create_app(service)), service)

    return make


@pytest.fixture
def client(make_client):
    return make_client()


class Client:
    """Calls the WSGI app in-process, as Label Studio would over HTTP."""

    def __init__(self, app: Any, service: Any) -> None:
        self.app = app
        self.service = service

    def call(self, method: str, path: str, body: Any = None, raw: bytes | None = None,
             auth: tuple[str, str] | None = None, headers: dict[str, str] | None = None) -> Response:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
        environ: dict[str, Any] = {}
        setup_testing_defaults(environ)
        environ.update(REQUEST_METHOD=method, PATH_INFO=path, CONTENT_LENGTH=str(len(data)),
                       CONTENT_TYPE="application/json", **{"wsgi.input": io.BytesIO(data)})
        if auth:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            environ["HTTP_AUTHORIZATION"] = f"Basic {token}"
        for name, value in (headers or {}).items():
            environ["HTTP_" + name.upper().replace("-", "_")] = value
        seen: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            seen.update(status=status, headers={k.lower(): v for k, v in headers})

        payload = b"".join(self.app(environ, start_response))
        return Response(seen["status"], seen["headers"], payload)

    def get(self, path: str, **kw: Any) -> Response:
        return self.call("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Response:
        return self.call("POST", path, body, **kw)


class Response:
    def __init__(self, status: str, headers: dict[str, str], payload: bytes) -> None:
        self.status = status
        self.code = int(status.split()[0])
        self.headers = headers
        self.text = payload.decode("utf-8")
        self.json = json.loads(payload) if "json" in headers.get("content-type", "") else None


def example_answers(target: Any) -> list[Any]:
    """Distinct answers for the target, one per example class: each choice (alone, for multiple
    choice), or three numbers spread over the tag's range."""
    if target.kind == "single_choice":
        return list(target.labels)
    if target.kind == "multiple_choice":
        return [[label] for label in target.labels]
    if target.kind == "spans":  # one entity, at the same place in every example text (example_data)
        return [[[len(cue(i)) + 1, len(cue(i)) + 1 + len(ENTITY), label, ENTITY]] for i, label in enumerate(target.labels)]
    low = target.low if target.low is not None else 0.0
    high = target.high if target.high is not None else low + 100.0
    return [target.as_json(low + (high - low) * share) for share in (0.2, 0.5, 0.8)]


def unreadable_results(target: Any, event: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Annotation results the target cannot learn from, by the reason counted for each."""
    region = event["annotation"]["result"][0]
    if target.kind == "spans":  # an empty result is an answer there: the text has no entity
        return {"bad-offsets": [{**region, "value": {**region["value"], "end": region["value"]["start"]}}],
                "unknown-label": [{**region, "value": {**region["value"], "labels": ["no such label"]}}]}
    if target.kind.endswith("choice"):
        return {"no-answer": [], "unknown-choice": [{**region, "value": {"choices": ["no such choice"]}}]}
    return {"no-answer": [], "not-a-number": [{**region, "value": {target.type: "12"}}]}


def learnt(target: Any, results: list[list[dict[str, Any]]], answers: list[Any]) -> bool:
    """Whether predicted results for the example classes show that the model learnt them: the
    same choices, or numbers in the order of the answers (a regressor fitted incrementally on a
    few annotations need not be close yet, but it must have the direction)."""
    try:
        predicted = [target.answer(result) for result in results]
    except ValueError:  # UnreadableAnswer: no region (an empty prediction)
        return False
    if target.kind in ("single_choice", "multiple_choice", "spans"):
        return predicted == answers
    return all(a < b for a, b in zip(predicted, predicted[1:]))


def example_data(spec: dict[str, Any], label_index: int, k: int) -> dict[str, Any]:
    """Task data that a model can learn the answer from: each example class has its own words,
    numbers, categories and images."""
    data: dict[str, Any] = {}
    for feature in spec["features"]:
        kind = feature["type"]
        if kind == "text":
            value: Any = f"class{label_index} sample{k % 3} word{label_index}x marker{label_index}"
        elif kind == "tokens":
            value = f"{cue(label_index)} {ENTITY} came by on day{k % 3} and left."
        elif kind == "number":
            value = label_index * 10.0 + (k % 5) * 0.1
        elif kind == "image":
            value = example_image(label_index, k)
        else:
            value = f"group{label_index}"
        node = data
        *parents, leaf = feature["field"].split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return data


def example_image(label_index: int, k: int) -> str:
    """A 32 x 32 grey PNG as a data: URI (read with no server): a bright square whose place on a
    4 x 4 grid and whose level tell the class (pixels, gradients and histograms all differ), and
    a faint dot that `k` moves, so that examples of one class are not all the same image."""
    from PIL import Image  # only projects with an image feature have Pillow

    image = Image.new("L", (32, 32), 0)
    column, row = label_index % 4, label_index // 4 % 4
    level = 255 - 16 * (label_index % 12)
    image.paste(level, (column * 8 + 1, row * 8 + 1, column * 8 + 7, row * 8 + 7))
    image.putpixel((k % 8 * 4, 31), 40)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


ENTITY = "Zoë Ramírez"  # a span target's example entity: its label is told by the word before it


def cue(label_index: int) -> str:
    """The word before the example entity that tells its label (the same length for every label)."""
    return f"cue{label_index:03d}"


def annotation_event(spec: dict[str, Any], target: Any, annotation_id: int, label_index: int,
                     action: str = "ANNOTATION_CREATED", project: int = PROJECT) -> dict[str, Any]:
    task = {"id": 1000 + annotation_id, "data": example_data(spec, label_index, annotation_id), "project": project}
    result = target.result(example_answers(target)[label_index])
    annotation = {"id": annotation_id, "result": result, "task": task["id"], "project": project,
                  "was_cancelled": False}
    return {"action": action, "annotation": annotation, "task": task, "project": {"id": project}}
