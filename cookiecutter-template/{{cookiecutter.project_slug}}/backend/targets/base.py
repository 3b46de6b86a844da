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
from functools import cached_property
from typing import Any, ClassVar

import numpy as np
from sklearn.model_selection import KFold, train_test_split

from ..labelconfig import ControlTag, LabelConfig

MIN_HOLDOUT = 10  # fewer held-out annotations make a metric that means nothing


class UnreadableAnswer(ValueError):
    """An annotation result holds no usable answer for the target. `reason` is a short code
    (counted in /metrics), the message says what was found."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


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

    kind: ClassVar[str]  # the kind's name, as the docs and error messages say it
    tags: ClassVar[tuple[str, ...]]  # the control tags the kind predicts
    estimator_type: ClassVar[str] = "classifier"  # or "regressor": what model.class must be
    metrics: ClassVar[dict[str, bool]]  # the metrics it measures: name -> higher is better
    default_metric: ClassVar[str]
    strategies: ClassVar[tuple[str, ...]] = ("least_confidence", "margin", "entropy")
    prequential_metric: ClassVar[str]  # what an incremental update reports on new annotations
    score_meaning: ClassVar[str]  # what a prediction's score says, for the generated README
    fold_name: ClassVar[str] = "shuffled"  # how its evaluation splits, as the metrics record says
    choice: ClassVar[str | None] = None  # the `choice` attribute the kind needs, if any
    min_labels: ClassVar[int] = 0  # the fewest labels (child tags) the control tag may have

    def __init__(self, control: ControlTag, options: dict[str, Any] | None = None) -> None:
        self.control = control
        self.options = options or {}  # the spec's `prediction` section
        self.index = {label: i for i, label in enumerate(control.labels)}  # label -> output column

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
        return control.tag in cls.tags and (cls.choice is None or control.choice == cls.choice)

    @classmethod
    def problems(cls, control: ControlTag, config: LabelConfig) -> list[TargetProblem]:
        """What keeps the control tag from being predicted by this kind (none: it can be)."""
        if len(control.labels) < cls.min_labels:
            return [TargetProblem("too-few-labels", f"'{control.name}' has {len(control.labels)} choice(s); "
                                  f"a {cls.kind.replace('_', '-')} model needs {cls.min_labels} or more")]
        if not control.to_names or control.to_names[0] not in config.objects:
            objects = ", ".join(sorted(config.objects)) or "none"
            return [TargetProblem("unknown-object", f"'{control.name}' has toName={','.join(control.to_names)!r}, "
                                  "which names no object tag", f"object tags: {objects}")]
        return []

    # annotations -----------------------------------------------------------------------------

    def region_value(self, result: Any) -> dict[str, Any]:
        """The `value` of the target's region in an annotation result."""
        if not isinstance(result, list):
            raise UnreadableAnswer("no-answer", "the result is not a list")
        for region in result:
            if isinstance(region, dict) and region.get("from_name") == self.name:
                value = region.get("value")
                if isinstance(value, dict):
                    return value
        raise UnreadableAnswer("no-answer", f"the result has no region of '{self.name}'")

    def answer(self, result: Any) -> Any:
        """The answer an annotation result gives; raises UnreadableAnswer with the reason."""
        raise NotImplementedError

    def check_answer(self, answer: Any, row: list[Any]) -> Any:
        """The answer checked against its task's features (`read_row`), as stored; raises
        UnreadableAnswer when they contradict each other (spans outside the text, say)."""
        return answer

    def result(self, answer: Any) -> list[dict[str, Any]]:
        """An answer as an annotation result (what `answer` reads back)."""
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

    def passes(self, n_rows: int) -> int:
        """How many passes of partial_fit fit an incremental model in full on n rows."""
        return 5

    def outputs(self, model: Any, X: Any) -> np.ndarray:
        """The fitted model's outputs for a batch of rows, in this kind's layout."""
        raise NotImplementedError

    def stack(self, outputs: list[np.ndarray | None]) -> np.ndarray:
        """Rows of outputs (None for a row that could not be predicted) as one batch."""
        shape = next((np.shape(o) for o in outputs if o is not None), (1,))
        return np.stack([np.full(shape, np.nan) if o is None else o for o in outputs])

    def failed(self, outputs: np.ndarray) -> np.ndarray:
        """Which rows of a batch could not be predicted."""
        return np.isnan(outputs).reshape(len(outputs), -1).any(axis=1)

    def trained_labels(self, model: Any) -> list[str]:
        """The labels a fitted model predicts, for its version record (none for a number)."""
        return list(self.labels)

    def tune(self, model: Any, answers: list[Any], outputs: np.ndarray) -> dict[str, Any]:
        """Adjust the fitted model from out-of-sample outputs of these answers (decision
        thresholds, say); returns what it set, for the version's metrics."""
        return {}

    # evaluation ------------------------------------------------------------------------------

    def scores(self, answers: list[Any], outputs: np.ndarray) -> dict[str, float]:
        """Every metric of `metrics`, for outputs against the true answers."""
        raise NotImplementedError

    def folds(self, answers: list[Any], n_folds: int, seed: int) -> Iterator[tuple[np.ndarray, np.ndarray]] | str:
        """(train, test) index pairs for k-fold evaluation, or why none can be made. By default
        shuffled folds (answers that are sets or numbers cannot be stratified on)."""
        n_folds = min(n_folds, len(answers) // 2)
        if n_folds < 2:
            return "not measured: fewer than 4 annotations"
        return KFold(n_splits=n_folds, shuffle=True, random_state=seed).split(np.zeros(len(answers)))

    def holdout(self, answers: list[Any], n_test: int, seed: int) -> np.ndarray | str:
        """The indexes of a held-out test set, or why none can be made (by default a shuffled one)."""
        if not MIN_HOLDOUT <= n_test <= len(answers) - MIN_HOLDOUT:
            return f"not measured: a holdout needs {MIN_HOLDOUT}+ annotations on each side"
        _, test = train_test_split(np.arange(len(answers)), test_size=n_test, random_state=seed)
        return test

    def summary(self, answers: list[Any]) -> dict[str, Any]:
        """What the metrics record says about the training answers (counts per class...)."""
        return {}

    def gaps(self, counts: dict[str, int]) -> list[str]:
        """What the answers so far lack (a class without annotations, say), for /metrics and
        /status; `counts` as for `readiness`."""
        return []

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

    def regions_of(self, outputs: np.ndarray) -> list[list[dict[str, Any]]]:
        """`regions` of every row (a kind whose rows convert faster together says how)."""
        return [self.regions(output) for output in outputs]

    def region(self, value: dict[str, Any]) -> dict[str, Any]:
        return {**self._region_names, "value": value}

    @cached_property
    def _region_names(self) -> dict[str, str]:
        """What every region of this tag starts with (read once: a batch makes thousands)."""
        return {"from_name": self.name, "to_name": self.to_name, "type": self.type}
