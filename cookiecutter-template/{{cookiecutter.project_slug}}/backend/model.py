"""Build the scikit-learn pipeline the service trains (features, then the estimator), and fit it.

This is the place to change the model by hand. `build_model` must return an unfitted
estimator whose `fit(X, y)` takes a rows_to_matrix array and the target's encoded answers
(`target.encode`), and which, once fitted, gives what the target kind reads (`target.outputs`:
`predict_proba` and `classes_` for a classifier, `predict` for a regressor).
"""

from __future__ import annotations

import importlib
import inspect
import sys
from typing import Any

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.pipeline import Pipeline

from .config import Config
from .features import Featurizer, rows_to_matrix
from .settings import PROJECT_ROOT
from .targets import Target


def build_model(config: Config, target: Target) -> Pipeline:
    """The spec's features and estimator (as the target kind wraps it) as one unfitted Pipeline."""
    estimator_class = resolve_estimator(config.model.class_path, target.estimator_type)
    params = dict(config.model.params)
    seed = config.training.random_state
    if seed is not None and "random_state" in inspect.signature(estimator_class).parameters:
        params.setdefault("random_state", seed)
    return Pipeline(
        [("features", Featurizer(list(config.features))), ("model", target.wrap(estimator_class(**params)))]
    )


ESTIMATOR_TYPES = {"classifier": ClassifierMixin, "regressor": RegressorMixin}
CUSTOM_PACKAGE = "custom"  # the project's own estimators ('module:Class'), copied by mlgen render


def resolve_estimator(path: str, estimator_type: str = "classifier") -> type:
    """The estimator class at a full scikit-learn path such as 'sklearn.svm.LinearSVC', or at
    'module:Class' in the project's own custom/ package.

    Only modules inside scikit-learn, or the one module of custom/ the spec names, are
    imported, and only scikit-learn estimators of the type the target needs (classifier or
    regressor) accepted, so a spec can never make the service import or run other code.
    """
    if ":" in path:
        return custom_estimator(path)
    module_name, _, class_name = path.rpartition(".")
    if module_name != "sklearn" and not module_name.startswith("sklearn."):
        raise LookupError(f"'{path}' is not inside scikit-learn")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError):
        raise LookupError(f"scikit-learn has no '{path}'") from None
    if not (inspect.isclass(cls) and issubclass(cls, ESTIMATOR_TYPES[estimator_type])):
        raise LookupError(f"'{path}' is not a scikit-learn {estimator_type}")
    return cls


def custom_estimator(path: str) -> type:
    """The class at 'module:Class' in the project's custom/ package (mlgen validate checked
    that it has what the target needs)."""
    module_name, _, class_name = path.partition(":")
    if str(PROJECT_ROOT) not in sys.path:
        sys.path.insert(0, str(PROJECT_ROOT))  # custom/ sits beside backend/
    try:
        cls = getattr(importlib.import_module(f"{CUSTOM_PACKAGE}.{module_name}"), class_name)
    except (ImportError, AttributeError) as exc:
        raise LookupError(f"cannot load the project's estimator '{path}': {exc}") from None
    if not inspect.isclass(cls):
        raise LookupError(f"'{path}' is not a class")
    return cls


def trusted_modules(config: Config) -> tuple[str, ...]:
    """Beyond scikit-learn's, the module whose types the spec's model files may hold: the
    project's own estimator module, if it has one."""
    path = config.model.class_path
    return (f"{CUSTOM_PACKAGE}.{path.partition(':')[0]}.",) if ":" in path else ()


def fit_model(config: Config, target: Target, rows: list[list[Any]], answers: list[Any],
              every_class: bool = True) -> Pipeline:
    """The spec's model fitted on the rows and their answers. An incremental model is fitted
    with partial_fit, as the target kind calls it: with `every_class`, every class of the
    target is declared, so that later updates may bring classes unseen yet; without (a fit
    for evaluation, never updated), only the classes in the answers."""
    model = build_model(config, target)
    X = rows_to_matrix(rows)
    y = target.encode(answers)
    if not config.training.incremental:
        return model.fit(X, y)
    vectors = model[:-1].fit(X, y).transform(X)
    estimator = model.steps[-1][1]
    order = np.random.default_rng(config.training.random_state)
    for _ in range(target.passes(len(y))):
        shuffled = order.permutation(len(y))
        target.partial_fit(estimator, vectors[shuffled], y[shuffled], every_class)
    return model
