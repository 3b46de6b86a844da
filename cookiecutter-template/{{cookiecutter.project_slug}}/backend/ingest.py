"""Turn Label Studio payloads into stored records: project ids in every form Label Studio
sends them, and annotations the target and the features can read (for the rest, the reason
each is skipped, counted per project in /metrics)."""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .features import BadTaskError, read_row
from .targets import UnreadableAnswer

if TYPE_CHECKING:
    from .service import Service

log = logging.getLogger(__name__)
ID_MIN, ID_MAX = -(2**63), 2**63 - 1  # what SQLite's INTEGER holds
PROJECT_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")  # what a project's model folder may be named


def is_id(value: Any) -> bool:
    """Whether a value can be a Label Studio id: an integer (not a boolean) of 64 bits."""
    return isinstance(value, int) and not isinstance(value, bool) and ID_MIN <= value <= ID_MAX


def project_key(value: Any) -> str | None:
    """A project's key from any form Label Studio uses: 3, "3", "3.1700000000" or {"id": 3};
    None for anything else (a key is letters, digits, - and _: "default", "7")."""
    if isinstance(value, dict):
        value = value.get("id")
    if is_id(value):
        return str(value)
    if isinstance(value, str):
        key = value.strip().split(".", 1)[0]
        return key if PROJECT_KEY.fullmatch(key) else None
    return None


def read_annotation(service: Service, annotation: dict[str, Any],
                    task: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """(the stored form of an annotation, None), or (None, why it cannot teach the model
    anything): cancelled (skipped), without an answer the target can read, or on a task
    whose data the features cannot read."""
    if annotation.get("was_cancelled"):
        return None, "cancelled"
    try:
        answer = service.target.answer(annotation.get("result"))
    except UnreadableAnswer as exc:
        log.info("annotation %s not used: %s", annotation.get("id"), exc)
        return None, exc.reason
    if not (task.get("id") is None or is_id(task.get("id"))):
        log.info("annotation %s not used: its task id is not an integer", annotation.get("id"))
        return None, "no-task-id"
    data = task.get("data")
    try:
        answer = service.target.check_answer(answer, read_row(data, service.config.features))
    except BadTaskError as exc:
        log.info("annotation %s not used: %s", annotation.get("id"), exc)
        return None, "unreadable-task-data"
    except UnreadableAnswer as exc:
        log.info("annotation %s not used: %s", annotation.get("id"), exc)
        return None, exc.reason
    return {"id": annotation["id"], "task": task.get("id"), "data": data, "answer": answer}, None


def store_tasks(service: Service, project: str, tasks: Iterable[dict[str, Any]]) -> tuple[int, int]:
    """Record every annotation of these tasks (export format). Returns (stored, not usable)."""
    records, skipped = [], Counter()
    for task in tasks:
        annotations = task.get("annotations")
        for annotation in annotations if isinstance(annotations, list) else []:
            if not isinstance(annotation, dict) or not is_id(annotation.get("id")):
                skipped["no-annotation-id"] += 1
                continue
            record, reason = read_annotation(service, annotation, task)
            if record is None:
                skipped[reason] += 1
            else:
                records.append(record)
    service.store.save_annotations(project, records, [], skipped)
    return len(records), sum(skipped.values())
