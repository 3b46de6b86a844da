"""`<Number>`: a regressor predicts one number per task, kept inside the tag's min, max and step.

Active learning needs to know which predictions are least sure. The regressor is wrapped so
that, when fitted, it also learns how wrong it tends to be where: a copy of the estimator is
fitted to the absolute errors of out-of-fold predictions (a held-out residual model). The
prediction score is 1 / (1 + expected error / typical error): 0.5 for a task whose expected
error is the median one, near 1 where the model is reliably close, low where it is not.

Outputs have two columns: the number as predicted (already kept inside the tag's bounds) and
the expected error relative to the typical one.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sklearn.model_selection import KFold, cross_val_predict

from ..labelconfig import ControlTag, LabelConfig
from .base import Target, TargetProblem, UnreadableAnswer

RESIDUAL_FOLDS = 5


class RegressorWithErrors(RegressorMixin, BaseEstimator):
    """A regressor that also predicts its own absolute error (`predict_error`).

    It learns the answers standardized (mean 0, spread 1), which changes nothing for a least
    squares or tree model and lets gradient-descent models (SGDRegressor) converge at all on
    answers in the hundreds; predictions are mapped back.
    """

    def __init__(self, estimator: Any = None, seed: int = 0) -> None:
        self.estimator = estimator
        self.seed = seed

    def _standardize(self, y: np.ndarray) -> np.ndarray:
        if not hasattr(self, "center_"):
            self.center_, self.scale_ = float(np.mean(y)), float(np.std(y)) or 1.0
        return (y - self.center_) / self.scale_

    def fit(self, X: Any, y: np.ndarray) -> RegressorWithErrors:
        for attribute in ("center_", "scale_"):
            self.__dict__.pop(attribute, None)
        z = self._standardize(np.asarray(y, dtype=float))
        self.model_ = clone(self.estimator).fit(X, z)
        folds = min(RESIDUAL_FOLDS, len(z) // 2)
        if folds >= 2:
            splitter = KFold(n_splits=folds, shuffle=True, random_state=self.seed)
            errors = np.abs(z - cross_val_predict(clone(self.estimator), X, z, cv=splitter))
        else:
            errors = np.abs(z - self.model_.predict(X))
        self.errors_ = clone(self.estimator).fit(X, errors)
        self.typical_error_ = float(np.median(errors)) or float(np.mean(errors)) or 1.0
        return self

    def partial_fit(self, X: Any, y: np.ndarray) -> RegressorWithErrors:
        """An incremental update of the regressor; its error model learns the errors it made
        on these rows before the update."""
        z = self._standardize(np.asarray(y, dtype=float))
        if not hasattr(self, "model_"):
            self.model_, self.errors_ = clone(self.estimator), clone(self.estimator)
            self.typical_error_ = 1.0  # the spread of the answers, until errors are known
            self.model_.partial_fit(X, z)
        self.errors_.partial_fit(X, np.abs(z - self.model_.predict(X)))
        self.model_.partial_fit(X, z)
        return self

    def predict(self, X: Any) -> np.ndarray:
        return self.model_.predict(X) * self.scale_ + self.center_

    def predict_error(self, X: Any) -> np.ndarray:
        """The expected absolute error of each prediction, relative to the typical error."""
        return np.maximum(self.errors_.predict(X), 0.0) / self.typical_error_


def _number(text: str | None) -> float | None:
    try:
        value = float(text) if text is not None else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) else None


class NumberTarget(Target):
    kind = "number"
    tags = ("Number",)
    value_key = "number"
    estimator_type = "regressor"
    metrics = {"mae": False, "rmse": False, "r2": True}
    default_metric = "mae"
    prequential_metric = "mae"
    score_meaning = ("1 / (1 + expected error / typical error), from a model of the regressor's own "
                     "out-of-fold errors: 0.5 where the expected error is the typical one, lower where the "
                     "model expects to be further off")

    def __init__(self, control: ControlTag, options: dict[str, Any] | None = None) -> None:
        super().__init__(control, options)
        self.low, self.high = self.bounds(control)
        self.step = _number(control.attribute("step"))

    @classmethod
    def bounds(cls, control: ControlTag) -> tuple[float | None, float | None]:
        return _number(control.attribute("min")), _number(control.attribute("max"))

    @classmethod
    def problems(cls, control: ControlTag, config: LabelConfig) -> list[TargetProblem]:
        problems = []
        for name in ("min", "max", "step"):
            text = control.attribute(name)
            if text is not None and _number(text) is None:
                problems.append(TargetProblem("invalid-value", f"'{control.name}' has {name}={text!r}, not a number"))
        low, high = cls.bounds(control)
        if low is not None and high is not None and low >= high:
            problems.append(TargetProblem("invalid-value", f"'{control.name}' has min {low} >= max {high}"))
        return problems or super().problems(control, config)

    # annotations -----------------------------------------------------------------------------

    def answer(self, result: Any) -> float | int:
        value = self.region_value(result).get(self.value_key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise UnreadableAnswer("not-a-number", f"'{self.name}' holds {value!r}, not a number")
        if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
            raise UnreadableAnswer("out-of-range", f"'{self.name}' holds {value}, outside [{self.low}, {self.high}]")
        return value

    def result(self, answer: Any) -> list[dict[str, Any]]:
        return [self.region({self.value_key: answer})]

    def encode(self, answers: list[Any]) -> np.ndarray:
        return np.asarray(answers, dtype=float)

    # the model -------------------------------------------------------------------------------

    def wrap(self, estimator: Any) -> Any:
        return RegressorWithErrors(estimator)

    def passes(self, n_rows: int) -> int:
        # Gradient descent on a regression converges far slower than on a classification: about
        # a thousand updates in all, however few the rows (but at most 100 passes).
        return max(5, min(100, math.ceil(1000 / max(n_rows, 1))))

    def trained_labels(self, model: Any) -> list[str]:
        return []

    def outputs(self, model: Any, X: Any) -> np.ndarray:
        last = model.steps[-1][1] if hasattr(model, "steps") else model
        features = model[:-1].transform(X) if hasattr(model, "steps") else X
        return np.column_stack([self.constrain(last.predict(features)), last.predict_error(features)])

    def constrain(self, values: np.ndarray) -> np.ndarray:
        """Predictions as the tag allows them: on its step grid, inside min and max."""
        values = np.asarray(values, dtype=float)
        if self.step:
            origin = self.low if self.low is not None else 0.0
            values = origin + np.round((values - origin) / self.step) * self.step
        return np.clip(values, self.low if self.low is not None else -np.inf,
                       self.high if self.high is not None else np.inf)

    # evaluation ------------------------------------------------------------------------------

    def scores(self, answers: list[Any], outputs: np.ndarray) -> dict[str, float]:
        y, predicted = self.encode(answers), outputs[:, 0]
        scores = {"mae": round(float(mean_absolute_error(y, predicted)), 4),
                  "rmse": round(float(math.sqrt(mean_squared_error(y, predicted))), 4)}
        if len(y) >= 2 and np.ptp(y) > 0:
            scores["r2"] = round(float(r2_score(y, predicted)), 4)
        return scores

    def summary(self, answers: list[Any]) -> dict[str, Any]:
        y = self.encode(answers)
        return {"answers": {"min": float(y.min()), "median": float(np.median(y)), "max": float(y.max())}}

    def readiness(self, counts: dict[str, int], min_per_class: int) -> str | None:
        if len([key for key, n in counts.items() if n]) < 2:
            return "need annotations with at least 2 different values"
        return None

    # predictions -----------------------------------------------------------------------------

    def confidence(self, outputs: np.ndarray, strategy: str) -> np.ndarray:
        """The same score whatever the strategy: the expected error relative to the typical one."""
        if strategy not in self.strategies:
            raise ValueError(f"unknown active-learning strategy '{strategy}'")
        return 1.0 / (1.0 + np.maximum(outputs[:, 1], 0.0))

    def regions(self, output: np.ndarray) -> list[dict[str, Any]]:
        return [self.region({self.value_key: self.as_json(float(self.constrain(output[:1])[0]))})]

    def regions_of(self, outputs: np.ndarray) -> list[list[dict[str, Any]]]:
        values = self.constrain(outputs[:, 0]).tolist()
        return [[self.region({self.value_key: self.as_json(value)})] for value in values]

    def as_json(self, value: float) -> float | int:
        whole = self.step is not None and float(self.step).is_integer() and (self.low or 0.0).is_integer()
        return int(round(value)) if whole else round(value, 6)
