"""Webhooks (backend/events.py): what each action records, which project an annotation goes
to, what is counted as stored, removed or skipped, and when a training is queued."""

from __future__ import annotations

import backend.events
import pytest
from backend.events import LOOKUP_CHUNK, handle_webhook
from backend.payloads import PayloadError
from test_trainer import make_service, records

LS = {"LABEL_STUDIO_URL": "http://127.0.0.1:9", "LABEL_STUDIO_API_KEY": "key"}  # never called here


def result(choice: str) -> list[dict]:
    return [{"from_name": "mood", "to_name": "text", "type": "choices", "value": {"choices": [choice]}}]


def annotation(id_: int, choice: str = "pos", task: int | None = None, **fields) -> dict:
    return {"id": id_, "task": task if task is not None else id_, "result": result(choice), **fields}


def task(id_: int, text: str = "great day", **fields) -> dict:
    return {"id": id_, "data": {"text": text}, **fields}


@pytest.fixture
def service(tmp_path):
    """A service that never trains on its own (min_annotations is high)."""
    return make_service(tmp_path, training={"min_annotations": 1000})


def created(service, annotations, tasks, project=None, action="ANNOTATIONS_CREATED"):
    payload = {"action": action, "annotation": annotations, "task": tasks}
    if project is not None:
        payload["project"] = project
    return handle_webhook(service, payload)


def test_an_annotation_is_stored_under_its_project(service):
    """ANNOTATION_CREATED stores the annotation (its task's data, its answer) and answers 200
    with what it did; no training is due yet."""
    status, body = created(service, annotation(1, "neg"), task(1, "bad day"), {"id": 3},
                           action="ANNOTATION_CREATED")
    assert (status, body) == (200, {"status": "ok", "stored": 1, "removed": 0, "training": {"3": None}})
    assert service.store.annotations("3") == [({"text": "bad day"}, "neg", 1)]


def test_the_project_comes_from_the_annotation_then_the_task_then_the_payload(service):
    """An annotation's own project wins over its task's, which wins over the payload's."""
    created(service, annotation(1, project=5), task(1, project=6), 7)
    created(service, annotation(2), task(2, project=6), 7)
    created(service, annotation(3), task(3), 7)
    assert {p: service.store.annotation_ids(p) for p in ("5", "6", "7")} == {"5": {1}, "6": {2}, "7": {3}}
    with pytest.raises(PayloadError, match="annotation 4 has no project"):
        created(service, annotation(4), task(4))
    assert service.store.count_annotations() == 3


def test_bulk_annotations_find_their_own_task(service):
    """In a bulk payload each annotation reads the data of the task it names; a single task
    serves an annotation that names another id; with several tasks and no match there is no
    data, and the annotation is skipped as unreadable."""
    created(service, [annotation(1, task=11), annotation(2, "neg", task=12)],
            [task(12, "bad"), task(11, "good")], 1)
    assert sorted(service.store.annotations("1"), key=lambda a: a[2]) == [({"text": "good"}, "pos", 1),
                                                                          ({"text": "bad"}, "neg", 2)]
    created(service, annotation(3, task=99), task(13, "only"), 1)
    assert service.store.annotations("1", after_seq=2) == [({"text": "only"}, "pos", 3)]
    status, body = created(service, annotation(4, task=99), [task(14), task(15)], 1)
    assert body["stored"] == 0 and body["training"] == {}
    assert service.store.skipped("1") == {"unreadable-task-data": 1}


def test_unusable_annotations_are_counted_and_remove_what_was_stored(service):
    """A cancelled annotation or one without a usable answer is not stored; its reason is
    counted, and an update that makes a stored annotation unusable removes it."""
    created(service, [annotation(1), annotation(2)], [task(1), task(2)], 1)
    status, body = created(service, [annotation(1, was_cancelled=True), annotation(3, "maybe")],
                           [task(1), task(3)], 1, action="ANNOTATION_UPDATED")
    assert body == {"status": "ok", "stored": 0, "removed": 1, "training": {"1": None}}
    assert service.store.annotation_ids("1") == {2}
    assert service.store.skipped("1") == {"cancelled": 1, "unknown-choice": 1}
    status, body = created(service, annotation(4, was_cancelled=True), task(4), 1)
    assert body == {"status": "ok", "stored": 0, "removed": 0, "training": {}}  # nothing changed
    created(service, [annotation(5, was_cancelled=True), annotation(6, was_cancelled=True)], [task(5), task(6)], 1)
    assert service.store.skipped("1") == {"cancelled": 4, "unknown-choice": 1}  # both counted


def test_removals_add_up_over_the_projects_of_a_payload(service):
    """An update that makes annotations of two projects unusable removes one from each: the
    answer counts both."""
    created(service, [annotation(1, project=1), annotation(2, project=2)], [task(1), task(2)])
    status, body = created(service, [annotation(1, project=1, was_cancelled=True),
                                     annotation(2, project=2, was_cancelled=True)], [task(1), task(2)],
                           action="ANNOTATION_UPDATED")
    assert body["removed"] == 2 and service.store.count_annotations() == 0


def test_a_bulk_payload_is_applied_per_project(service):
    """Annotations of several projects in one payload are stored in each, and each project
    that changed is considered for training."""
    status, body = created(service, [annotation(1, project=1), annotation(2, project=2), annotation(3, project=1)],
                           [task(1), task(2), task(3)])
    assert body == {"status": "ok", "stored": 3, "removed": 0, "training": {"1": None, "2": None}}
    assert service.store.annotation_ids("1") == {1, 3} and service.store.annotation_ids("2") == {2}


def test_annotations_queue_a_training_once_the_policy_asks(tmp_path):
    """When the policy is met, the webhook queues a training (run at once by Huey's immediate
    mode here) and answers with its job id."""
    service = make_service(tmp_path, training={"min_annotations": 4, "retrain_every": 1})
    notes = records(1, 4)
    status, body = created(service, [annotation(r["id"], r["answer"]) for r in notes],
                           [task(r["id"], r["data"]["text"]) for r in notes], 1)
    job = body["training"]["1"]
    assert isinstance(job, str) and job
    assert service.store.runs("1")[0]["trigger"] == "ANNOTATIONS_CREATED"
    assert service.store.served_version("1") is not None


def test_deleted_annotations_are_removed_from_their_project(service):
    """ANNOTATIONS_DELETED removes the stored annotations (each id once), counts them, and
    ignores ids the backend never stored."""
    created(service, [annotation(i) for i in range(1, 5)], [task(i) for i in range(1, 5)], 1)
    payload = {"action": "ANNOTATIONS_DELETED", "annotations": [{"id": 2}, {"id": 2}, {"id": 3}, {"id": 99}]}
    assert handle_webhook(service, payload) == (200, {"status": "ok", "stored": 0, "removed": 2,
                                                      "training": {"1": None}})
    assert service.store.annotation_ids("1") == {1, 4}
    assert service.store.project("1")["rewrites"] == 2  # a model cannot unlearn them: a full refit next
    nothing = {"action": "ANNOTATIONS_DELETED", "annotations": {"id": 42}}
    assert handle_webhook(service, nothing) == (200, {"status": "ok", "stored": 0, "removed": 0, "training": {}})


def test_a_deletion_across_projects_charges_each_project_its_own(service):
    """One ANNOTATIONS_DELETED holding annotations of two projects removes each from its own
    project and counts a change and a rewrite in each (so each retrains in full). Fails if a
    project's removal deletes another project's annotations (the first one was charged all)."""
    created(service, [annotation(1, project=1), annotation(2, project=2), annotation(3, project=2)],
            [task(1), task(2), task(3)])
    status, body = handle_webhook(service, {"action": "ANNOTATIONS_DELETED", "annotations": [{"id": 1}, {"id": 2}]})
    assert status == 200 and body["removed"] == 2 and set(body["training"]) == {"1", "2"}
    assert service.store.annotation_ids("1") == set() and service.store.annotation_ids("2") == {3}
    assert service.store.project("1")["rewrites"] == 1 and service.store.project("2")["rewrites"] == 1


@pytest.mark.parametrize("position", [0, LOOKUP_CHUNK + 7, 2 * LOOKUP_CHUNK + 48])
def test_a_large_deletion_finds_annotations_in_every_chunk_of_ids(service, position):
    """Thousands of deleted ids are looked up in chunks (SQLite's variable limit): a project
    whose only deleted annotation comes first, in a middle chunk or in the last is found."""
    ids = list(range(1, 2 * LOOKUP_CHUNK + 50))
    stored = ids[position]
    created(service, [annotation(stored), annotation(5000)], [task(stored), task(5000)], 1)  # 5000: not deleted
    payload = {"action": "ANNOTATIONS_DELETED", "annotations": [{"id": i} for i in ids]}
    status, body = handle_webhook(service, payload)
    assert body["removed"] == 1 and body["training"] == {"1": None}
    assert service.store.annotation_ids("1") == {5000}


def test_a_deletion_queues_a_training_named_for_it(tmp_path):
    """A deletion that the policy answers with a training runs it as 'ANNOTATIONS_DELETED'."""
    service = make_service(tmp_path, training={"min_annotations": 4, "retrain_every": 1})
    service.store.save_annotations("1", records(1, 6), [])
    status, body = handle_webhook(service, {"action": "ANNOTATIONS_DELETED", "annotations": [{"id": 1}]})
    assert body["removed"] == 1 and isinstance(body["training"]["1"], str)
    assert service.store.runs("1")[0]["trigger"] == "ANNOTATIONS_DELETED"


def test_start_training_trains_at_once_without_label_studio(tmp_path):
    """START_TRAINING without Label Studio's API configured queues a forced, full training of
    what the store has (run at once here) and answers 201 with its job."""
    service = make_service(tmp_path)
    service.store.save_annotations("1", records(1, 6), [])
    status, body = handle_webhook(service, {"action": "START_TRAINING", "project": {"id": 1}})
    assert status == 201 and body["status"] == "ok" and isinstance(body["job"], str)
    run = service.store.runs("1")[0]
    assert run["trigger"] == "START_TRAINING" and run["status"] == "succeeded"
    assert service.store.versions("1")[-1]["kind"] == "full"


def test_start_training_backfills_a_project_first_when_label_studio_is_reachable(tmp_path, monkeypatch):
    """With Label Studio's API configured, the first START_TRAINING of a project backfills it
    (the backfill then trains); once backfilled, START_TRAINING trains directly."""
    service = make_service(tmp_path, LS)
    backfills = []
    monkeypatch.setattr(backend.events, "enqueue_backfill",
                        lambda queued_by, project: backfills.append((queued_by, project)) or "backfill-job")
    status, body = handle_webhook(service, {"action": "START_TRAINING", "project": 1})
    assert (status, body, backfills) == (201, {"status": "ok", "job": "backfill-job"}, [(service, "1")])
    assert service.store.runs("1") == []
    service.store.set_cursor("backfilled:1", True)
    # one class only: the training is skipped, so no new version for Label Studio to follow
    service.store.save_annotations("1", [r for r in records(1, 6) if r["answer"] == "pos"], [])
    status, body = handle_webhook(service, {"action": "START_TRAINING", "project": "1"})
    assert status == 201 and body["job"] != "backfill-job" and len(backfills) == 1
    run = service.store.runs("1")[0]
    assert run["trigger"] == "START_TRAINING" and run["status"] == "skipped"


def test_other_actions_are_ignored_and_bad_payloads_refused(service):
    """An action the service does not act on is answered 'ignored'; a payload without the
    shape Label Studio sends raises PayloadError before anything is stored."""
    assert handle_webhook(service, {"action": "PROJECT_UPDATED", "project": 1}) == (
        200, {"status": "ignored", "action": "PROJECT_UPDATED"})
    for bad in ({}, {"action": "START_TRAINING"}, {"action": "ANNOTATION_CREATED", "task": task(1)}):
        with pytest.raises(PayloadError):
            handle_webhook(service, bad)
    assert service.store.count_annotations() == 0
