"""Train one project's model from its stored annotations, measure it, and publish it."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split

from .features import BadTaskError, read_row, rows_to_matrix
from .model import build_model

if TYPE_CHECKING:
    from .service import Service

log = logging.getLogger(__name__)


MIN_HOLDOUT = 10  # fewer held-out annotations make a metric that means nothing


class NotEnoughDataError(ValueError):
    """The annotations cannot train a classifier yet."""


def train_project(service: Service, project: str, trigger: str) -> dict[str, Any]:
    """Run the project's queued training. Returns what happened, as stored in `runs`."""
    store = service.store
    status, claimed = store.claim_training(project)
    if status != "claimed":
        return {"status": status}
    assert claimed is not None
    run_id = store.start_run(project, trigger)
    started = time.perf_counter()
    n_annotations = None
    try:
        rows, labels = training_set(service, project)
        n_annotations = len(labels)
        model, metrics = fit_and_measure(service.spec, rows, labels)
        version = service.registry.save(project, model, n_annotations, metrics)
    except NotEnoughDataError as exc:
        store.finish_training(project, changes_back=claimed["changes"])
        store.end_run(run_id, "skipped", time.perf_counter() - started, n_annotations, detail=str(exc))
        log.info("project %s: training skipped: %s", project, exc)
        return {"status": "skipped", "detail": str(exc)}
    except Exception as exc:
        store.finish_training(project, changes_back=claimed["changes"])
        detail = f"{type(exc).__name__}: {exc}"
        store.end_run(run_id, "failed", time.perf_counter() - started, n_annotations, detail=detail)
        log.exception("project %s: training failed; still serving the previous model", project)
        return {"status": "failed", "detail": detail}
    finally:
        release_memory()
    duration = time.perf_counter() - started
    store.end_run(run_id, "succeeded", duration, n_annotations, version=version)
    log.info("project %s: trained %s on %d annotations in %.2fs %s",
             project, version, n_annotations, duration, metrics)
    return {"status": "succeeded", "version": version, "metrics": metrics}


def training_set(service: Service, project: str) -> tuple[list[list[Any]], list[str]]:
    """The project's usable annotations as feature rows and labels."""
    rows: list[list[Any]] = []
    labels: list[str] = []
    for data, label in service.store.annotations(project):
        try:
            rows.append(read_row(data, service.spec["features"]))
        except BadTaskError:
            continue
        labels.append(label)
    return rows, labels


def fit_and_measure(spec: dict[str, Any], rows: list[list[Any]], labels: list[str]) -> tuple[Any, dict[str, Any]]:
    """Measure the spec's model on a stratified holdout, then fit it on every annotation."""
    counts = Counter(labels)
    if len(counts) < 2:
        raise NotEnoughDataError(f"need annotations of at least 2 classes, have {dict(counts)}")
    training = spec.get("training", {})
    metrics: dict[str, Any] = {"n_train": len(labels), "class_counts": dict(sorted(counts.items()))}
    fraction = training.get("holdout_fraction", 0.2)
    n_test = int(round(len(labels) * fraction))
    if fraction > 0 and min(counts.values()) >= 2 and max(len(counts), MIN_HOLDOUT) <= n_test <= len(labels) - len(counts):
        X = rows_to_matrix(rows)
        y = np.asarray(labels)
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=n_test, stratify=y, random_state=training.get("random_state", 0)
        )
        predicted = build_model(spec).fit(X_train, y_train).predict(X_test)
        metrics.update(
            holdout_size=len(y_test),
            accuracy=round(float(accuracy_score(y_test, predicted)), 4),
            f1_macro=round(float(f1_score(y_test, predicted, average="macro")), 4),
        )
    model = build_model(spec).fit(rows_to_matrix(rows), np.asarray(labels))
    return model, metrics


def release_memory() -> None:
    """Give the heap that a training freed back to the system (glibc keeps it otherwise), so
    a long-running service does not sit at its training peak."""
    name = ctypes.util.find_library("c")
    try:
        getattr(ctypes.CDLL(name), "malloc_trim")(0)
    except (OSError, AttributeError, TypeError):
        pass  # not glibc: nothing to do
