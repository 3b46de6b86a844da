"""Measure a model out of sample, and decide whether a new model may replace the served one.

The promotion gate compares the two models on the same annotations, ones neither has learned:
those written since the served model was trained. The served model predicts them as it is; the
new one is measured on them out of fold (each predicted by a fit that did not see it). Until
enough such annotations exist, there is no evidence against the newer model, and it is served.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import accuracy_score, f1_score, log_loss
from sklearn.model_selection import StratifiedKFold, cross_val_predict, train_test_split

from .features import rows_to_matrix
from .model import fit_model

MIN_HOLDOUT = 10  # fewer held-out annotations make a metric that means nothing
KFOLD_BELOW = 200  # evaluation "auto": k-fold under this many annotations, holdout from it on
MIN_COMPARE = 20  # fresh annotations the gate needs before it may keep a new model out
HIGHER_IS_BETTER = {"accuracy": True, "f1_macro": True, "f1_weighted": True, "log_loss": False}


def scores(truth: np.ndarray, proba: np.ndarray, classes: np.ndarray) -> dict[str, float]:
    """Accuracy, macro- and weighted F1 and log loss of probabilities over `classes`."""
    predicted = classes[np.argmax(proba, axis=1)]
    every = np.union1d(classes, np.unique(truth))
    full = np.zeros((len(proba), len(every)))
    full[:, np.searchsorted(every, classes)] = proba  # classes a model never saw get 0
    full = np.clip(full, 1e-15, 1)
    return {
        "accuracy": round(float(accuracy_score(truth, predicted)), 4),
        "f1_macro": round(float(f1_score(truth, predicted, average="macro", zero_division=0)), 4),
        "f1_weighted": round(float(f1_score(truth, predicted, average="weighted", zero_division=0)), 4),
        "log_loss": round(float(log_loss(truth, full / full.sum(axis=1, keepdims=True), labels=every)), 4),
    }


def evaluate(spec: dict[str, Any], rows: list[list[Any]], labels: list[str]) -> tuple[dict[str, Any], Any]:
    """The spec's model measured out of sample on these annotations: its metrics, and a
    function giving out-of-sample probabilities (and their classes) for chosen rows."""
    evaluation = spec.get("evaluation", {})
    counts = Counter(labels)
    metrics: dict[str, Any] = {"n_train": len(labels), "class_counts": dict(sorted(counts.items()))}
    method = evaluation.get("method", "auto")
    if method == "auto":
        method = "kfold" if len(labels) < KFOLD_BELOW else "holdout"
    X, y = rows_to_matrix(rows), np.asarray(labels)
    seed = spec.get("training", {}).get("random_state", 0)

    def refit_without(indexes: list[int]) -> tuple[np.ndarray, np.ndarray]:
        keep = np.setdiff1d(np.arange(len(y)), indexes)
        model = fit_model(spec, (), list(X[keep]), list(y[keep]))
        return model.predict_proba(X[indexes]), model.classes_

    if method == "kfold":
        folds = min(evaluation.get("folds", 5), min(counts.values()))
        if folds < 2:
            return {**metrics, "evaluation": "not measured: a class has a single annotation"}, refit_without
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        proba = cross_val_predict(_Fitter(spec), X, y, cv=splitter, method="predict_proba")
        classes = np.unique(y)
        metrics.update(evaluation=f"stratified {folds}-fold cross-validation", **scores(y, proba, classes))
        return metrics, lambda indexes: (proba[indexes], classes)
    n_test = int(round(len(labels) * evaluation.get("holdout_fraction", 0.2)))
    if min(counts.values()) < 2 or not max(len(counts), MIN_HOLDOUT) <= n_test <= len(labels) - len(counts):
        return ({**metrics, "evaluation": f"not measured: a holdout needs {MIN_HOLDOUT}+ annotations, 2+ per class"},
                refit_without)
    _, test = train_test_split(np.arange(len(y)), test_size=n_test, stratify=y, random_state=seed)
    proba, classes = refit_without(list(test))
    metrics.update(evaluation=f"stratified holdout of {n_test}", **scores(y[test], proba, classes))
    return metrics, refit_without


class _Fitter(ClassifierMixin, BaseEstimator):
    """The spec's model as fit_model trains it, for scikit-learn's cross-validation helpers
    (which may hand it labels encoded as integers: the classes are the ones in y)."""

    def __init__(self, spec: dict[str, Any] | None = None) -> None:
        self.spec = spec

    def fit(self, X: np.ndarray, y: np.ndarray) -> _Fitter:
        self.model_ = fit_model(self.spec or {}, (), list(X), list(y))
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return self.model_.predict_proba(X)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.model_.predict(X)


def compare(served: Any, served_until: int, seqs: list[int], rows: list[list[Any]], labels: list[str],
            out_of_sample: Any) -> dict[str, Any]:
    """Both models' metrics on the annotations written after the served model was trained;
    only their number when there are too few to judge."""
    fresh = [i for i, seq in enumerate(seqs) if seq > served_until]
    if len(fresh) < MIN_COMPARE:
        return {"annotations": len(fresh)}
    truth = np.asarray(labels)[fresh]
    candidate_proba, candidate_classes = out_of_sample(fresh)
    served_proba = served.model.predict_proba(rows_to_matrix([rows[i] for i in fresh]))
    return {
        "annotations": len(fresh),
        "new": scores(truth, candidate_proba, np.asarray(candidate_classes)),
        "served": scores(truth, served_proba, np.asarray(served.classes)),
    }


def promotion_decision(spec: dict[str, Any], has_served: bool, record: dict[str, Any]) -> tuple[bool, str]:
    """Whether a new model is served, and why."""
    promotion = spec.get("promotion", {})
    metric = spec.get("evaluation", {}).get("metric", "f1_macro")
    if not has_served:
        return True, "the project's first model"
    if record["kind"] == "incremental":
        return True, "an incremental update of the served model"
    if promotion.get("policy", "if_better") == "always":
        return True, "promotion policy: always"
    comparison = record["metrics"].get("comparison", {})
    if "new" not in comparison:
        return True, (f"{comparison.get('annotations', 0)} annotations since the served model, "
                      f"{MIN_COMPARE} needed to compare: no evidence against the newer")
    new, old = comparison["new"][metric], comparison["served"][metric]
    tolerance = promotion.get("tolerance", 0.02)
    ok = new >= old - tolerance if HIGHER_IS_BETTER[metric] else new <= old + tolerance
    text = (f"{metric} {new} against {old} for the served model, on the {comparison['annotations']} "
            f"annotations since it was trained (tolerance {tolerance})")
    return ok, text if ok else f"worse: {text}"
