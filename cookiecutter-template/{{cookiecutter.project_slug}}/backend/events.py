"""What Label Studio's webhooks mean for the service: record annotations, then maybe train.

Nothing here trains: /webhook answers within Label Studio's 1-second timeout whatever the
store's size, and training runs on the queue.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .ingest import project_key, read_annotation
from .payloads import ANNOTATION_ACTIONS, PayloadError, check_webhook
from .queue import enqueue_backfill, request_training
from .sync import backfilled

if TYPE_CHECKING:
    from .service import Service

log = logging.getLogger(__name__)
LOOKUP_CHUNK = 900  # ids per query: SQLite builds allow 999 bound variables or more


def handle_webhook(service: Service, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Apply one webhook; returns the HTTP status and JSON body to answer with. A payload
    without the shape Label Studio sends raises PayloadError before anything is applied."""
    action = check_webhook(payload)
    if action == "START_TRAINING":
        project = project_key(payload.get("project"))
        if project is None:
            raise PayloadError("START_TRAINING without a project id")
        if service.settings.can_reach_label_studio and not backfilled(service, project):
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
    annotations = _as_list(payload.get("annotation"))
    tasks = {t.get("id"): t for t in _as_list(payload.get("task"))}
    by_project: dict[str, Changes] = {}
    for annotation in annotations:
        task = tasks.get(annotation.get("task")) or (next(iter(tasks.values())) if len(tasks) == 1 else {})
        project = (
            project_key(annotation.get("project"))
            or project_key(task.get("project"))
            or project_key(payload.get("project"))
        )
        if project is None:
            raise PayloadError(f"annotation {annotation['id']} has no project")
        changes = by_project.setdefault(project, Changes())
        record, reason = read_annotation(service, annotation, task)
        if record is None:  # an update may make a stored annotation unusable: it goes
            changes.removed.append(annotation["id"])
            changes.skipped[reason] += 1
        else:
            changes.records.append(record)
    return _apply(service, by_project, trigger)


def delete_annotations(service: Service, payload: dict[str, Any]) -> dict[str, Any]:
    ids = list(dict.fromkeys(a["id"] for a in _as_list(payload.get("annotations"))))
    projects = {project for start in range(0, len(ids), LOOKUP_CHUNK)  # within SQLite's variable limit
                for project in service.store.project_of_annotations(ids[start:start + LOOKUP_CHUNK])}
    by_project = {project: Changes(removed=ids) for project in sorted(projects)}
    return _apply(service, by_project, "ANNOTATIONS_DELETED")


@dataclass
class Changes:
    """What one webhook does to one project's annotations."""

    records: list[dict[str, Any]] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)


def _apply(service: Service, by_project: dict[str, Changes], trigger: str) -> dict[str, Any]:
    stored = removed = 0
    jobs: dict[str, str | None] = {}
    for project, changes in by_project.items():
        changed = service.store.save_annotations(project, changes.records, changes.removed, changes.skipped)
        stored += len(changes.records)
        removed += changed - len(changes.records)
        if changed:
            jobs[project] = request_training(service, project, trigger)
    return {"status": "ok", "stored": stored, "removed": removed, "training": jobs}


def _as_list(value: Any) -> list[Any]:
    """An object or a list of objects (check_webhook has made sure it is one), as a list."""
    return value if isinstance(value, list) else [value]
