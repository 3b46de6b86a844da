"""Predictions in Label Studio's format: one per task, in order, never failing the batch."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import sklearn

from .features import BadTaskError, read_row, rows_to_matrix
from .scoring import confidence_scores

if TYPE_CHECKING:
    from .registry import LoadedModel
    from .service import Service

log = logging.getLogger(__name__)


def predict_tasks(service: Service, project: str, tasks: list[Any]) -> list[dict[str, Any]]:
    """A prediction for every task. A task the model cannot read gets an empty result with
    score 0, as does every task before the project's first training."""
    loaded = service.registry.current(project)
    version = loaded.version if loaded else service.registry.served_version(project)
    results = [{"result": [], "score": 0.0, "model_version": version} for _ in tasks]
    if loaded is None:
        return results
    rows, slots = [], []
    for slot, task in enumerate(tasks):
        try:
            rows.append(read_row(task.get("data") if isinstance(task, dict) else None,
                                 service.spec["features"]))
            slots.append(slot)
        except BadTaskError as exc:
            log.info("task %s gets no prediction: %s", _task_id(task), exc)
    if not rows:
        return results
    proba = _probabilities(loaded, rows)
    scores = confidence_scores(np.nan_to_num(proba), service.spec["active_learning"]["strategy"])
    for row_index, slot in enumerate(slots):
        if np.isnan(proba[row_index]).any():
            continue
        label = loaded.classes[int(np.argmax(proba[row_index]))]
        results[slot] = {
            "result": [_region(service, label)],
            "score": round(float(scores[row_index]), 6),
            "model_version": version,
        }
    return results


def _probabilities(loaded: LoadedModel, rows: list[list[Any]]) -> np.ndarray:
    """Class probabilities for all rows at once; if the batch fails, row by row, so one bad
    row costs only its own prediction (its probabilities come back as NaN)."""
    with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
        try:
            return loaded.model.predict_proba(rows_to_matrix(rows))
        except Exception:
            log.exception("batch prediction failed; predicting the %d tasks one by one", len(rows))
        proba = np.full((len(rows), len(loaded.classes)), np.nan)
        for i, row in enumerate(rows):
            try:
                proba[i] = loaded.model.predict_proba(rows_to_matrix([row]))[0]
            except Exception as exc:
                log.info("row %d gets no prediction: %s", i, exc)
        return proba


def _region(service: Service, label: str) -> dict[str, Any]:
    return {
        "from_name": service.target.name,
        "to_name": service.to_name,
        "type": service.target.type,
        "value": {"choices": [label]},
    }


def _task_id(task: Any) -> Any:
    return task.get("id") if isinstance(task, dict) else None
