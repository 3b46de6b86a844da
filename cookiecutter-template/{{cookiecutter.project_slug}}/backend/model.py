"""Build the scikit-learn pipeline the service trains (features, then the estimator), and fit it.

This is the place to change the model by hand. `build_model` must return an unfitted
estimator whose `fit(X, y)` takes a rows_to_matrix array and label strings, and which has
`predict_proba` and `classes_` once fitted.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.pipeline import Pipeline

from .features import Featurizer, rows_to_matrix

EPOCHS = 5  # passes of partial_fit when an incremental model is fitted in full


def build_model(spec: dict[str, Any]) -> Pipeline:
    """The spec's features and estimator as one unfitted Pipeline."""
    estimator_class = resolve_estimator(spec["model"]["class"])
    params = dict(spec["model"].get("params") or {})
    seed = spec.get("training", {}).get("random_state")
    if seed is not None and "random_state" in inspect.signature(estimator_class).parameters:
        params.setdefault("random_state", seed)
    return Pipeline(
        [("features", Featurizer(spec["features"])), ("model", estimator_class(**params))]
    )


def resolve_estimator(path: str) -> type:
    """The scikit-learn classifier class at a full path such as 'sklearn.svm.LinearSVC'.

    Only modules inside scikit-learn are imported, and only classifier classes accepted, so a
    spec can never make the service import or run other code.
    """
    module_name, _, class_name = path.rpartition(".")
    if module_name != "sklearn" and not module_name.startswith("sklearn."):
        raise LookupError(f"'{path}' is not inside scikit-learn")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError):
        raise LookupError(f"scikit-learn has no '{path}'") from None
    if not (inspect.isclass(cls) and issubclass(cls, ClassifierMixin)):
        raise LookupError(f"'{path}' is not a scikit-learn classifier")
    return cls


def fit_model(spec: dict[str, Any], classes: tuple[str, ...], rows: list[list[Any]], labels: list[str]) -> Pipeline:
    """The spec's model fitted on the rows. An incremental model is fitted with partial_fit and
    `classes` declared (all of the target's), so that later updates may bring classes unseen
    yet; empty `classes` means the ones in the labels."""
    model = build_model(spec)
    X = rows_to_matrix(rows)
    y = np.asarray(labels)
    if not spec.get("training", {}).get("incremental"):
        return model.fit(X, y)
    vectors = model[:-1].fit(X, y).transform(X)
    estimator = model.steps[-1][1]
    order = np.random.default_rng(spec.get("training", {}).get("random_state", 0))
    for _ in range(EPOCHS):
        shuffled = order.permutation(len(y))
        estimator.partial_fit(vectors[shuffled], y[shuffled], classes=list(classes) or np.unique(y))
    return model
