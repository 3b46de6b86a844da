"""Train one project's model from its stored annotations, measure it, and publish it.

A full training measures the spec's model (evaluation.py), refits it on every annotation, and
serves it if the promotion gate agrees. An incremental training (when the spec asks for it)
updates the served model with only the annotations written since, measuring it on them before
it learns them (test, then train).
"""

from __future__ import annotations

import copy
import ctypes
import ctypes.util
import logging
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

import numpy as np
import sklearn
from sklearn.metrics import accuracy_score

from .evaluation import compare, evaluate, promotion_decision
from .features import BadTaskError, read_row, rows_to_matrix
from .model import fit_model
from .registry import ModelLoadError

if TYPE_CHECKING:
    from .service import Service

log = logging.getLogger(__name__)


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
        served = served_model(service, project)
        if incremental_possible(service, claimed, served):
            model, record = incremental_update(service, project, served)
        else:
            model, record = full_training(service, project, served)
        n_annotations = record["n_annotations"]
        serve, reason = promotion_decision(service.spec, served is not None, record)
        record.update(trigger=trigger, reason=reason, duration_s=round(time.perf_counter() - started, 4))
        keep = service.spec.get("promotion", {}).get("keep_versions", 10)
        version = service.registry.save(project, model, record, serve, claimed, keep)
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
    store.end_run(run_id, "succeeded", duration, n_annotations, version=version,
                  detail=None if serve else f"not served: {reason}")
    log.info("project %s: %s training made %s on %d annotations in %.2fs (%s); %s",
             project, record["kind"], version, n_annotations, duration, _summary(record["metrics"]),
             "serving it" if serve else f"NOT serving it: {reason}")
    return {"status": "succeeded", "version": version, "served": serve, "reason": reason,
            "metrics": record["metrics"]}


def served_model(service: Service, project: str) -> Any:
    """The served model, or None if there is none or it cannot be loaded (a training then
    replaces it rather than failing too)."""
    try:
        return service.registry.current(project)
    except ModelLoadError as exc:
        log.warning("project %s: %s; training a new model from scratch", project, exc)
        return None


def incremental_possible(service: Service, claimed: dict[str, Any], served: Any) -> bool:
    """An incremental update is possible when the spec asks for it, a served model exists,
    nothing since the last full training needs a refit (a changed or deleted annotation, which
    a model cannot unlearn, or a forced training), and the policy's count of updates is not
    reached."""
    training = service.spec.get("training", {})
    return (
        bool(training.get("incremental"))
        and served is not None
        and claimed["rewrites"] == 0
        and claimed["updates"] < training.get("full_refit_every", 20)
    )


def training_set(service: Service, project: str, after_seq: int = 0) -> tuple[list[list[Any]], list[str], list[int]]:
    """The project's usable annotations written after `after_seq`: feature rows, labels and
    their seqs (write order)."""
    rows: list[list[Any]] = []
    labels: list[str] = []
    seqs: list[int] = []
    for data, label, seq in service.store.annotations(project, after_seq):
        try:
            rows.append(read_row(data, service.spec["features"]))
        except BadTaskError:
            continue
        labels.append(label)
        seqs.append(seq)
    return rows, labels, seqs


def full_training(service: Service, project: str, served: Any) -> tuple[Any, dict[str, Any]]:
    rows, labels, seqs = training_set(service, project)
    check_enough(service, labels)
    metrics, out_of_sample = evaluate(service.spec, rows, labels)
    gated = service.spec.get("promotion", {}).get("policy", "if_better") == "if_better"
    if served is not None and gated:
        served_until = service.store.version(served.version)["trained_until"]
        metrics["comparison"] = compare(served, served_until, seqs, rows, labels, out_of_sample)
    model = fit_model(service.spec, service.target.labels, rows, labels)
    return model, {"kind": "full", "n_annotations": len(labels), "trained_until": max(seqs), "metrics": metrics}


def incremental_update(service: Service, project: str, served: Any) -> tuple[Any, dict[str, Any]]:
    record = service.store.version(served.version)
    assert record is not None
    rows, labels, seqs = training_set(service, project, after_seq=record["trained_until"])
    if not labels:
        raise NotEnoughDataError("no new annotation since the served model")
    X = rows_to_matrix(rows)
    y = np.asarray(labels)
    with sklearn.config_context(assume_finite=True):
        seen = served.model.predict(X)  # test on the new annotations before learning them
    model = copy.deepcopy(served.model)
    estimator = model.steps[-1][1]
    estimator.partial_fit(model[:-1].transform(X), y, classes=list(service.target.labels))
    metrics = {
        "n_train": record["n_annotations"] + len(labels),
        "n_new": len(labels),
        "prequential_accuracy": round(float(accuracy_score(y, seen)), 4),
        "evaluation": "prequential: the served model's accuracy on the new annotations, before the update",
    }
    return model, {"kind": "incremental", "n_annotations": record["n_annotations"] + len(labels),
                   "trained_until": max(seqs), "metrics": metrics}


def check_enough(service: Service, labels: list[str]) -> None:
    counts = Counter(labels)
    if len(counts) < 2:
        raise NotEnoughDataError(f"need annotations of at least 2 classes, have {dict(counts)}")
    per_class = service.spec.get("training", {}).get("min_per_class", 0)
    short = {label: counts.get(label, 0) for label in service.target.labels if counts.get(label, 0) < per_class}
    if short:
        raise NotEnoughDataError(f"min_per_class is {per_class}; these classes have fewer: {short}")


def _summary(metrics: dict[str, Any]) -> str:
    keys = ("accuracy", "f1_macro", "log_loss", "prequential_accuracy")
    shown = ", ".join(f"{k} {metrics[k]}" for k in keys if k in metrics)
    return shown or metrics.get("evaluation", "not measured")


def release_memory() -> None:
    """Give the heap that a training freed back to the system (glibc keeps it otherwise), so
    a long-running service does not sit at its training peak."""
    name = ctypes.util.find_library("c")
    try:
        ctypes.CDLL(name).malloc_trim(0)
    except (OSError, AttributeError, TypeError):
        pass  # not glibc: nothing to do
