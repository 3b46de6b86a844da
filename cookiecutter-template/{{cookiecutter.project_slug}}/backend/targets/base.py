"""The interface every target kind implements: all that depends on what a backend predicts.

A kind is chosen from the labeling config's control tag (see `targets/__init__.py`). It reads
answers out of annotation results, turns them into the estimator's `y`, wraps the estimator
when needed, measures predictions, says when there is enough data to train, scores predictions
for active learning, and writes them back as Label Studio result regions.

Answers are plain JSON values (a label, a list of labels, a number), stored as JSON.
Outputs are what `outputs` returns for a batch: a float array with one row per task, in a
layout each kind defines and every other method of the kind reads.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..labelconfig import ControlTag, LabelConfig

MIN_HOLDOUT = 10  # fewer held-out annotations make a metric that means nothing


class UnreadableAnswer(ValueError):
    """An annotation result holds no usable answer for the target; the message is the reason."""


@dataclass(frozen=True)
class TargetProblem:
    """Why a control tag cannot be a target of this kind, for the generator's report."""

    code: str
    message: str
    hint: str | None = None


def answer_key(answer: Any) -> str:
    """The stored JSON form of an answer: canonical, so equal answers group together."""
    return json.dumps(answer, sort_keys=True, ensure_ascii=False)


class Target:
    """One control tag of the labeling config, predicted by the backend."""

    kind: ClassVar[str]  # the kind's name, as /health and the docs show it
    tags: ClassVar[tuple[str, ...]]  # the control tags the kind predicts
    estimator_type: ClassVar[str] = "classifier"  # or "regressor": what model.class must be
    metrics: ClassVar[dict[str, bool]]  # the metrics it measures: name -> higher is better
    default_metric: ClassVar[str]
    strategies: ClassVar[tuple[str, ...]] = ("least_confidence", "margin", "entropy")
    prequential_metric: ClassVar[str]  # what an incremental update reports on new annotations
    fold_name: ClassVar[str] = "stratified"  # how its evaluation splits, as the metrics record says

    def __init__(self, control: ControlTag) -> None:
        self.control = control

    # what the control tag says ---------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.control.name

    @property
    def to_names(self) -> tuple[str, ...]:
        return self.control.to_names

    @property
    def to_name(self) -> str:
        return self.control.to_names[0]

    @property
    def labels(self) -> tuple[str, ...]:
        return self.control.labels

    @property
    def type(self) -> str:
        """The `type` of this tag's regions in a result."""
        return self.control.type

    @classmethod
    def accepts(cls, control: ControlTag) -> bool:
        """Whether this kind predicts the control tag (its tag, and attributes such as choice)."""
        return control.tag in cls.tags

    @classmethod
    def problems(cls, control: ControlTag, config: LabelConfig) -> list[TargetProblem]:
        """What keeps the control tag from being predicted by this kind (none: it can be)."""
        if not control.to_names or control.to_names[0] not in config.objects:
            objects = ", ".join(sorted(config.objects)) or "none"
            return [TargetProblem("unknown-object", f"'{control.name}' has toName={','.join(control.to_names)!r}, "
                                  "which names no object tag", f"object tags: {objects}")]
        return []

    # annotations -----------------------------------------------------------------------------

    def region_value(self, result: Any) -> dict[str, Any]:
        """The `value` of the target's region in an annotation result."""
        if not isinstance(result, list):
            raise UnreadableAnswer("the result is not a list")
        for region in result:
            if isinstance(region, dict) and region.get("from_name") == self.name:
                value = region.get("value")
                if isinstance(value, dict):
                    return value
        raise UnreadableAnswer(f"the result has no region of '{self.name}'")

    def answer(self, result: Any) -> Any:
        """The answer an annotation result gives; raises UnreadableAnswer with the reason."""
        raise NotImplementedError

    def encode(self, answers: list[Any]) -> np.ndarray:
        """Answers as the estimator's `y`."""
        raise NotImplementedError

    # the model -------------------------------------------------------------------------------

    def wrap(self, estimator: Any) -> Any:
        """The estimator as the pipeline's last step (a kind may wrap it)."""
        return estimator

    def partial_fit(self, estimator: Any, X: Any, y: np.ndarray, every_class: bool = True) -> None:
        """One incremental update of the (wrapped) estimator; `every_class`: declare all the
        target's classes, not only those in `y` (for a classifier's first call)."""
        estimator.partial_fit(X, y)

    def outputs(self, model: Any, X: Any) -> np.ndarray:
        """The fitted model's outputs for a batch of rows, in this kind's layout."""
        raise NotImplementedError

    # evaluation ------------------------------------------------------------------------------

    def scores(self, answers: list[Any], outputs: np.ndarray) -> dict[str, float]:
        """Every metric of `metrics`, for outputs against the true answers."""
        raise NotImplementedError

    def folds(self, answers: list[Any], n_folds: int, seed: int) -> Iterator[tuple[np.ndarray, np.ndarray]] | str:
        """(train, test) index pairs for k-fold evaluation, or why none can be made."""
        raise NotImplementedError

    def holdout(self, answers: list[Any], n_test: int, seed: int) -> np.ndarray | str:
        """The indexes of a held-out test set, or why none can be made."""
        raise NotImplementedError

    def summary(self, answers: list[Any]) -> dict[str, Any]:
        """What the metrics record says about the training answers (counts per class...)."""
        return {}

    def readiness(self, counts: dict[str, int], min_per_class: int) -> str | None:
        """Why annotations with these answers cannot train a model yet, None when they can;
        `counts` maps each distinct answer's `answer_key` to its number of annotations."""
        raise NotImplementedError

    # predictions -----------------------------------------------------------------------------

    def confidence(self, outputs: np.ndarray, strategy: str) -> np.ndarray:
        """A score in [0, 1] per row, low meaning uncertain (Label Studio sorts by it)."""
        raise NotImplementedError

    def regions(self, output: np.ndarray) -> list[dict[str, Any]]:
        """One row of outputs as Label Studio result regions."""
        raise NotImplementedError

    def region(self, value: dict[str, Any]) -> dict[str, Any]:
        return {"from_name": self.name, "to_name": self.to_name, "type": self.type, "value": value}
