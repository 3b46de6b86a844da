"""Turn task data into model input, as the spec's `features` declare.

`read_row` takes one task's `data` and returns one value per feature, coerced to its type;
`Featurizer` is the scikit-learn transformer that vectorizes those rows. Shared with the mlgen
generator, which builds the very same pipeline to check a spec.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import CountVectorizer, HashingVectorizer, TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, StandardScaler

MISSING_CATEGORY = ""


class BadTaskError(ValueError):
    """A task's data cannot be turned into model input."""


def read_field(data: Any, path: str) -> Any:
    """The value at a dotted path in task data; None when any step is missing."""
    value = data
    for key in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def read_row(data: Any, features: list[dict[str, Any]]) -> list[Any]:
    """One task's data as one value per feature; raises BadTaskError when it is unusable."""
    if not isinstance(data, dict):
        raise BadTaskError("task data is not an object")
    row = [_coerce(read_field(data, f["field"]), f) for f in features]
    if all(_is_missing(value) for value in row):
        fields = ", ".join(f["field"] for f in features)
        raise BadTaskError(f"task data has none of the fields {fields}")
    return row


def rows_to_matrix(rows: list[list[Any]]) -> np.ndarray:
    """Rows of feature values as the 2-D object array that Featurizer takes."""
    matrix = np.empty((len(rows), len(rows[0]) if rows else 0), dtype=object)
    for i, row in enumerate(rows):
        matrix[i, :] = row
    return matrix


def _coerce(value: Any, feature: dict[str, Any]) -> Any:
    kind = feature["type"]
    if isinstance(value, (dict, list)):
        raise BadTaskError(f"field '{feature['field']}' holds a {type(value).__name__}, not a {kind}")
    if kind == "text":
        return "" if value is None else str(value)
    if kind == "category":
        return MISSING_CATEGORY if value is None else str(value)
    # number
    if value is None or (isinstance(value, str) and not value.strip()):
        return math.nan
    if isinstance(value, bool):
        raise BadTaskError(f"field '{feature['field']}' is a boolean, not a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise BadTaskError(f"field '{feature['field']}' is not a number: {value!r}") from None
    if math.isinf(number):
        raise BadTaskError(f"field '{feature['field']}' is infinite")
    return number


def _is_missing(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, float) and math.isnan(value))


class Featurizer(TransformerMixin, BaseEstimator):
    """Vectorize the columns of a rows_to_matrix array, one transformer per declared feature.

    It does what a ColumnTransformer would, at a fraction of its per-call overhead, which
    matters for single-task predictions (measured: 0.2 ms against 0.7 ms for one text column).
    """

    def __init__(self, features: list[dict[str, Any]] | None = None) -> None:
        self.features = features

    def fit(self, X: np.ndarray, y: Any = None) -> Featurizer:
        self.transformers_ = [
            _make_transformer(feature).fit(_column(X, i, feature))
            for i, feature in enumerate(self.features or [])
        ]
        return self

    def transform(self, X: np.ndarray) -> Any:
        parts = [
            transformer.transform(_column(X, i, feature))
            for i, (feature, transformer) in enumerate(zip(self.features or [], self.transformers_))
        ]
        if len(parts) == 1:
            return parts[0]
        if any(sp.issparse(part) for part in parts):
            return sp.hstack(parts, format="csr")
        return np.hstack(parts)


def _column(X: np.ndarray, i: int, feature: dict[str, Any]) -> Any:
    if feature["type"] == "text":
        return X[:, i].tolist()
    if feature["type"] == "number":
        return X[:, i : i + 1].astype(float)
    return X[:, i : i + 1]


def _make_transformer(feature: dict[str, Any]) -> Any:
    kind = feature["type"]
    if kind == "text":
        return make_vectorizer(feature)
    if kind == "category":
        limit = feature.get("max_categories")
        return OneHotEncoder(
            handle_unknown="infrequent_if_exist" if limit else "ignore",
            max_categories=limit,
            dtype=np.float64,
        )
    impute = feature.get("impute", "median")
    imputer = (
        SimpleImputer(strategy="constant", fill_value=0.0, keep_empty_features=True)
        if impute == "zero"
        else SimpleImputer(strategy=impute, keep_empty_features=True)
    )
    scalers = {"standard": StandardScaler, "minmax": MinMaxScaler}
    scale = feature.get("scale", "standard")
    return make_pipeline(imputer, scalers[scale]()) if scale in scalers else make_pipeline(imputer)


def make_vectorizer(feature: dict[str, Any]) -> Any:
    """The text vectorizer a `text` feature declares."""
    common = {
        "analyzer": feature.get("analyzer", "word"),
        "ngram_range": tuple(feature.get("ngram_range", (1, 1))),
        "lowercase": feature.get("lowercase", True),
        "dtype": np.float64,
    }
    kind = feature.get("vectorizer", "tfidf")
    if kind == "hashing":
        return HashingVectorizer(
            n_features=feature.get("n_features", 2**20),
            alternate_sign=feature.get("alternate_sign", False),
            **common,
        )
    counted = {"min_df": feature.get("min_df", 1), "max_features": feature.get("max_features")}
    if kind == "count":
        return CountVectorizer(**counted, **common)
    return TfidfVectorizer(sublinear_tf=feature.get("sublinear_tf", False), **counted, **common)
