"""`<Choices>` with one choice per task: a classifier over the tag's choices.

Outputs are class probabilities with one column per choice, in the labeling config's order
(a choice the model never saw gets 0).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, log_loss
from sklearn.model_selection import StratifiedKFold, train_test_split

from ..scoring import confidence_scores
from .base import MIN_HOLDOUT, Target, UnreadableAnswer


class SingleChoice(Target):
    kind = "single_choice"
    tags = ("Choices",)
    choice = "single"
    metrics = {"accuracy": True, "f1_macro": True, "f1_weighted": True, "log_loss": False}
    default_metric = "f1_macro"
    prequential_metric = "accuracy"
    score_meaning = ("the model's confidence in its choice (`active_learning.strategy`: the top "
                     "probability, the margin between the two likeliest choices, or one minus the "
                     "normalised entropy)")
    fold_name = "stratified"
    min_labels = 2

    # annotations -----------------------------------------------------------------------------

    def answer(self, result: Any) -> str:
        chosen = self._choices(result)
        if chosen[0] not in self.index:
            raise UnreadableAnswer("unknown-choice", f"'{chosen[0]}' is not a choice of '{self.name}'")
        return chosen[0]

    def _choices(self, result: Any) -> list[str]:
        """The choices of the first region of the target that makes any."""
        if isinstance(result, list):
            for region in result:
                if isinstance(region, dict) and region.get("from_name") == self.name:
                    choices = (region.get("value") or {}).get("choices") if isinstance(region.get("value"), dict) else None
                    if isinstance(choices, list) and choices and all(isinstance(c, str) for c in choices):
                        return choices
        raise UnreadableAnswer("no-answer", f"no choice of '{self.name}'")

    def result(self, answer: Any) -> list[dict[str, Any]]:
        return [self.region({"choices": [answer]})]

    def encode(self, answers: list[Any]) -> np.ndarray:
        return np.asarray(answers)

    def partial_fit(self, estimator: Any, X: Any, y: np.ndarray, every_class: bool = True) -> None:
        estimator.partial_fit(X, y, classes=list(self.labels) if every_class else np.unique(y))

    def trained_labels(self, model: Any) -> list[str]:
        return [str(c) for c in model.classes_]

    def outputs(self, model: Any, X: Any) -> np.ndarray:
        proba = model.predict_proba(X)
        columns = [self.index[str(c)] for c in model.classes_]
        if columns == list(range(len(self.labels))):
            return proba
        full = np.zeros((proba.shape[0], len(self.labels)))
        full[:, columns] = proba
        return full

    # evaluation ------------------------------------------------------------------------------

    def scores(self, answers: list[Any], outputs: np.ndarray) -> dict[str, float]:
        labels = np.asarray(self.labels)
        predicted = labels[np.argmax(outputs, axis=1)]
        order = np.argsort(labels)  # log_loss reads the columns in sorted label order
        full = np.clip(outputs[:, order], 1e-15, 1)
        return {
            "accuracy": round(float(accuracy_score(answers, predicted)), 4),
            "f1_macro": round(float(f1_score(answers, predicted, average="macro", zero_division=0)), 4),
            "f1_weighted": round(float(f1_score(answers, predicted, average="weighted", zero_division=0)), 4),
            "log_loss": round(float(log_loss(answers, full / full.sum(axis=1, keepdims=True),
                                             labels=list(labels[order]))), 4),
        }

    def folds(self, answers: list[Any], n_folds: int, seed: int) -> Iterator[tuple[np.ndarray, np.ndarray]] | str:
        n_folds = min(n_folds, min(Counter(answers).values()))
        if n_folds < 2:
            return "not measured: a class has a single annotation"
        splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
        return splitter.split(np.zeros(len(answers)), np.asarray(answers))

    def holdout(self, answers: list[Any], n_test: int, seed: int) -> np.ndarray | str:
        counts = Counter(answers)
        if min(counts.values()) < 2 or not max(len(counts), MIN_HOLDOUT) <= n_test <= len(answers) - len(counts):
            return f"not measured: a holdout needs {MIN_HOLDOUT}+ annotations, 2+ per class"
        _, test = train_test_split(np.arange(len(answers)), test_size=n_test, stratify=np.asarray(answers),
                                   random_state=seed)
        return test

    def summary(self, answers: list[Any]) -> dict[str, Any]:
        return {"class_counts": dict(sorted(Counter(answers).items()))}

    def gaps(self, counts: dict[str, int]) -> list[str]:
        seen = {json.loads(key) for key, n in counts.items() if n}
        missing = [label for label in self.labels if label not in seen]
        return [f"no annotation yet for: {', '.join(missing)}"] if missing else []

    def readiness(self, counts: dict[str, int], min_per_class: int) -> str | None:
        counts = {json.loads(key): n for key, n in counts.items() if n}
        if len(counts) < 2:
            return f"need annotations of at least 2 classes, have {dict(counts)}"
        short = {label: counts.get(label, 0) for label in self.labels if counts.get(label, 0) < min_per_class}
        if short:
            return f"min_per_class is {min_per_class}; these classes have fewer: {short}"
        return None

    # predictions -----------------------------------------------------------------------------

    def confidence(self, outputs: np.ndarray, strategy: str) -> np.ndarray:
        return confidence_scores(outputs, strategy)

    def regions(self, output: np.ndarray) -> list[dict[str, Any]]:
        return [self.region({"choices": [self.labels[int(output.argmax())]]})]

    def regions_of(self, outputs: np.ndarray) -> list[list[dict[str, Any]]]:
        labels = self.labels
        return [[self.region({"choices": [labels[best]]})] for best in outputs.argmax(axis=1).tolist()]
