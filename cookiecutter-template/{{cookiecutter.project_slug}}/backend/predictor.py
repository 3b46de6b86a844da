"""Predictions in Label Studio's format: one per task, in order, never failing the batch."""

from __future__ import annotations

import logging
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

import numpy as np
import sklearn

from .cache import data_key
from .features import BadTaskError, RowReader, rows_to_matrix
from .targets import Target

if TYPE_CHECKING:
    from .images import ImageLoader
    from .registry import LoadedModel
    from .service import Service

log = logging.getLogger(__name__)
SHOWN_UNREADABLE = 3  # unreadable tasks named in a batch's log line


def predict_tasks(service: Service, project: str, tasks: list[Any]) -> list[dict[str, Any]]:
    """A prediction for every task. A task the model cannot read gets an empty result with
    score 0, as does every task before the project's first training."""
    loaded = service.registry.current(project)
    version = loaded.version if loaded else service.registry.served_version(project)
    results: list[dict[str, Any] | None] = [None] * len(tasks)
    if loaded is not None:
        _predict(service, project, loaded, tasks, results)
    return [{"result": [], "score": 0.0, "model_version": version} if result is None else result
            for result in results]


def _predict(service: Service, project: str, loaded: LoadedModel, tasks: list[Any],
             results: list[dict[str, Any] | None]) -> None:
    """Fill in the results of the tasks the model predicts (or the cache holds)."""
    cache, version = service.predictions, loaded.version
    read_row = RowReader(service.config.features)
    rows, slots, keys, unreadable = [], [], [], []
    for slot, task in enumerate(tasks):
        data = task.get("data") if isinstance(task, dict) else None
        if cache is not None:
            key = data_key(data)
            cached = cache.get(project, version, key)
            if cached is not None:
                results[slot] = cached
                continue
        try:
            row = read_row(data)
        except BadTaskError as exc:
            unreadable.append((task, exc))
            continue
        rows.append(row)
        slots.append(slot)
        if cache is not None:
            keys.append(key)
    if unreadable:
        _log_unreadable(unreadable, len(tasks))
    if service.images is not None and rows:
        rows, slots, keys = _with_images(service.images, project, tasks, rows, slots, keys)
    if not rows:
        return
    target = service.target
    outputs = _outputs(target, loaded, rows)
    failed = target.failed(outputs)
    if failed.all():  # the model could not predict any of them (the log says why)
        return
    scores = np.zeros(len(rows))
    scores[~failed] = target.confidence(outputs[~failed], service.config.strategy)
    answered, scores = np.flatnonzero(~failed).tolist(), scores.tolist()
    regions = target.regions_of(outputs[answered] if len(answered) < len(rows) else outputs)
    for row_index, result in zip(answered, regions):
        slot = slots[row_index]
        results[slot] = {"result": result, "score": round(scores[row_index], 6), "model_version": version}
        if cache is not None:
            cache.put(project, version, keys[row_index], results[slot])


def _with_images(images: ImageLoader, project: str, tasks: list[Any], rows: list[list[Any]], slots: list[int],
                 keys: list[bytes]) -> tuple[list[list[Any]], list[int], list[bytes]]:
    """The rows with their images read (backend/images.py), without those whose image cannot be
    read: their tasks keep the empty prediction, which is not cached (the image may come back).
    `keys`: the rows' cache keys, none without a cache."""
    unread = images.load(project, rows, [_task_id(tasks[slot]) for slot in slots])
    kept = [i for i in range(len(rows)) if i not in unread]
    return [rows[i] for i in kept], [slots[i] for i in kept], [keys[i] for i in kept] if keys else keys


def _outputs(target: Target, loaded: LoadedModel, rows: list[list[Any]]) -> np.ndarray:
    """The model's outputs for all rows at once; if the batch fails, row by row, so one bad
    row costs only its own prediction (its outputs come back as NaN). The model's exact fast
    path (fastpath.py) stands in for it when it has one, without scikit-learn's config_context
    (two set_config calls, 3 us): it calls scikit-learn only for the vectorizer's transform of a
    batch of over 16 texts whose vocabulary ngrams.py cannot number, where the checks that
    context skips are a small share."""
    model = loaded.fast or loaded.model
    with nullcontext() if loaded.fast else sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
        try:
            return target.outputs(model, rows_to_matrix(rows))
        except Exception:
            log.exception("batch prediction failed; predicting the %d tasks one by one", len(rows))
        outputs: list[Any] = []
        for i, row in enumerate(rows):
            try:
                outputs.append(target.outputs(model, rows_to_matrix([row]))[0])
            except Exception as exc:
                log.info("row %d gets no prediction: %s", i, exc)
                outputs.append(None)
        return target.stack(outputs)


def _log_unreadable(unreadable: list[tuple[Any, BadTaskError]], count: int) -> None:
    """One line for a batch's unreadable tasks, naming the first few: a line per task was
    most of the time of a batch of bad ones (20,000 tasks of `{}` in a 64 KiB body: 155 ms, 27
    without), and floods the log."""
    if log.isEnabledFor(logging.INFO):
        named = "; ".join(f"task {_task_id(task)}: {exc}" for task, exc in unreadable[:SHOWN_UNREADABLE])
        more = f"; and {len(unreadable) - SHOWN_UNREADABLE} more" if len(unreadable) > SHOWN_UNREADABLE else ""
        log.info("%d of %d tasks get no prediction (%s%s)", len(unreadable), count, named, more)


def _task_id(task: Any) -> Any:
    return task.get("id") if isinstance(task, dict) else None
