"""Train one project's model from its stored annotations, measure it, and publish it.

A full training measures the spec's model by stratified k-fold or holdout, refits it on every
annotation, and serves it if the promotion policy agrees. An incremental training (when the
spec asks for it) updates the served model with only the annotations written since, measuring
it on them before it learns them (test, then train).
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
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import accuracy_score, f1_score, log_loss
from sklearn.model_selection import StratifiedKFold, cross_val_predict, train_test_split

from .features import BadTaskError, read_row, rows_to_matrix
from .model import build_model

if TYPE_CHECKING:
    from .service import Service

log = logging.getLogger(__name__)

MIN_HOLDOUT = 10  # fewer held-out annotations make a metric that means nothing
KFOLD_BELOW = 200  # evaluation "auto": k-fold under this many annotations, holdout from it on
EPOCHS = 5  # passes of partial_fit when an incremental model is refit in full
HIGHER_IS_BETTER = {"accuracy": True, "f1_macro": True, "f1_weighted": True, "log_loss": False}


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
        served = service.registry.current(project)
        if incremental_possible(service, claimed, served):
            model, record = incremental_update(service, project, served)
        else:
            model, record = full_training(service, project)
        n_annotations = record["n_annotations"]
        serve, reason = promotion_decision(service, project, record)
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


def training_set(service: Service, project: str, after_seq: int = 0) -> tuple[list[list[Any]], list[str], int]:
    """The project's usable annotations written after `after_seq`: feature rows, labels and the
    last seq read."""
    rows: list[list[Any]] = []
    labels: list[str] = []
    last = after_seq
    for data, label, seq in service.store.annotations(project, after_seq):
        last = seq
        try:
            rows.append(read_row(data, service.spec["features"]))
        except BadTaskError:
            continue
        labels.append(label)
    return rows, labels, last


def full_training(service: Service, project: str) -> tuple[Any, dict[str, Any]]:
    rows, labels, last = training_set(service, project)
    check_enough(service, labels)
    metrics = evaluate(service.spec, rows, labels)
    model = fit(service.spec, service.target.labels, rows, labels)
    return model, {"kind": "full", "n_annotations": len(labels), "trained_until": last, "metrics": metrics}


def incremental_update(service: Service, project: str, served: Any) -> tuple[Any, dict[str, Any]]:
    record = service.store.version(served.version)
    assert record is not None
    rows, labels, last = training_set(service, project, after_seq=record["trained_until"])
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
                   "trained_until": last, "metrics": metrics}


def check_enough(service: Service, labels: list[str]) -> None:
    counts = Counter(labels)
    if len(counts) < 2:
        raise NotEnoughDataError(f"need annotations of at least 2 classes, have {dict(counts)}")
    per_class = service.spec.get("training", {}).get("min_per_class", 0)
    short = {label: counts.get(label, 0) for label in service.target.labels if counts.get(label, 0) < per_class}
    if short:
        raise NotEnoughDataError(f"min_per_class is {per_class}; these classes have fewer: {short}")


def fit(spec: dict[str, Any], classes: tuple[str, ...], rows: list[list[Any]], labels: list[str]) -> Any:
    """The spec's model fitted on the rows. An incremental model is fitted with partial_fit and
    `classes` declared (all of the target's), so that later updates may bring classes unseen
    yet; empty `classes` means the ones in the labels."""
    model = build_model(spec)
    X = rows_to_matrix(rows)
    y = np.asarray(labels)
    if not spec.get("training", {}).get("incremental"):
        return model.fit(X, y)
    features = model[:-1].fit(X, y)
    estimator = model.steps[-1][1]
    vectors = features.transform(X)
    order = np.random.default_rng(spec.get("training", {}).get("random_state", 0))
    for _ in range(EPOCHS):
        shuffled = order.permutation(len(y))
        estimator.partial_fit(vectors[shuffled], y[shuffled], classes=list(classes) or np.unique(y))
    return model


def evaluate(spec: dict[str, Any], rows: list[list[Any]], labels: list[str]) -> dict[str, Any]:
    """Accuracy, macro- and weighted F1 and log loss of the spec's model, out of sample."""
    evaluation = spec.get("evaluation", {})
    counts = Counter(labels)
    metrics: dict[str, Any] = {"n_train": len(labels), "class_counts": dict(sorted(counts.items()))}
    method = evaluation.get("method", "auto")
    if method == "auto":
        method = "kfold" if len(labels) < KFOLD_BELOW else "holdout"
    y = np.asarray(labels)
    X = rows_to_matrix(rows)
    seed = spec.get("training", {}).get("random_state", 0)
    if method == "kfold":
        folds = min(evaluation.get("folds", 5), min(counts.values()))
        if folds < 2:
            return {**metrics, "evaluation": "not measured: a class has a single annotation"}
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        proba = cross_val_predict(_Fitter(spec), X, y, cv=splitter, method="predict_proba")
        truth, seen = y, np.unique(y)
        metrics["evaluation"] = f"stratified {folds}-fold cross-validation"
    else:
        n_test = int(round(len(labels) * evaluation.get("holdout_fraction", 0.2)))
        if min(counts.values()) < 2 or not max(len(counts), MIN_HOLDOUT) <= n_test <= len(labels) - len(counts):
            return {**metrics, "evaluation": f"not measured: a holdout needs {MIN_HOLDOUT}+ annotations, 2+ per class"}
        X_train, X_test, y_train, truth = train_test_split(X, y, test_size=n_test, stratify=y, random_state=seed)
        model = _Fitter(spec).fit(X_train, y_train)
        proba, seen = model.predict_proba(X_test), model.classes_
        metrics["evaluation"] = f"stratified holdout of {n_test}"
    predicted = seen[np.argmax(proba, axis=1)]
    metrics.update(
        accuracy=round(float(accuracy_score(truth, predicted)), 4),
        f1_macro=round(float(f1_score(truth, predicted, average="macro")), 4),
        f1_weighted=round(float(f1_score(truth, predicted, average="weighted")), 4),
        log_loss=round(float(log_loss(truth, np.clip(proba, 1e-15, 1), labels=seen)), 4),
    )
    return metrics


class _Fitter(ClassifierMixin, BaseEstimator):
    """The spec's model as fit() trains it, for scikit-learn's cross-validation helpers (which
    may hand it labels encoded as integers: the classes are the ones in y)."""

    def __init__(self, spec: dict[str, Any] | None = None) -> None:
        self.spec = spec

    def fit(self, X: np.ndarray, y: np.ndarray) -> _Fitter:
        self.model_ = fit(self.spec or {}, (), list(X), list(y))
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return self.model_.predict_proba(X)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.model_.predict(X)


def promotion_decision(service: Service, project: str, record: dict[str, Any]) -> tuple[bool, str]:
    """Whether the new model is served, and why."""
    promotion = service.spec.get("promotion", {})
    metric = service.spec.get("evaluation", {}).get("metric", "f1_macro")
    served_version = service.store.served_version(project)
    if served_version is None:
        return True, "the project's first model"
    if record["kind"] == "incremental":
        return True, "an incremental update of the served model"
    if promotion.get("policy", "if_better") == "always":
        return True, "promotion policy: always"
    served = service.store.version(served_version)
    new_value = record["metrics"].get(metric)
    old_value = served["metrics"].get(metric) if served else None
    if new_value is None or old_value is None:
        return True, f"{metric} not measured for both models; serving the newer"
    tolerance = promotion.get("tolerance", 0.02)
    better = HIGHER_IS_BETTER[metric]
    ok = new_value >= old_value - tolerance if better else new_value <= old_value + tolerance
    comparison = f"{metric} {new_value} against {old_value} for {served_version} (tolerance {tolerance})"
    return ok, comparison if ok else f"worse: {comparison}"


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
