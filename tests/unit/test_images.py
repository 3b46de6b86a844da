"""Tasks' images in the runtime (backend/images.py, wired into /predict and training) against a
real HTTP server on 127.0.0.1 that plays Label Studio 1.23 (PROTOCOL.md §1.8a):
/data/local-files/?d=<path> serves a file to `Authorization: Token <key>`, answers 401 without
it and 404 for a file it does not have; /api/tasks/ answers the import a /setup starts (the
project has no annotation yet)."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest
from backend.app import create_app
from backend.cache import data_key
from backend.fetch import Credentials
from backend.predictor import predict_tasks
from backend.settings import load_settings
from backend.trainer import train_project
from backend.wiring import create_service
from helpers import TEMPLATE_PROJECT
from label_studio_files import LabelStudioFiles
from mlgen import load_spec
from PIL import Image

TOKEN = "setup-token-0123456789"
CONFIG = ('<View><Image name="image" value="$image"/><Choices name="shape" toName="image">'
          '<Choice value="bar"/><Choice value="square"/></Choices></View>')
SLOW_SECONDS = 3.0


def picture(shape: str, k: int) -> bytes:
    """A 16 x 16 PNG: a vertical bar or a square, dark on white, moved a little by k."""
    image = Image.new("L", (16, 16), 255)
    box = (6 + k % 3, 1, 9 + k % 3, 15) if shape == "bar" else (3 + k % 3, 4, 11 + k % 3, 12)
    image.paste(0, box)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


SHAPES = ["bar", "square"]


@pytest.fixture
def label_studio():
    files = {f"images/{shape}{k}.png": picture(shape, k) for shape in SHAPES for k in range(12)}
    files["slow/bar0.png"] = picture("bar", 0)
    stand_in = LabelStudioFiles(files.get, TOKEN, slow=SLOW_SECONDS)
    yield stand_in
    stand_in.close()


def url(name: str) -> str:
    return f"/data/local-files/?d={name}"


def make_service(tmp_path: Path, environ: dict[str, str] | None = None):
    """A service on an image spec (8 x 8 grey pixels, logistic regression), Huey in immediate mode."""
    spec = {"version": 1, "name": "shapes", "labeling_config": CONFIG,
            "features": [{"field": "image", "type": "image", "size": [8, 8]}],
            "model": {"class": "LogisticRegression", "params": {"C": 10}},
            "training": {"debounce_seconds": 0, "min_annotations": 4}, "evaluation": {"folds": 2}}
    path = tmp_path / "backend.yaml"
    path.write_text(json.dumps(spec))
    normalized = load_spec(path)
    return create_service(normalized, load_settings(normalized, {"MODEL_DIR": str(tmp_path / "state"), **(environ or {})}),
                          immediate=True)


def annotate(service, names: list[tuple[str, str]], project: str = "1") -> None:
    """Store one annotation per (file name, shape), as a webhook would."""
    records = [{"id": i, "task": i, "data": {"image": url(name)}, "answer": shape}
               for i, (name, shape) in enumerate(names, start=1)]
    service.store.save_annotations(project, records, [])


def train(service, project: str = "1") -> dict:
    service.store.mark_pending(project, "job")
    return train_project(service, project, "test")


def with_environment_credentials(label_studio: LabelStudioFiles) -> dict[str, str]:
    return {"LABEL_STUDIO_URL": label_studio.url, "LABEL_STUDIO_API_KEY": TOKEN}


@pytest.mark.parametrize("cache_size", ["1000", "0"])
def test_a_batch_with_a_missing_image_predicts_the_others_and_gives_it_an_empty_prediction(
        tmp_path, label_studio, caplog, cache_size):
    """Fails if an image that cannot be read fails the batch or gets a prediction, if its empty
    prediction is cached, if it is not logged once with its task and reason, or if the images
    are not fetched with the token; with the prediction cache on and off."""
    service = make_service(tmp_path, {**with_environment_credentials(label_studio), "PREDICTION_CACHE_SIZE": cache_size})
    annotate(service, [(f"images/{shape}{k}.png", shape) for k in range(8) for shape in SHAPES])
    assert train(service)["status"] == "succeeded"
    version = service.registry.served_version("1")
    tasks = [{"id": 21, "data": {"image": url("images/bar9.png")}},
             {"id": 22, "data": {"image": url("images/gone.png")}},
             {"id": 23, "data": {"image": url("images/square10.png")}}]
    with caplog.at_level(logging.INFO, logger="backend"):
        results = predict_tasks(service, "1", tasks)
    assert [r["result"][0]["value"]["choices"] for r in (results[0], results[2])] == [["bar"], ["square"]]
    assert results[1] == {"result": [], "score": 0.0, "model_version": version}
    cache = service.predictions
    if cache_size != "0":
        assert cache.get("1", version, data_key(tasks[0]["data"])) == results[0]
        assert cache.get("1", version, data_key(tasks[1]["data"])) is None  # the image may come back
    else:
        assert cache is None
    lines = [r.getMessage() for r in caplog.records if "gone.png" in r.getMessage()]
    assert len(lines) == 1 and "task 22" in lines[0] and "HTTP 404" in lines[0], lines
    assert {auth for _, auth in label_studio.image_requests()} == {f"Token {TOKEN}"}


def test_training_leaves_out_the_annotations_whose_image_cannot_be_read_and_counts_them(
        tmp_path, label_studio, caplog):
    """Fails if an unreadable image fails the training, is learnt from, or is not counted in the
    version's record; or if a fetched image is downloaded again (the disk cache)."""
    service = make_service(tmp_path, with_environment_credentials(label_studio))
    names = [(f"images/{shape}{k}.png", shape) for k in range(6) for shape in SHAPES] + [("images/gone.png", "bar")]
    annotate(service, names)
    with caplog.at_level(logging.INFO, logger="backend"):
        outcome = train(service)
    assert outcome["status"] == "succeeded", outcome
    record = service.store.version(outcome["version"])
    assert record["n_annotations"] == len(names) - 1 and record["metrics"]["images_unread"] == 1
    assert any("annotation seq 13" in r.getMessage() and "gone.png" in r.getMessage() for r in caplog.records)
    downloads = len(label_studio.image_requests())
    assert train(service)["status"] == "succeeded"  # a forced retraining reads them from the disk cache
    assert [p for p, _ in label_studio.image_requests()[downloads:]] == [url("images/gone.png")]


def test_without_credentials_in_the_environment_those_setup_sent_are_used(tmp_path, label_studio):
    """Fails if the backend cannot read the images with the address and token that /setup sent,
    when the environment has none."""
    service = make_service(tmp_path)
    app = create_app(service)
    assert service.images.credentials("1") is None
    status, _ = call(app, "POST", "/setup", {"project": "1.1700000000", "schema": CONFIG,
                                             "hostname": label_studio.url, "access_token": TOKEN})
    assert status == 200
    assert service.images.credentials("1") == Credentials(label_studio.url, TOKEN)
    annotate(service, [(f"images/{shape}{k}.png", shape) for k in range(6) for shape in SHAPES])
    assert train(service)["status"] == "succeeded"
    status, answer = call(app, "POST", "/predict", {"project": "1.1700000000",
                                                    "tasks": [{"id": 9, "data": {"image": url("images/square11.png")}}]})
    assert status == 200 and answer["results"][0]["result"][0]["value"]["choices"] == ["square"]
    assert {auth for _, auth in label_studio.image_requests()} == {f"Token {TOKEN}"}


def test_setup_credentials_are_used_when_the_backend_had_annotations_before_connecting(tmp_path, label_studio):
    """Fails if /setup's address and token serve images only after a first-contact import: a
    backend that learnt from webhooks before its first /setup imports nothing, yet must read
    the images; a later /setup with a new token replaces the old one."""
    service = make_service(tmp_path)
    app = create_app(service)
    annotate(service, [(f"images/{shape}{k}.png", shape) for k in range(6) for shape in SHAPES])
    status, _ = call(app, "POST", "/setup", {"project": "1.1700000000", "schema": CONFIG,
                                             "hostname": label_studio.url, "access_token": "old-token"})
    assert status == 200 and service.store.contact("1") is None  # nothing to import
    call(app, "POST", "/setup", {"project": "1.1700000000", "schema": CONFIG,
                                 "hostname": label_studio.url, "access_token": TOKEN})
    assert service.images.credentials("1") == Credentials(label_studio.url, TOKEN)
    assert train(service)["status"] == "succeeded"


def test_a_batch_waits_for_its_images_no_longer_than_its_deadline(tmp_path, label_studio):
    """Fails if one slow image holds a /predict past the batch's deadline, or costs the others."""
    service = make_service(tmp_path, with_environment_credentials(label_studio))
    annotate(service, [(f"images/{shape}{k}.png", shape) for k in range(6) for shape in SHAPES])
    assert train(service)["status"] == "succeeded"
    service.images.predict_seconds = 0.5
    tasks = [{"id": 1, "data": {"image": url("slow/bar0.png")}}, {"id": 2, "data": {"image": url("images/bar7.png")}}]
    started = time.monotonic()
    results = predict_tasks(service, "1", tasks)
    assert time.monotonic() - started < SLOW_SECONDS - 1
    assert results[0]["result"] == [] and results[1]["result"][0]["value"]["choices"] == ["bar"]


def test_a_project_without_images_never_imports_pillow(tmp_path):
    """Fails if a text project's service, app and predictions import Pillow (its requirements do
    not carry it)."""
    spec = {"version": 1, "name": "moods", "features": [{"field": "text", "type": "text"}],
            "labeling_config": '<View><Text name="text" value="$text"/><Choices name="mood" toName="text">'
                               '<Choice value="pos"/><Choice value="neg"/></Choices></View>',
            "model": {"class": "LogisticRegression"}}
    (tmp_path / "backend.yaml").write_text(json.dumps(spec))
    (tmp_path / "spec.json").write_text(json.dumps(load_spec(tmp_path / "backend.yaml")))
    script = ("import sys\n"
              "from backend.wiring import create_service\n"
              "from backend.app import create_app\n"
              "from backend.predictor import predict_tasks\n"
              "service = create_service()\n"
              "create_app(service)\n"
              "predict_tasks(service, '1', [{'id': 1, 'data': {'text': 'hello'}}])\n"
              "assert service.images is None\n"
              "print(sorted(m for m in sys.modules if m.split('.')[0] in ('PIL', 'skimage')))\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=TEMPLATE_PROJECT, capture_output=True, text=True,
                            env={"BACKEND_SPEC": str(tmp_path / "spec.json"), "MODEL_DIR": str(tmp_path / "state"),
                                 "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"


def call(app: Any, method: str, path: str, body: Any) -> tuple[int, Any]:
    """Call the WSGI app in-process, as Label Studio would over HTTP."""
    data = json.dumps(body).encode()
    environ: dict[str, Any] = {}
    setup_testing_defaults(environ)
    environ.update(REQUEST_METHOD=method, PATH_INFO=path, CONTENT_LENGTH=str(len(data)),
                   CONTENT_TYPE="application/json", **{"wsgi.input": io.BytesIO(data)})
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        seen["status"] = int(status.split()[0])

    payload = b"".join(app(environ, start_response))
    return seen["status"], json.loads(payload)
