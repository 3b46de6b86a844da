"""An exact, faster stand-in for the commonest fitted pipelines: a Featurizer of text, number and
category features (computed as fastfeatures.py does) into one of
- a logistic linear classifier (SGDClassifier with loss log_loss, or LogisticRegression): its
  predict_proba and classes_, what the single-choice kind reads;
- a MultiLabelClassifier of such classifiers, one per choice (one-vs-rest, or one per output when
  fitted incrementally): its predict_proba and thresholds_, what the multiple-choice kind reads;
- a RegressorWithErrors of a linear regressor (Ridge, LinearRegression, SGDRegressor, ...; its
  error model is a copy, so linear too): the pipeline's [:-1].transform, then the regressor's
  predict and predict_error, what the number and rating kinds read.

scikit-learn spends most of a small prediction validating its inputs and outputs at every step
(a task's outputs, in-process: samples/topics 0.41 ms, 0.04 here; samples/penguins, six columns,
2.0 ms, 0.08 here; samples/multitopic 0.71 ms, 0.05 here; samples/diabetes, ten columns, 2.6 ms,
0.05 here, and 100 tasks 2.8 ms, 0.07 here).
For these models the arithmetic is small, and done here with numpy directly: for a classifier,
each column encoded and multiplied by its own rows of the coefficients (nothing joined), then
the logistic or softmax link; for a regressor, the columns encoded and joined, multiplied by the
coefficients, and its standardization undone. `compile_model` builds that path from a fitted
pipeline, then checks every method the target kind reads against the pipeline's own on probe
rows, and is used only when they agree within 1e-9; any other pipeline keeps scikit-learn's path
(None).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import sklearn.multiclass
from scipy.special import expit, softmax
from sklearn import linear_model
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.multiclass import OneVsRestClassifier
from sklearn.multioutput import MultiOutputClassifier

from .fastfeatures import FastFeaturizer
from .targets.multiple_choice import MultiLabelClassifier
from .targets.number import RegressorWithErrors

TOLERANCE = 1e-9
PROBES = 26  # rows checked against scikit-learn's own outputs
# OneVsRestClassifier's stand-in for a choice that all or none of the training answers have
CONSTANT = getattr(sklearn.multiclass, "_ConstantPredictor", None)
# Regressors whose predict is exactly rows @ coef_ + intercept_ (LinearModel's, or SGD's)
LINEAR_REGRESSORS = tuple(getattr(linear_model, name) for name in (
    "LinearRegression", "Ridge", "RidgeCV", "Lasso", "LassoCV", "ElasticNet", "ElasticNetCV", "Lars",
    "LassoLars", "BayesianRidge", "ARDRegression", "HuberRegressor", "QuantileRegressor", "SGDRegressor",
) if hasattr(linear_model, name))


def _link(estimator: Any) -> str | None:
    """How a logistic linear classifier's scores become its predict_proba: 'logistic' (per
    class, normalized over several) or 'softmax'; None for any other classifier."""
    if type(estimator) is SGDClassifier and estimator.loss == "log_loss":
        return "logistic"
    if type(estimator) is LogisticRegression:
        return "softmax" if len(estimator.classes_) > 2 else "logistic"
    return None


class CompiledLinear:
    """predict_proba and classes_ of a fitted Pipeline[Featurizer, logistic linear classifier]."""

    def __init__(self, features: FastFeaturizer, estimator: Any, link: str) -> None:
        self.features = features
        self.coef_t = np.ascontiguousarray(estimator.coef_.T)
        self.intercept = estimator.intercept_
        self.classes_ = estimator.classes_
        self.softmax_link = link == "softmax"

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        scores = self.features.dot(X, self.coef_t) + self.intercept
        if self.softmax_link:
            return softmax(scores, axis=1)
        prob = expit(scores)
        if prob.shape[1] == 1:
            return np.hstack([1 - prob, prob])
        total = prob.sum(axis=1, keepdims=True)
        zero = total[:, 0] == 0  # scikit-learn makes such a row uniform
        prob[zero], total[zero] = 1.0, prob.shape[1]
        return prob / total

    def agrees(self, model: Any, X: np.ndarray) -> bool:
        return _close(self.predict_proba(X), model.predict_proba(X))


class CompiledMultiLabel:
    """predict_proba and thresholds_ of a fitted Pipeline[Featurizer, MultiLabelClassifier] whose
    classifier of each choice is binary logistic linear, or constant."""

    def __init__(self, features: FastFeaturizer, wrapper: MultiLabelClassifier, per_choice: list[Any]) -> None:
        self.features, self.wrapper, self.classes_ = features, wrapper, wrapper.classes_
        linear = [j for j, e in enumerate(per_choice) if type(e) is not CONSTANT]
        constant = [j for j, e in enumerate(per_choice) if type(e) is CONSTANT]
        self.linear, self.constant = np.array(linear, dtype=int), np.array(constant, dtype=int)
        self.coef_t = np.ascontiguousarray(np.column_stack([per_choice[j].coef_[0] for j in linear]))
        self.intercept = np.array([per_choice[j].intercept_[0] for j in linear], dtype=np.float64)
        self.constants = np.array([float(per_choice[j].y_[0]) for j in constant], dtype=np.float64)

    @classmethod
    def of(cls, features: FastFeaturizer, wrapper: MultiLabelClassifier) -> CompiledMultiLabel | None:
        inner = getattr(wrapper, "model_", None)
        if type(inner) is OneVsRestClassifier and inner.multilabel_ and len(inner.estimators_) > 1:
            per_choice = inner.estimators_
        elif type(inner) is MultiOutputClassifier:
            per_choice = inner.estimators_  # each fitted with classes [0, 1]
        else:
            return None
        linear = [e for e in per_choice if type(e) is not CONSTANT]
        if not linear or len(per_choice) != len(wrapper.classes_) or any(
                _link(e) != "logistic" or list(e.classes_) != [0, 1] for e in linear):
            return None
        return cls(features, wrapper, per_choice)

    @property
    def thresholds_(self) -> np.ndarray:
        return self.wrapper.thresholds_  # the model's own, read when the target reads them

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """The probability of each choice: its classifier's of class 1."""
        proba = np.empty((X.shape[0], len(self.linear) + len(self.constant)))
        proba[:, self.linear] = expit(self.features.dot(X, self.coef_t) + self.intercept)
        proba[:, self.constant] = self.constants
        return proba

    def agrees(self, model: Any, X: np.ndarray) -> bool:
        return _close(self.predict_proba(X), model.predict_proba(X))


class LinearWithErrors:
    """predict and predict_error, on featurized rows, of a fitted RegressorWithErrors whose
    regressor and error model are linear."""

    def __init__(self, wrapper: RegressorWithErrors, model: tuple[np.ndarray, float],
                 errors: tuple[np.ndarray, float]) -> None:
        (self.coef, self.intercept), (self.error_coef, self.error_intercept) = model, errors
        self.scale, self.center, self.typical_error = wrapper.scale_, wrapper.center_, wrapper.typical_error_

    @classmethod
    def of(cls, wrapper: RegressorWithErrors) -> LinearWithErrors | None:
        model, errors = _linear_terms(getattr(wrapper, "model_", None)), _linear_terms(getattr(wrapper, "errors_", None))
        if model is None or errors is None or not all(
                hasattr(wrapper, a) for a in ("scale_", "center_", "typical_error_")):
            return None
        return cls(wrapper, model, errors)

    def predict(self, rows: Any) -> np.ndarray:
        return (np.asarray(rows @ self.coef) + self.intercept) * self.scale + self.center

    def predict_error(self, rows: Any) -> np.ndarray:
        return np.maximum(np.asarray(rows @ self.error_coef) + self.error_intercept, 0.0) / self.typical_error


def _linear_terms(regressor: Any) -> tuple[np.ndarray, float] | None:
    """(coef_, intercept_) of a fitted single-output linear regressor, else None."""
    if type(regressor) not in LINEAR_REGRESSORS:
        return None
    coef, intercept = np.asarray(regressor.coef_, dtype=np.float64), np.asarray(regressor.intercept_, dtype=np.float64)
    return (coef, float(intercept.reshape(-1)[0])) if coef.ndim == 1 and intercept.size == 1 else None


class CompiledRegressor:
    """A fitted Pipeline[Featurizer, RegressorWithErrors of a linear regressor], as far as the
    number kind reads one: `model[:-1].transform(X)`, then `model.steps[-1][1]`'s predict and
    predict_error of those rows."""

    def __init__(self, features: FastFeaturizer, regressor: LinearWithErrors) -> None:
        self.features = features
        self.steps = [("features", features), ("model", regressor)]

    def __getitem__(self, index: int | slice) -> Any:
        """As a Pipeline's, for what the target takes: [:-1] the features, [-1] the regressor."""
        return self.steps[0][1] if index == slice(None, -1) else self.steps[index][1]

    def agrees(self, model: Any, X: np.ndarray) -> bool:
        mine, theirs = self[:-1].transform(X), model[:-1].transform(X)
        regressor = model.steps[-1][1]
        return _close(self[-1].predict(mine), regressor.predict(theirs)) \
            and _close(self[-1].predict_error(mine), regressor.predict_error(theirs))


Compiled = CompiledLinear | CompiledMultiLabel | CompiledRegressor


def compile_model(model: Any) -> Compiled | None:
    """The fast path for a fitted pipeline, or None when it has none or disagrees with scikit-learn
    on probe rows (fastfeatures.py) in any output the target kind reads."""
    try:
        fast = _compiled(model)
        return fast if fast is not None and fast.agrees(model, fast.features.probes(PROBES)) else None
    except Exception:  # noqa: BLE001 - a path that cannot be built, or cannot run the probes, is not used
        return None


def _compiled(model: Any) -> Compiled | None:
    steps = getattr(model, "steps", None)
    features = FastFeaturizer.of(steps[0][1]) if isinstance(steps, list) and len(steps) == 2 else None
    if features is None:
        return None
    estimator = steps[-1][1]
    if type(estimator) is MultiLabelClassifier:
        return CompiledMultiLabel.of(features, estimator)
    if type(estimator) is RegressorWithErrors:
        regressor = LinearWithErrors.of(estimator)
        return CompiledRegressor(features, regressor) if regressor is not None else None
    link = _link(estimator)
    return CompiledLinear(features, estimator, link) if link is not None else None


def _close(mine: np.ndarray, theirs: np.ndarray) -> bool:
    mine, theirs = np.asarray(mine), np.asarray(theirs)
    return mine.shape == theirs.shape and bool(np.allclose(mine, theirs, rtol=0, atol=TOLERANCE))
