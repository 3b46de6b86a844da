"""What Label Studio's webhooks mean for the service: record annotations, then maybe train.

Nothing here trains: /webhook answers within Label Studio's 1-second timeout whatever the
store's size, and training runs on the queue.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

from .features import BadTaskError, read_row
from .queue import enqueue_backfill, request_training
from .sync import backfilled
from .targets import UnreadableAnswer

if TYPE_CHECKING:
    from .service import Service

log = logging.getLogger(__name__)

ANNOTATION_ACTIONS = ("ANNOTATION_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_CREATED")


class PayloadError(ValueError):
    """A webhook payload that does not have the shape Label Studio sends."""


def can_backfill() -> bool:
    """Whether Label Studio's API is configured, so annotations made before the backend was
    connected can be pulled."""
    return bool(os.environ.get("LABEL_STUDIO_URL") and os.environ.get("LABEL_STUDIO_API_KEY"))


def project_key(value: Any) -> str | None:
    """A project's key from any form Label Studio uses: 3, "3", "3.1700000000" or {"id": 3}."""
    if isinstance(value, dict):
        value = value.get("id")
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip().split(".", 1)[0]
    return None


def handle_webhook(service: Service, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Apply one webhook; returns the HTTP status and JSON body to answer with."""
    action = payload.get("action")
    if action == "START_TRAINING":
        project = project_key(payload.get("project"))
        if project is None:
            raise PayloadError("START_TRAINING without a project id")
        if can_backfill() and not backfilled(service, project):
            job = enqueue_backfill(service, project)  # pulls the project's annotations, then trains
        else:
            job = request_training(service, project, "START_TRAINING", force=True)
        return 201, {"status": "ok", "job": job}
    if action in ANNOTATION_ACTIONS:
        return 200, record_annotations(service, payload, action)
    if action == "ANNOTATIONS_DELETED":
        return 200, delete_annotations(service, payload)
    return 200, {"status": "ignored", "action": action}


def record_annotations(service: Service, payload: dict[str, Any], trigger: str) -> dict[str, Any]:
    annotations = _as_list(payload.get("annotation"), "annotation")
    tasks = {t.get("id"): t for t in _as_list(payload.get("task"), "task") if isinstance(t, dict)}
    by_project: dict[str, tuple[list[dict[str, Any]], list[int]]] = {}
    for annotation in annotations:
        if not isinstance(annotation, dict) or not isinstance(annotation.get("id"), int):
            raise PayloadError("an annotation without an integer id")
        task = tasks.get(annotation.get("task")) or (next(iter(tasks.values())) if len(tasks) == 1 else {})
        project = (
            project_key(annotation.get("project"))
            or project_key(task.get("project"))
            or project_key(payload.get("project"))
        )
        if project is None:
            raise PayloadError(f"annotation {annotation['id']} has no project")
        records, removed = by_project.setdefault(project, ([], []))
        record = usable_record(service, annotation, task)
        if record is None:
            removed.append(annotation["id"])
        else:
            records.append(record)
    return _apply(service, by_project, trigger)


def delete_annotations(service: Service, payload: dict[str, Any]) -> dict[str, Any]:
    ids = [a.get("id") for a in _as_list(payload.get("annotations"), "annotations") if isinstance(a, dict)]
    ids = [i for i in ids if isinstance(i, int)]
    by_project = {project: ([], ids) for project in service.store.project_of_annotations(ids)}
    return _apply(service, by_project, "ANNOTATIONS_DELETED")


def usable_record(service: Service, annotation: dict[str, Any], task: dict[str, Any]) -> dict[str, Any] | None:
    """The stored form of an annotation, or None when it cannot teach the model anything:
    cancelled (skipped), without an answer the target can read, or on a task whose data the
    features cannot read."""
    if annotation.get("was_cancelled"):
        return None
    try:
        answer = service.target.answer(annotation.get("result"))
    except UnreadableAnswer as exc:
        log.info("annotation %s not used: %s", annotation["id"], exc)
        return None
    data = task.get("data")
    try:
        read_row(data, service.spec["features"])
    except BadTaskError as exc:
        log.info("annotation %s not used: %s", annotation["id"], exc)
        return None
    return {"id": annotation["id"], "task": task.get("id"), "data": data, "answer": answer}


def _apply(service: Service, by_project: dict[str, tuple[list[dict[str, Any]], list[int]]],
           trigger: str) -> dict[str, Any]:
    stored = removed = 0
    jobs: dict[str, str | None] = {}
    for project, (records, removals) in by_project.items():
        changed = service.store.save_annotations(project, records, removals)
        stored += len(records)
        removed += changed - len(records)
        if changed:
            jobs[project] = request_training(service, project, trigger)
    return {"status": "ok", "stored": stored, "removed": removed, "training": jobs}


def _as_list(value: Any, name: str) -> list[Any]:
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return [value]
    raise PayloadError(f"'{name}' must be an object or a list")
