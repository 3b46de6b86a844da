"""Find scikit-learn estimators (classifiers or regressors) by name, and check their
parameters as scikit-learn would."""

from __future__ import annotations

import difflib
import importlib
import inspect
import json
import warnings
from functools import cache
from typing import Any

from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.utils import all_estimators
from sklearn.utils._param_validation import InvalidParameterError

MIXINS = {"classifier": ClassifierMixin, "regressor": RegressorMixin}


@cache
def estimators(estimator_type: str = "classifier") -> dict[str, type]:
    """Every public scikit-learn classifier (or regressor), by class name."""
    mixin = MIXINS[estimator_type]
    return {name: cls for name, cls in all_estimators(type_filter=estimator_type) if issubclass(cls, mixin)}


def estimator_path(cls: type) -> str:
    """The public import path of a class, e.g. sklearn.linear_model.LogisticRegression."""
    module = cls.__module__
    parts = module.split(".")
    public = ".".join(p for p in parts if not p.startswith("_"))
    if getattr(importlib.import_module(public), cls.__name__, None) is cls:
        return f"{public}.{cls.__name__}"
    return f"{module}.{cls.__name__}"


# Where scikit-learn's classifiers and regressors live: looked in first, so that a run need not import every
# scikit-learn module (all_estimators does, which takes half a second) unless a name is wrong.
COMMON_MODULES = (
    "sklearn.linear_model", "sklearn.naive_bayes", "sklearn.ensemble", "sklearn.svm", "sklearn.tree",
    "sklearn.neighbors", "sklearn.neural_network", "sklearn.discriminant_analysis", "sklearn.dummy",
    "sklearn.kernel_ridge", "sklearn.isotonic",
)


@cache
def find_estimator(name: str, estimator_type: str = "classifier") -> tuple[type | None, str | None]:
    """The classifier (or regressor) a spec names, or (None, a hint: did you mean, or the
    estimator is of the other type)."""
    module_name, _, short = name.rpartition(".")
    for module in (module_name,) if module_name else COMMON_MODULES:
        try:
            cls = getattr(importlib.import_module(module), short, None)
        except ImportError:
            break
        if isinstance(cls, type) and _is_public(short, cls, estimator_type):
            return cls, None
    cls = estimators(estimator_type).get(short)
    if cls is not None and module_name:
        return None, f"scikit-learn's {short} is {estimator_path(cls)}"
    if cls is not None:
        return cls, None
    other = "regressor" if estimator_type == "classifier" else "classifier"
    if short in estimators(other):
        needs = "a <Choices>" if estimator_type == "classifier" else "a <Number> or <Rating>"
        return None, f"{short} is a {other}; {needs} target needs a {estimator_type}"
    close = difflib.get_close_matches(short, list(estimators(estimator_type)), n=3, cutoff=0.5)
    return None, (f"did you mean {', '.join(repr(c) for c in close)}?" if close else
                  f"see `sklearn.utils.all_estimators(type_filter='{estimator_type}')`")


def _is_public(short: str, cls: type, estimator_type: str) -> bool:
    """Whether all_estimators would list `cls` as an estimator of this type."""
    public = not short.startswith("_") and cls.__module__.startswith("sklearn.")
    return public and issubclass(cls, MIXINS[estimator_type]) and not inspect.isabstract(cls)


@cache
def required_params(cls: type) -> list[str]:
    """Constructor parameters without a default (meta-estimators' `estimator`, say)."""
    return [
        p.name for p in inspect.signature(cls).parameters.values()
        if p.default is inspect.Parameter.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]


def param_problems(cls: type, params: dict[str, Any]) -> list[tuple[str | None, str, str, str | None]]:
    """(param or None, code, message, hint) for every parameter the estimator rejects."""
    return list(_param_problems(cls, _key(params)))


def has_predict_proba(cls: type, params: dict[str, Any]) -> bool:
    """Whether the estimator, so configured, offers predict_proba (SVC and SGD depend on params)."""
    return _has_predict_proba(cls, _key(params))


# Specs in one run tend to share estimators and params: check each combination once.
def _key(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True, default=repr)


@cache
def _has_predict_proba(cls: type, key: str) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return hasattr(cls(**json.loads(key)), "predict_proba")


@cache
def _param_problems(cls: type, key: str) -> tuple[tuple[str | None, str, str, str | None], ...]:
    params = json.loads(key)
    valid = _param_names(cls)
    problems: list[tuple[str | None, str, str, str | None]] = []
    unknown = [p for p in params if p not in valid]
    for name in unknown:
        close = difflib.get_close_matches(name, valid, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'?" if close else f"{cls.__name__} takes: {', '.join(valid)}"
        problems.append((name, "unknown-param", f"{cls.__name__} has no parameter '{name}'", hint))
    if unknown:
        return tuple(problems)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            cls(**params)._validate_params()
        except InvalidParameterError as exc:
            text = str(exc)
            name = next((p for p in params if f"'{p}'" in text.split(" parameter of ")[0]), None)
            problems.append((name, "invalid-param", text, None))
        except (TypeError, ValueError) as exc:
            problems.append((None, "invalid-param", f"{cls.__name__} rejects these params: {exc}", None))
    return tuple(problems)


@cache
def _param_names(cls: type) -> list[str]:
    return sorted(cls().get_params(deep=False)) if not required_params(cls) else []
