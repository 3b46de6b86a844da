"""`<Choices choice="multiple">`: any set of the tag's choices per task (multi-label).

The estimator is fitted one-vs-rest, one binary model per choice (for incremental training, one
model per choice updated with partial_fit). A choice is predicted when its probability reaches
its decision threshold: a fixed number, or, with `prediction.threshold: tuned`, the threshold
that maximizes the choice's F1 on the out-of-sample predictions of the last evaluation.

Outputs have one column per choice, in the labeling config's order: the probability rescaled
so that the choice's threshold maps to 0.5 (piecewise linear, so the order of tasks is kept).
A choice is in the prediction when its output is 0.5 or more; no choice at all is a valid
prediction, with an empty result.
"""

from __future__ import annotations

import json
import warnings
from collections import Counter
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.metrics import f1_score, hamming_loss, jaccard_score
from sklearn.multiclass import OneVsRestClassifier
from sklearn.multioutput import MultiOutputClassifier

from ..labelconfig import ControlTag
from .base import MIN_HOLDOUT, Target, UnreadableAnswer

DEFAULT_THRESHOLD = 0.5
THRESHOLD_GRID = np.round(np.arange(0.05, 0.951, 0.05), 2)


class MultiLabelClassifier(ClassifierMixin, BaseEstimator):
    """Any scikit-learn classifier made multi-label: one binary copy of it per choice, with a
    decision threshold per choice. `fit` takes an indicator matrix (tasks x choices)."""

    def __init__(self, estimator: Any = None, threshold: float = DEFAULT_THRESHOLD) -> None:
        self.estimator = estimator
        self.threshold = threshold

    def fit(self, X: Any, Y: np.ndarray) -> MultiLabelClassifier:
        with warnings.catch_warnings():  # a choice without positives yet is learnt as never chosen
            warnings.filterwarnings("ignore", "Label not .* is present in all training examples")
            self.model_ = OneVsRestClassifier(clone(self.estimator)).fit(X, Y)
        self._fitted(Y)
        return self

    def partial_fit(self, X: Any, Y: np.ndarray) -> MultiLabelClassifier:
        if not hasattr(self, "model_"):
            self.model_ = MultiOutputClassifier(clone(self.estimator))
            self._fitted(Y)
        self.model_.partial_fit(X, Y, classes=[np.array([0, 1])] * Y.shape[1])
        return self

    def _fitted(self, Y: np.ndarray) -> None:
        self.classes_ = np.arange(Y.shape[1])
        self.thresholds_ = np.full(Y.shape[1], float(self.threshold))

    def predict_proba(self, X: Any) -> np.ndarray:
        """The probability of each choice (tasks x choices)."""
        proba = self.model_.predict_proba(X)
        if isinstance(proba, list):  # MultiOutputClassifier: one (tasks x 2) array per choice
            return np.column_stack([p[:, -1] for p in proba])
        return proba

    def predict(self, X: Any) -> np.ndarray:
        return (self.predict_proba(X) >= self.thresholds_).astype(int)


def rescale(proba: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Probabilities mapped so that each column's threshold goes to 0.5, 0 to 0 and 1 to 1."""
    t = np.clip(thresholds, 1e-6, 1 - 1e-6)
    below = proba / (2 * t)
    above = 0.5 + (proba - t) / (2 * (1 - t))
    return np.clip(np.where(proba < t, below, above), 0.0, 1.0)


def best_thresholds(Y: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """Per column, the grid threshold with the best F1 (ties: the one nearest 0.5); 0.5 for a
    column without positives or negatives, where F1 cannot choose."""
    thresholds = np.full(Y.shape[1], DEFAULT_THRESHOLD)
    by_closeness = THRESHOLD_GRID[np.argsort(np.abs(THRESHOLD_GRID - 0.5), kind="stable")]
    for j in range(Y.shape[1]):
        if Y[:, j].min() == Y[:, j].max():
            continue
        f1s = [f1_score(Y[:, j], proba[:, j] >= t, zero_division=0) for t in by_closeness]
        thresholds[j] = by_closeness[int(np.argmax(f1s))]
    return thresholds


class MultipleChoice(Target):
    kind = "multiple_choice"
    tags = ("Choices",)
    choice = "multiple"
    metrics = {"f1_samples": True, "f1_micro": True, "f1_macro": True, "jaccard_samples": True,
               "hamming_loss": False}
    default_metric = "f1_samples"
    prequential_metric = "f1_samples"
    score_meaning = ("the confidence of the model's least certain choice: each choice is a yes/no "
                     "decision at its threshold, scored by `active_learning.strategy` (top probability, "
                     "margin or one minus entropy of the yes/no pair)")
    min_labels = 2

    def __init__(self, control: ControlTag, options: dict[str, Any] | None = None) -> None:
        super().__init__(control, options)
        self.threshold = self.options.get("threshold", DEFAULT_THRESHOLD)
        self.tuned = self.threshold == "tuned"

    # annotations -----------------------------------------------------------------------------

    def answer(self, result: Any) -> list[str]:
        value = self.region_value(result)
        choices = value.get("choices")
        if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
            raise UnreadableAnswer("no-answer", f"the region of '{self.name}' has no list of choices")
        if not choices:
            raise UnreadableAnswer("no-answer", f"no choice of '{self.name}'")
        unknown = [c for c in choices if c not in self.index]
        if unknown:
            raise UnreadableAnswer("unknown-choice", f"{unknown[0]!r} is not a choice of '{self.name}'")
        return sorted(set(choices), key=self.index.__getitem__)

    def result(self, answer: Any) -> list[dict[str, Any]]:
        return [self.region({"choices": list(answer)})]

    def encode(self, answers: list[Any]) -> np.ndarray:
        Y = np.zeros((len(answers), len(self.labels)), dtype=int)
        for i, answer in enumerate(answers):
            Y[i, [self.index[label] for label in answer]] = 1
        return Y

    # the model -------------------------------------------------------------------------------

    def wrap(self, estimator: Any) -> Any:
        fixed = DEFAULT_THRESHOLD if self.tuned else float(self.threshold)
        return MultiLabelClassifier(estimator, threshold=fixed)

    def partial_fit(self, estimator: Any, X: Any, y: np.ndarray, every_class: bool = True) -> None:
        estimator.partial_fit(X, y)

    def outputs(self, model: Any, X: Any) -> np.ndarray:
        last = model.steps[-1][1] if hasattr(model, "steps") else model
        return rescale(model.predict_proba(X), last.thresholds_)

    def tune(self, model: Any, answers: list[Any], outputs: np.ndarray) -> dict[str, Any]:
        """With tuned thresholds: set the fitted model's thresholds from out-of-sample outputs
        (made by models at threshold 0.5, so the outputs are the probabilities themselves)."""
        if not self.tuned or len(answers) < MIN_HOLDOUT:
            return {}
        thresholds = best_thresholds(self.encode(answers), outputs)
        model.steps[-1][1].thresholds_ = thresholds
        return {"thresholds": dict(zip(self.labels, (float(t) for t in thresholds)))}

    # evaluation ------------------------------------------------------------------------------

    def decisions(self, Y: np.ndarray, outputs: np.ndarray) -> np.ndarray:
        """The predicted label sets. With tuned thresholds, each half of the tasks is decided
        with the thresholds tuned on the other half, so the metric does not flatter itself."""
        if not self.tuned or len(Y) < 2 * MIN_HOLDOUT:
            return (outputs >= 0.5).astype(int)
        halves = np.arange(len(Y)) % 2 == 0
        decided = np.zeros_like(Y)
        for half in (halves, ~halves):
            decided[half] = outputs[half] >= best_thresholds(Y[~half], outputs[~half])
        return decided

    def scores(self, answers: list[Any], outputs: np.ndarray) -> dict[str, float]:
        Y = self.encode(answers)
        P = self.decisions(Y, outputs)
        return {
            "f1_samples": round(float(f1_score(Y, P, average="samples", zero_division=0)), 4),
            "f1_micro": round(float(f1_score(Y, P, average="micro", zero_division=0)), 4),
            "f1_macro": round(float(f1_score(Y, P, average="macro", zero_division=0)), 4),
            "jaccard_samples": round(float(jaccard_score(Y, P, average="samples", zero_division=0)), 4),
            "hamming_loss": round(float(hamming_loss(Y, P)), 4),
        }

    def summary(self, answers: list[Any]) -> dict[str, Any]:
        positives = Counter(label for answer in answers for label in answer)
        return {"positives": {label: positives.get(label, 0) for label in self.labels}}

    def _positives(self, counts: dict[str, int]) -> Counter[str]:
        positives: Counter[str] = Counter()
        for key, n in counts.items():
            for label in json.loads(key):
                positives[label] += n
        return positives

    def gaps(self, counts: dict[str, int]) -> list[str]:
        positives = self._positives(counts)
        missing = [label for label in self.labels if not positives.get(label)]
        return [f"no annotation chooses yet: {', '.join(missing)}"] if missing else []

    def readiness(self, counts: dict[str, int], min_per_class: int) -> str | None:
        total = sum(counts.values())
        positives = self._positives(counts)
        if not any(0 < positives.get(label, 0) < total for label in self.labels):
            return "need annotations whose choices differ: every choice is in all of them or in none"
        short = {label: positives.get(label, 0) for label in self.labels if positives.get(label, 0) < min_per_class}
        if short:
            return f"min_per_class is {min_per_class} (annotations choosing each); these choices have fewer: {short}"
        return None

    # predictions -----------------------------------------------------------------------------

    def confidence(self, outputs: np.ndarray, strategy: str) -> np.ndarray:
        """The confidence of the least certain choice: every choice is a yes/no decision at 0.5,
        scored by the strategy as a two-class probability, and the task gets the lowest."""
        p = np.clip(outputs, 0.0, 1.0)
        if strategy == "least_confidence":
            per_choice = np.maximum(p, 1 - p)  # in [0.5, 1]
        elif strategy == "margin":
            per_choice = np.abs(2 * p - 1)
        elif strategy == "entropy":
            with np.errstate(divide="ignore", invalid="ignore"):
                h = -(np.where(p > 0, p * np.log2(p), 0.0) + np.where(p < 1, (1 - p) * np.log2(1 - p), 0.0))
            per_choice = 1.0 - h
        else:
            raise ValueError(f"unknown active-learning strategy '{strategy}'")
        return np.clip(per_choice.min(axis=1), 0.0, 1.0)

    def regions(self, output: np.ndarray) -> list[dict[str, Any]]:
        chosen = [label for label, value in zip(self.labels, output) if value >= 0.5]
        return [self.region({"choices": chosen})] if chosen else []

    def regions_of(self, outputs: np.ndarray) -> list[list[dict[str, Any]]]:
        labels, rows = self.labels, (np.asarray(outputs) >= 0.5).tolist()
        chosen = [[label for label, on in zip(labels, row) if on] for row in rows]
        return [[self.region({"choices": labels_on})] if labels_on else [] for labels_on in chosen]
