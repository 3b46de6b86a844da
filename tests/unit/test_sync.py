"""Backfill, export import and auto-labeling against a stand-in Label Studio on 127.0.0.1."""

from __future__ import annotations

import json

import backend.labelstudio
import pytest
from backend.events import handle_webhook
from backend.labelstudio import LabelStudio, LabelStudioError
from backend.sync import autolabel, backfill, import_export
from fake_label_studio import LEGACY, PAT, FakeLabelStudio
from test_training import WORDS, make_service, train


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch):
    monkeypatch.setattr(backend.labelstudio, "BACKOFF_SECONDS", 0.01)


def ls_tasks(count: int, annotated_every: int = 2) -> list[dict]:
    tasks = []
    for i in range(1, count + 1):
        label = "pos" if i % 2 else "neg"
        task = {"id": i, "project": 1, "data": {"text": f"{WORDS[label][i % 5]} {WORDS[label][(i + 2) % 5]} {i}"},
                "annotations": [], "predictions": []}
        if i % annotated_every == 0 or i % annotated_every == 1 and i < 8:
            task["annotations"] = [{"id": 100 + i, "task": i, "project": 1, "was_cancelled": False,
                                    "result": [{"from_name": "mood", "to_name": "text", "type": "choices",
                                                "value": {"choices": [label]}}]}]
        tasks.append(task)
    return tasks


def annotated(tasks: list[dict]) -> int:
    return sum(bool(t["annotations"]) for t in tasks)


@pytest.mark.parametrize("key", [LEGACY, PAT])
def test_backfill_pages_through_with_either_token(tmp_path, key):
    service = make_service(tmp_path)
    tasks = ls_tasks(47)
    with FakeLabelStudio(tasks) as ls:
        ls.access_uses = 2  # access tokens expire fast: the client must refresh and go on
        outcome = backfill(service, "1", LabelStudio(ls.url, key), page_size=10)
    assert outcome["stored"] == annotated(tasks) == service.store.count_annotations("1")
    assert sorted(set(ls.pages_requested())) == [1, 2, 3, 4, 5]
    if key == PAT:  # one exchange at the start, then one each time the access token expired
        assert ls.requests.count(("POST", "/api/token/refresh/")) >= 3
    else:
        assert ls.pages_requested() == [1, 2, 3, 4, 5]


def test_a_wrong_key_is_a_clear_error(tmp_path):
    service = make_service(tmp_path)
    with FakeLabelStudio(ls_tasks(10)) as ls:
        with pytest.raises(LabelStudioError, match="LABEL_STUDIO_API_KEY"):
            backfill(service, "1", LabelStudio(ls.url, "wrong"))
        with pytest.raises(LabelStudioError, match="personal access token"):
            backfill(service, "1", LabelStudio(ls.url, "a.b.c"))
    assert service.store.count_annotations("1") == 0


def test_a_dropped_connection_is_retried_then_resumed(tmp_path):
    service = make_service(tmp_path)
    tasks = ls_tasks(50)
    with FakeLabelStudio(tasks) as ls:
        ls.drop_pages = {2: 1}  # once: the retry gets it
        backfill(service, "1", LabelStudio(ls.url, LEGACY), page_size=10)
        assert service.store.count_annotations("1") == annotated(tasks)
    service = make_service(tmp_path / "second")
    with FakeLabelStudio(tasks) as ls:
        ls.drop_pages = {3: 100}  # every time: the run stops, and a rerun resumes at page 3
        with pytest.raises(LabelStudioError):
            backfill(service, "1", LabelStudio(ls.url, LEGACY), page_size=10)
        stored_before = service.store.count_annotations("1")
        assert 0 < stored_before < annotated(tasks)
        ls.drop_pages = {}
        ls.requests.clear()
        outcome = backfill(service, "1", LabelStudio(ls.url, LEGACY), page_size=10)
    assert outcome["resumed_at_page"] == 3 and ls.pages_requested()[0] == 3
    assert service.store.count_annotations("1") == annotated(tasks)


def test_start_training_backfills_once_then_trains(tmp_path):
    with FakeLabelStudio(ls_tasks(40)) as ls:
        service = make_service(tmp_path, {"LABEL_STUDIO_URL": ls.url, "LABEL_STUDIO_API_KEY": LEGACY})
        status, answer = handle_webhook(service, {"action": "START_TRAINING", "project": {"id": 1}})
        assert status == 201 and answer["job"]
        assert not service.registry.served_version("1").endswith("untrained")
        assert ls.model_version == service.registry.served_version("1")  # Label Studio follows it
        ls.requests.clear()
        handle_webhook(service, {"action": "START_TRAINING", "project": {"id": 1}})
        # backfilled already: the one page read is the new version's predictions being uploaded
        assert ls.pages_requested() == [1] and ("PATCH", "/api/projects/1/") in ls.requests
        assert ls.model_version == service.registry.served_version("1")


def test_import_export_file(tmp_path):
    """Fails if the import reports annotations it did not store (or stored them wrong)."""
    service = make_service(tmp_path)
    tasks = ls_tasks(20)
    path = tmp_path / "export.json"
    path.write_text(json.dumps(tasks))
    assert import_export(service, path, None) == {"1": {"stored": annotated(tasks), "unusable": 0}}
    expected = {a["id"]: (t["data"], a["result"][0]["value"]["choices"][0]) for t in tasks for a in t["annotations"]}
    assert service.store.annotation_ids("1") == set(expected)
    stored = sorted((data["text"], answer) for data, answer, _ in service.store.annotations("1"))
    assert stored == sorted((data["text"], answer) for data, answer in expected.values())


def test_autolabel_uploads_predictions_and_confident_annotations_and_resumes(tmp_path):
    """Fails if the threshold is ignored: no annotation made from a confident prediction, or one
    made from a prediction scored below the threshold."""
    from backend.predictor import predict_tasks

    service = make_service(tmp_path)
    tasks = ls_tasks(60, annotated_every=3)
    service.store.save_annotations("1", [
        {"id": a["id"], "task": t["id"], "data": t["data"], "answer": a["result"][0]["value"]["choices"][0]}
        for t in tasks for a in t["annotations"]], [])
    version = train(service)["version"]
    unlabeled = [t["id"] for t in tasks if not t["annotations"]]
    # a threshold amid the scores of the first 15 unlabeled tasks: some above it, some below
    scores = sorted(r["score"] for r in predict_tasks(service, "1", [t for t in tasks if not t["annotations"]][:15]))
    threshold = scores[len(scores) // 2]
    assert scores[0] < threshold
    with FakeLabelStudio(tasks) as ls:
        client = LabelStudio(ls.url, LEGACY, max_rate=500)
        outcome = autolabel(service, "1", client, batch_size=10, threshold=threshold, limit=15)
        assert outcome["tasks"] == 15 and outcome["model_version"] == version
        first_pass = [t for t in tasks if t["predictions"]]
        assert len(first_pass) == 15 and {t["id"] for t in first_pass} <= set(unlabeled)
        for task in tasks:
            for prediction in task["predictions"]:
                assert prediction["model_version"] == version and 0 <= prediction["score"] <= 1
        confident = [t for t in first_pass if t["predictions"][0]["score"] >= threshold]
        unsure = [t for t in first_pass if t["predictions"][0]["score"] < threshold]
        assert confident and unsure
        for task in confident:  # one annotation, made from its prediction and marked as such
            assert len(task["annotations"]) == 1, task
            (prediction,), (annotation,) = task["predictions"], task["annotations"]
            assert annotation["parent_prediction"] == prediction["id"]
            assert annotation["result"] == [{**r, "origin": "prediction"} for r in prediction["result"]]
        assert not any(t["annotations"] for t in unsure)  # a prediction only
        assert outcome["annotations"] == len(confident)
        # a second run skips what is done and finishes the rest
        rest = autolabel(service, "1", client, batch_size=10)
    assert {t["id"] for t in tasks if t["predictions"]} == set(unlabeled)
    # still unlabeled: the rest and the unsure ones, whose predictions are not made again
    assert rest["tasks"] == len(unlabeled) - len(confident) and rest["predictions"] == len(unlabeled) - 15
    assert rest["annotations"] == 0
    assert all(len([p for p in t["predictions"] if p["model_version"] == version]) == 1 for t in tasks
               if t["id"] in unlabeled)


def test_first_contact_imports_what_label_studio_has_then_trains(tmp_path):
    from backend.queue import enqueue_first_contact
    from backend.sync import first_contact_due

    service = make_service(tmp_path)
    with FakeLabelStudio(ls_tasks(40)) as ls:
        assert first_contact_due(service, "1")
        enqueue_first_contact(service, "1", ls.url, LEGACY)  # Huey's immediate mode: runs now
        assert service.store.count_annotations("1") == annotated(ls.tasks)
        contact = service.store.contact("1")
        assert contact["status"] == "imported" and contact["stored"] == annotated(ls.tasks)
        assert not service.registry.served_version("1").endswith("untrained")  # the policy trained
        assert not first_contact_due(service, "1")  # once per project
        # with the token proved, Label Studio's prediction source follows the served version
        assert ls.model_version == service.registry.served_version("1")
        unlabeled = [t for t in ls.tasks if not t["annotations"]]
        assert all(any(p["model_version"] == ls.model_version for p in t["predictions"]) for t in unlabeled)


def test_first_contact_with_a_refused_token_says_what_to_set(tmp_path):
    from backend.queue import enqueue_first_contact
    from backend.status import status_page
    from backend.sync import first_contact_due

    service = make_service(tmp_path)
    with FakeLabelStudio(ls_tasks(10)) as ls:
        enqueue_first_contact(service, "1", ls.url, "a-disabled-legacy-token")
    contact = service.store.contact("1")
    assert contact["status"] == "failed" and "LABEL_STUDIO_API_KEY" in contact["problem"]
    assert "401" in contact["problem"]
    assert not first_contact_due(service, "1")  # not again at every /setup...
    service.store.set_contact("1", **{**contact, "at": contact["at"] - 3600})
    assert first_contact_due(service, "1")  # ...but a while later
    service.store.save_annotations("1", [{"id": 1, "task": 1, "data": {"text": "x"}, "answer": "pos"}], [])
    assert "Existing annotations not imported" in status_page(service)
    assert not first_contact_due(service, "1")  # it has annotations now: webhooks work


def test_a_full_backfill_removes_annotations_deleted_in_label_studio(tmp_path):
    service = make_service(tmp_path)
    tasks = ls_tasks(30)
    with FakeLabelStudio(tasks) as ls:
        backfill(service, "1", LabelStudio(ls.url, LEGACY), page_size=10)
        assert service.store.count_annotations("1") == annotated(tasks)
        deleted = next(t for t in tasks if t["annotations"])
        deleted["annotations"] = []  # deleted while the backend was offline
        outcome = backfill(service, "1", LabelStudio(ls.url, LEGACY), page_size=10, restart=True)
    assert outcome["removed"] == 1 and service.store.count_annotations("1") == annotated(tasks)
    assert 100 + deleted["id"] not in service.store.annotation_ids("1")


def test_autolabel_annotates_the_predictions_the_backend_uploaded_itself(tmp_path):
    from backend.sync import follow_served_version

    service = make_service(tmp_path)
    tasks = ls_tasks(40)
    with FakeLabelStudio(tasks) as ls:
        backfill(service, "1", LabelStudio(ls.url, LEGACY))
        train(service)
        follow_served_version(service, "1", LabelStudio(ls.url, LEGACY))  # every unlabeled task predicted
        before = sum(len(t["predictions"]) for t in ls.tasks)
        outcome = autolabel(service, "1", LabelStudio(ls.url, LEGACY), threshold=0.5)
        assert outcome["predictions"] == 0 and outcome["annotations"] > 0  # no new prediction...
        assert sum(len(t["predictions"]) for t in ls.tasks) == before
        made = [a for t in ls.tasks for a in t["annotations"] if a.get("parent_prediction")]
        ids = {p["id"] for t in ls.tasks for p in t["predictions"]}
        assert len(made) == outcome["annotations"] and all(a["parent_prediction"] in ids for a in made)
        again = autolabel(service, "1", LabelStudio(ls.url, LEGACY), threshold=0.5)
        assert again["annotations"] == 0  # ...and a rerun adds nothing


def test_one_upload_to_a_project_at_a_time(tmp_path):
    from backend.sync import UploadBusy, follow_served_version, uploading

    service = make_service(tmp_path)
    store = service.store
    assert store.take_lease("upload:1", "a", 60) and store.take_lease("upload:1", "a", 60)  # renewable
    assert not store.take_lease("upload:1", "b", 60)
    with FakeLabelStudio(ls_tasks(10)) as ls, pytest.raises(UploadBusy):
        follow_served_version(service, "1", LabelStudio(ls.url, LEGACY))  # the worker does not wait
    store.release_lease("upload:1", "b")  # not b's: nothing happens
    assert not store.take_lease("upload:1", "b", 60)
    store.release_lease("upload:1", "a")
    with uploading(service, "1", wait_seconds=0):
        assert not store.take_lease("upload:1", "c", 60)
    assert store.take_lease("upload:1", "c", 0.01)  # released at the end of the block; expires too
