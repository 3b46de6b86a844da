"""Find scikit-learn classifiers by name, and check their parameters as scikit-learn would."""

from __future__ import annotations

import difflib
import importlib
import inspect
import warnings
from functools import cache
from typing import Any

from sklearn.base import ClassifierMixin
from sklearn.utils import all_estimators
from sklearn.utils._param_validation import InvalidParameterError


@cache
def classifiers() -> dict[str, type]:
    """Every public scikit-learn classifier, by class name."""
    return {name: cls for name, cls in all_estimators(type_filter="classifier") if issubclass(cls, ClassifierMixin)}


def estimator_path(cls: type) -> str:
    """The public import path of a class, e.g. sklearn.linear_model.LogisticRegression."""
    module = cls.__module__
    parts = module.split(".")
    public = ".".join(p for p in parts if not p.startswith("_"))
    if getattr(importlib.import_module(public), cls.__name__, None) is cls:
        return f"{public}.{cls.__name__}"
    return f"{module}.{cls.__name__}"


def find_classifier(name: str) -> tuple[type | None, str | None]:
    """The classifier a spec names, or (None, a did-you-mean hint)."""
    short = name.rsplit(".", 1)[-1]
    cls = classifiers().get(short)
    if cls is not None and "." in name and estimator_path(cls) != name and cls.__module__ + "." + short != name:
        return None, f"scikit-learn's {short} is {estimator_path(cls)}"
    if cls is not None:
        return cls, None
    close = difflib.get_close_matches(short, list(classifiers()), n=3, cutoff=0.5)
    return None, (f"did you mean {', '.join(repr(c) for c in close)}?" if close else
                  "see `sklearn.utils.all_estimators(type_filter='classifier')`")


def required_params(cls: type) -> list[str]:
    """Constructor parameters without a default (meta-estimators' `estimator`, say)."""
    return [
        p.name for p in inspect.signature(cls).parameters.values()
        if p.default is inspect.Parameter.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]


def param_problems(cls: type, params: dict[str, Any]) -> list[tuple[str | None, str, str, str | None]]:
    """(param or None, code, message, hint) for every parameter the estimator rejects."""
    valid = sorted(cls().get_params(deep=False)) if not required_params(cls) else []
    problems: list[tuple[str | None, str, str, str | None]] = []
    unknown = [p for p in params if p not in valid]
    for name in unknown:
        close = difflib.get_close_matches(name, valid, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'?" if close else f"{cls.__name__} takes: {', '.join(valid)}"
        problems.append((name, "unknown-param", f"{cls.__name__} has no parameter '{name}'", hint))
    if unknown:
        return problems
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
    return problems
