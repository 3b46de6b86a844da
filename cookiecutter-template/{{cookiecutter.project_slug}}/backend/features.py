"""Turn task data into model input, as the spec's `features` declare.

`read_row` takes one task's `data` and returns one value per feature, coerced to its type;
`Featurizer` is the scikit-learn transformer that vectorizes those rows. Shared with the mlgen
generator, which builds the very same pipeline to check a spec.

Each feature type is one `Feature` subclass, found in FEATURES by the spec's `type`. Adding a
type: its class here and its entry in FEATURES; its name and options in the feature definition of
schemas/backend.schema.json (then `mlgen schema --markdown > docs/spec-reference.md`); any model
it rules out in generator/mlgen/checks.py (naive_bayes_input, incremental); its tests.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import CountVectorizer, HashingVectorizer, TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, StandardScaler

FeatureSpec = dict[str, Any]

MISSING_CATEGORY = ""


class BadTaskError(ValueError):
    """A task's data cannot be turned into model input."""


class Feature:
    """A feature type: how a task's value becomes a row's cell, and how a column of cells is vectorized.

    The methods are static and take the feature's spec dict, not bound to an object built from it:
    read_row and Featurizer.transform call them on every prediction, where a FEATURES lookup is all
    they may add (a classmethod's binding doubles that), and a fitted Featurizer keeps only spec
    dicts and transformers, which is what skops saves and loads.
    """

    @staticmethod
    def coerce(value: Any, spec: FeatureSpec) -> Any:
        """The field's value as a cell (None, "" or NaN if missing); a dict or list raises _nested()."""
        raise NotImplementedError

    @staticmethod
    def column(X: np.ndarray, i: int) -> Any:
        """Column i of a rows_to_matrix array, as the transformer takes it."""
        return X[:, i : i + 1]

    @staticmethod
    def transformer(spec: FeatureSpec) -> Any:
        """The unfitted scikit-learn transformer for the feature's column."""
        raise NotImplementedError


def _nested(value: Any, spec: FeatureSpec) -> BadTaskError:
    return BadTaskError(f"field '{spec['field']}' holds a {type(value).__name__}, not a {spec['type']}")


def make_vectorizer(feature: FeatureSpec) -> Any:
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


class TextFeature(Feature):
    @staticmethod
    def coerce(value: Any, spec: FeatureSpec) -> Any:
        if isinstance(value, (dict, list)):
            raise _nested(value, spec)
        return "" if value is None else str(value)

    @staticmethod
    def column(X: np.ndarray, i: int) -> Any:
        return X[:, i].tolist()

    transformer = staticmethod(make_vectorizer)


class NumberFeature(Feature):
    @staticmethod
    def coerce(value: Any, spec: FeatureSpec) -> Any:
        kind = type(value)
        if kind is float or kind is int:  # the common case first: it is read for every task
            number = float(value)
        elif isinstance(value, (dict, list)):
            raise _nested(value, spec)
        elif value is None or (isinstance(value, str) and not value.strip()):
            return math.nan
        elif isinstance(value, bool):
            raise BadTaskError(f"field '{spec['field']}' is a boolean, not a number")
        else:
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise BadTaskError(f"field '{spec['field']}' is not a number: {value!r}") from None
        if math.isinf(number):
            raise BadTaskError(f"field '{spec['field']}' is infinite")
        return number

    @staticmethod
    def column(X: np.ndarray, i: int) -> Any:
        return X[:, i : i + 1].astype(float)

    @staticmethod
    def transformer(spec: FeatureSpec) -> Any:
        impute = spec.get("impute", "median")
        fill = {"strategy": "constant", "fill_value": 0.0} if impute == "zero" else {"strategy": impute}
        imputer = SimpleImputer(**fill, keep_empty_features=True)
        scalers = {"standard": StandardScaler, "minmax": MinMaxScaler}
        scale = spec.get("scale", "standard")
        return make_pipeline(imputer, scalers[scale]()) if scale in scalers else make_pipeline(imputer)


class CategoryFeature(Feature):
    @staticmethod
    def coerce(value: Any, spec: FeatureSpec) -> Any:
        if isinstance(value, (dict, list)):
            raise _nested(value, spec)
        return MISSING_CATEGORY if value is None else str(value)

    @staticmethod
    def transformer(spec: FeatureSpec) -> Any:
        limit = spec.get("max_categories")
        handle = "infrequent_if_exist" if limit else "ignore"
        return OneHotEncoder(handle_unknown=handle, max_categories=limit, dtype=np.float64)


class TokensFeature(Feature):
    """A text read as its tokens with their features, for a span target's sequence tagger
    (backend/tokens.py): the column stays a list of texts, the transformer makes the sequences."""

    coerce = staticmethod(TextFeature.coerce)
    column = staticmethod(TextFeature.column)

    @staticmethod
    def transformer(spec: FeatureSpec) -> Any:
        from .tokens import TokenFeatures

        options = ("window", "affixes", "shape", "lowercase", "gazetteers")
        return TokenFeatures(**{k: spec[k] for k in options if k in spec})


class ImageFeature(Feature):
    """An image, given by the URL in the task's data. The cell is that URL until backend.images
    replaces it by the decoded image (or None when it cannot be read) before vectorizing: a
    fetch is I/O, done for a whole batch at once, not by the transformer."""

    @staticmethod
    def coerce(value: Any, spec: FeatureSpec) -> Any:
        if isinstance(value, (dict, list)):
            raise _nested(value, spec)
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if not isinstance(value, str):
            raise BadTaskError(f"field '{spec['field']}' holds a {type(value).__name__}, not an image URL")
        return value.strip()

    column = staticmethod(TextFeature.column)

    @staticmethod
    def transformer(spec: FeatureSpec) -> Any:
        from .imagefeatures import ImageVectorizer  # Pillow: imported only by projects with images

        return ImageVectorizer(representation=spec.get("representation", "pixels"),
                               size=tuple(spec.get("size", (32, 32))), grey=spec.get("grey", True),
                               bins=spec.get("bins", 16))


FEATURES: dict[str, type[Feature]] = {
    "text": TextFeature,
    "tokens": TokensFeature,
    "number": NumberFeature,
    "category": CategoryFeature,
    "image": ImageFeature,
}


def read_field(data: Any, path: str) -> Any:
    """The value at a dotted path in task data; None when any step is missing."""
    return _follow(data, path.split("."))


def _follow(value: Any, steps: list[str]) -> Any:
    for key in steps:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def read_row(data: Any, features: Sequence[FeatureSpec]) -> list[Any]:
    """One task's data as one value per feature; raises BadTaskError when it is unusable."""
    return RowReader(features)(data)


class RowReader:
    """read_row for one list of features, each field's path split and its coercion looked up
    once: a batch reads every task with one reader."""

    def __init__(self, features: Sequence[FeatureSpec]) -> None:
        self.features = features
        # (a field's key when its path is one step, else its steps; its coercion; its spec)
        self.plan = [(steps[0] if len(steps) == 1 else steps, FEATURES[f["type"]].coerce, f)
                     for f in features for steps in [f["field"].split(".")]]

    def __call__(self, data: Any) -> list[Any]:
        if not isinstance(data, dict):
            raise BadTaskError("task data is not an object")
        row = [coerce(data.get(path) if type(path) is str else _follow(data, path), spec)
               for path, coerce, spec in self.plan]
        for value in row:
            if not _is_missing(value):
                return row
        fields = ", ".join(f["field"] for f in self.features)
        raise BadTaskError(f"task data has none of the fields {fields}")


def rows_to_matrix(rows: list[list[Any]]) -> np.ndarray:
    """Rows of feature values as the 2-D object array that Featurizer takes."""
    matrix = np.empty((len(rows), len(rows[0]) if rows else 0), dtype=object)
    for i, row in enumerate(rows):
        matrix[i, :] = row
    return matrix


def _is_missing(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, float) and math.isnan(value))


class Featurizer(TransformerMixin, BaseEstimator):
    """Vectorize the columns of a rows_to_matrix array, one transformer per declared feature.

    It does what a ColumnTransformer would, at a fraction of its per-call overhead, which
    matters for single-task predictions (measured: 0.2 ms against 0.7 ms for one text column).
    """

    def __init__(self, features: list[FeatureSpec] | None = None) -> None:
        self.features = features

    def fit(self, X: np.ndarray, y: Any = None) -> Featurizer:
        self.fit_transform(X, y)
        return self

    def fit_transform(self, X: np.ndarray, y: Any = None) -> Any:
        """Fit and transform in one pass: a text vectorizer tokenizes each text once, not twice
        (a Pipeline's fit calls this; it halves the featurization time of a training)."""
        kinds = [(f, FEATURES[f["type"]]) for f in self.features or []]
        self.transformers_ = [k.transformer(f) for f, k in kinds]
        return self._joined([t.fit_transform(k.column(X, i)) for i, (t, (_, k)) in
                             enumerate(zip(self.transformers_, kinds))])

    def transform(self, X: np.ndarray) -> Any:
        return self._joined([
            transformer.transform(FEATURES[feature["type"]].column(X, i))
            for i, (feature, transformer) in enumerate(zip(self.features or [], self.transformers_))
        ])

    def __getstate__(self) -> dict[str, Any]:
        """What skops saves: each fitted vocabulary as one array of terms in column order, not a
        dict of one node per term (a 22,000-term vocabulary took 0.8 s to save and 0.7 s to load
        that way, four times its training; as an array, milliseconds)."""
        state = dict(super().__getstate__())  # on Python 3.11 that may be self.__dict__ itself
        transformers = state.get("transformers_")
        if transformers is not None:
            compact = [_compact(t) for t in transformers]
            state["transformers_"] = [t for t, _ in compact]
            state["vocabularies_"] = [terms for _, terms in compact]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        vocabularies = state.pop("vocabularies_", None)
        super().__setstate__(state)
        for transformer, terms in zip(self.transformers_ if vocabularies else (), vocabularies or ()):
            if terms is not None:
                transformer.vocabulary_ = {term: i for i, term in enumerate(terms.tolist())}

    @staticmethod
    def _joined(parts: list[Any]) -> Any:
        if len(parts) == 1:
            return parts[0]
        if any(sp.issparse(part) for part in parts):
            return sp.hstack(parts, format="csr")
        return np.hstack(parts)


def _compact(transformer: Any) -> tuple[Any, np.ndarray | None]:
    """(a shallow copy of a fitted vectorizer without its vocabulary_, its terms in column order),
    or (the transformer, None) when it has no vocabulary or one an array cannot hold exactly
    (numpy drops a string's trailing NUL characters). The copy also drops stop_words_, the terms
    the vectorizer's limits pruned, which scikit-learn documents as safe to remove before saving."""
    vocabulary = getattr(transformer, "vocabulary_", None)
    if not isinstance(vocabulary, dict) or any(term.endswith("\0") for term in vocabulary):
        return transformer, None
    terms = [""] * len(vocabulary)
    for term, column in vocabulary.items():
        terms[column] = term
    copy = transformer.__class__.__new__(transformer.__class__)
    copy.__dict__.update({k: v for k, v in transformer.__dict__.items() if k not in ("vocabulary_", "stop_words_")})
    return copy, np.array(terms, dtype=str)
