"""A fitted Featurizer's transform (backend/features.py) as plain numpy, for fastpath.py: text,
number and category columns, each encoded with its fitted transformer's own numbers (the
vocabulary counted with the vectorizer's own analyzer, or for a batch by ngrams.py, then 1 + log
tf, idf and the norm; the imputer's fill values, the scaler's offsets and scales; the encoder's
categories), joined as Featurizer joins them. `FastFeaturizer.of` returns None for any other
column, and `probes` makes the rows fastpath.py checks a compiled model on.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, StandardScaler

from .features import Featurizer
from .ngrams import NgramCounter

# Up to this many texts, a vocabulary that ngrams.py cannot number is counted in Python and the
# rows multiplied one by one; beyond, the vectorizer's own transform and a sparse product are
# faster (predict_proba on samples/topics, medians of 30: 1 text 0.12 ms in Python against 0.41
# by scikit-learn, 16 texts 0.68 against 0.81; 100 texts 10.0 in Python, 8.8 with the
# vectorizer's transform, 9.1 by scikit-learn; since `dot` multiplies the rows without a sparse
# matrix, 1 text takes 0.04 ms here)
SMALL_BATCH = 16
# Up to this many texts, counting each text's terms in Python beats ngrams.py's batch counting,
# whose array operations cost ~60 us however few the texts (the counts alone, in-process: topics
# 1 text 40 us in Python against 59, 4 texts 130 against 70, 8 texts 223 against 79; multitopic
# 1 text 15 against 71, 4 texts 55 against 85, 8 texts 113 against 103, 16 texts 145 against 89)
FEW_TEXTS = 4


class TextColumn:
    """A fitted CountVectorizer or TfidfVectorizer's rows, computed from its own numbers."""

    def __init__(self, vectorizer: CountVectorizer) -> None:
        self.vectorizer = vectorizer
        self.analyze = vectorizer.build_analyzer()
        self.vocabulary = vectorizer.vocabulary_
        self.binary = vectorizer.binary
        tfidf = isinstance(vectorizer, TfidfVectorizer)
        self.sublinear = tfidf and vectorizer.sublinear_tf
        self.idf = vectorizer.idf_ if tfidf and vectorizer.use_idf else None
        self.norm = vectorizer.norm if tfidf else None
        self.width = len(self.vocabulary)
        self.counter = NgramCounter.of(vectorizer)

    def __call__(self, cells: np.ndarray) -> sp.csr_matrix:
        texts = cells.tolist()
        if len(texts) > SMALL_BATCH and self.counter is None:
            return self.vectorizer.transform(texts)
        indptr, columns, data = self._weighted(texts, sort=True)
        return sp.csr_matrix((data, columns, indptr), shape=(len(texts), self.width))

    def dot(self, cells: np.ndarray, W: np.ndarray) -> np.ndarray:
        """`self(cells) @ W` without building the sparse matrix for a few texts: each row's
        weights times the rows of W its terms select."""
        texts = cells.tolist()
        if len(texts) > SMALL_BATCH:
            return np.asarray(self(cells) @ W)
        indptr, columns, data = self._weighted(texts, sort=False)
        if len(texts) == 1:
            return (data @ W[columns]).reshape(1, -1)
        return np.vstack([data[a:b] @ W[columns[a:b]] for a, b in zip(indptr[:-1], indptr[1:])])

    def _counted(self, texts: list[Any], sort: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """CSR parts of the rows' term counts: for a few texts counted in Python (only the
        distinct terms looked up), for more by ngrams.py."""
        if len(texts) > FEW_TEXTS and self.counter is not None:
            return self.counter.count(texts)
        vocabulary, indptr, indices, counts = self.vocabulary, [0], [], []
        for text in texts:
            found = [(column, n) for term, n in Counter(self.analyze(text)).items()
                     if (column := vocabulary.get(term)) is not None]
            if sort:
                found.sort()
            indices.extend(column for column, _ in found)
            counts.extend(n for _, n in found)
            indptr.append(len(indices))
        return np.array(indptr), np.array(indices, dtype=np.int32), np.array(counts)

    def _weighted(self, texts: list[Any], sort: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """CSR parts of the rows: the terms counted, then weighted and normalised for the whole
        batch at once."""
        indptr, columns, counts = self._counted(texts, sort)
        data = counts.astype(np.float64)
        if self.binary:
            data[:] = 1.0
        if self.sublinear:
            data = np.log(data) + 1.0
        if self.idf is not None:
            data *= self.idf[columns]
        if self.norm in ("l1", "l2") and data.size:
            size = np.abs(data) if self.norm == "l1" else data * data
            if len(texts) == 1:
                total = size.sum()
                data /= total if self.norm == "l1" else np.sqrt(total)
            else:
                rows = np.repeat(np.arange(len(texts)), np.diff(indptr))
                totals = np.bincount(rows, weights=size, minlength=len(texts))
                data /= (totals if self.norm == "l1" else np.sqrt(totals))[rows]
        return indptr, columns, data


class NumberColumn:
    """A fitted imputer, then standard or min-max scaler, as arithmetic."""

    width = 1

    def __init__(self, imputer: SimpleImputer, scaler: StandardScaler | MinMaxScaler | None) -> None:
        self.fill, self.scaler = np.asarray(imputer.statistics_, dtype=np.float64), scaler

    @classmethod
    def of(cls, steps: Pipeline) -> NumberColumn | None:
        imputer, *scalers = [step for _, step in steps.steps]
        scaler = scalers[0] if scalers else None
        if type(imputer) is not SimpleImputer or imputer.add_indicator or len(scalers) > 1:
            return None
        if scaler is not None and (type(scaler) not in (StandardScaler, MinMaxScaler) or getattr(scaler, "clip", False)):
            return None
        return cls(imputer, scaler)

    def __call__(self, cells: np.ndarray) -> np.ndarray:
        X = cells.astype(float).reshape(-1, 1)
        X = np.where(np.isnan(X), self.fill, X)
        if isinstance(self.scaler, StandardScaler):
            if self.scaler.with_mean:
                X = X - self.scaler.mean_
            if self.scaler.with_std:
                X = X / self.scaler.scale_
        elif isinstance(self.scaler, MinMaxScaler):
            X = X * self.scaler.scale_ + self.scaler.min_
        return X

    def dot(self, cells: np.ndarray, W: np.ndarray) -> np.ndarray:
        return self(cells) @ W


class CategoryColumn:
    """A fitted one-hot encoder (unknown categories ignored, none infrequent) as a lookup."""

    def __init__(self, encoder: OneHotEncoder) -> None:
        self.index = {category: i for i, category in enumerate(encoder.categories_[0].tolist())}
        self.width = len(self.index)

    @classmethod
    def of(cls, encoder: Any) -> CategoryColumn | None:
        if type(encoder) is not OneHotEncoder or encoder.max_categories is not None or encoder.drop is not None \
                or encoder.handle_unknown != "ignore" or not encoder.sparse_output:
            return None
        return cls(encoder)

    def __call__(self, cells: np.ndarray) -> np.ndarray:
        """Dense rows (a table's few columns multiply faster so; the sums are the same)."""
        found = [(row, self.index.get(cell)) for row, cell in enumerate(cells.tolist())]
        found = [(row, column) for row, column in found if column is not None]
        X = np.zeros((len(cells), len(self.index)))
        X[[r for r, _ in found], [c for _, c in found]] = 1.0
        return X

    def dot(self, cells: np.ndarray, W: np.ndarray) -> np.ndarray:
        return self(cells) @ W


Encoder = TextColumn | NumberColumn | CategoryColumn  # a column of cells -> its rows (dense or sparse)


def column_encoder(feature: dict[str, Any], transformer: Any) -> Encoder | None:
    kind = feature.get("type")
    if kind == "text" and type(transformer) in (TfidfVectorizer, CountVectorizer) \
            and isinstance(getattr(transformer, "vocabulary_", None), dict):
        return TextColumn(transformer)
    if kind == "number" and isinstance(transformer, Pipeline):
        return NumberColumn.of(transformer)
    if kind == "category":
        return CategoryColumn.of(transformer)
    return None


class FastFeaturizer:
    """`transform` of a fitted Featurizer whose every column is one of the above."""

    def __init__(self, encoders: list[Encoder]) -> None:
        self.encoders = encoders

    @classmethod
    def of(cls, featurizer: Any) -> FastFeaturizer | None:
        if type(featurizer) is not Featurizer or not featurizer.features:
            return None
        transformers = getattr(featurizer, "transformers_", None)
        if transformers is None or len(transformers) != len(featurizer.features):
            return None
        encoders = [column_encoder(f, t) for f, t in zip(featurizer.features, transformers)]
        return None if any(e is None for e in encoders) else cls(encoders)

    def transform(self, X: np.ndarray) -> Any:
        return Featurizer._joined([encode(X[:, i]) for i, encode in enumerate(self.encoders)])

    def dot(self, X: np.ndarray, W: np.ndarray) -> np.ndarray:
        """`transform(X) @ W` as a sum over the columns, each times its own rows of W (in the
        order Featurizer joins them), with nothing joined."""
        if sum(encode.width for encode in self.encoders) != W.shape[0]:
            raise ValueError(f"{W.shape[0]} weights per output for {len(self.encoders)} columns of another width")
        total, start = None, 0
        for i, encode in enumerate(self.encoders):
            block = W[start:start + encode.width]
            part = encode.dot(X[:, i], block)
            total, start = part if total is None else total + part, start + encode.width
        return total

    def probes(self, n: int) -> np.ndarray:
        """n rows (n >= 3) to check a compiled model on: texts made of the vocabulary's terms (and
        an empty one, and unknown words), numbers around the fitted ones and missing, known and
        unknown categories."""
        rng = np.random.default_rng(0)
        X = np.empty((n, len(self.encoders)), dtype=object)
        for i, encode in enumerate(self.encoders):
            X[:, i] = _probe_column(encode, rng, n)
        return X


def _probe_column(encode: Encoder, rng: np.random.Generator, n: int) -> list[Any]:
    if isinstance(encode, TextColumn):
        terms = sorted(encode.vocabulary)
        made = [" ".join(rng.choice(terms, size=min(len(terms), 1 + k % 7)).tolist()) for k in range(n - 2)]
        return ["", "zzqx unknownword", *made]
    if isinstance(encode, NumberColumn):
        return [float("nan"), *rng.normal(0, 50, size=n - 1).tolist()]
    categories = list(encode.index) if isinstance(encode, CategoryColumn) else []
    return [categories[k % len(categories)] if categories and k % 5 else "zzqx unseen" for k in range(n)]
