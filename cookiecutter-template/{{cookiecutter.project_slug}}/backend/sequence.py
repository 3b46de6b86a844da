"""Sequence taggers for named-entity spans: learn BIO tags of tokens, give entities back as spans.

Both taggers take `Sequence`s (backend/tokens.py: a text, its token offsets, one feature dict per
token) and, to fit, each text's spans `(start, end, label)` (character offsets; a fourth item,
the span's text, is ignored). `predict_spans` gives, per text, `(entities, score)`: entities as
`Entity(start, end, label, text, score)` with `text == sequence.text[start:end]`, and the text's
score for active learning, both in [0, 1].

Alignment (`align`): a token belongs to a span when they overlap, `token.start < span.end` and
`token.end > span.start`; the span's first token is tagged B-label, the others I-label. So a
span that starts or ends inside a token grows to the whole token (the tagger can only predict
whole tokens: such a span can never be predicted exactly). Spans are taken in order of start,
then the longest first; one that overlaps a token already tagged is left out, and so is a span
covering no token (whitespace only) or whose label is not one of the tagger's `labels`.

* `SequenceTagger`: any scikit-learn classifier with predict_proba (default: logistic regression
  by SGD) on each token's vectorized features, one predict_proba call per batch; the tags come
  from a constrained Viterbi over the tokens' log-probabilities, where I-X may only follow B-X
  or I-X.
* `CrfTagger`: a linear-chain CRF (python-crfsuite) that learns tag transitions too. Its model is
  crfsuite's own file, kept as a uint8 array so skops stores it as plain bytes, and opened in
  memory by crfsuite's tagger on first use (one per thread: a crfsuite Tagger is stateful; the
  bytes stay referenced beside it, as crfsuite reads them in place). pycrfsuite is imported only
  when a CrfTagger is fitted or predicts, so the runtime needs it only for that tagger. skops
  builds no untrusted Python object from such a file, but crfsuite's C code parses the model
  bytes: a model file is as trustworthy as whoever could write the models folder.

Scores: a token's score is the probability of its decoded tag (the classifier's predict_proba,
or the CRF's marginal); an entity's is the lowest of its tokens' (it is only as sure as its least
sure token); a text's is the lowest of all its tokens' (an empty text scores 1.0).
"""

from __future__ import annotations

import bisect
import itertools
import os
import tempfile
import threading
from collections.abc import Iterable
from typing import Any, NamedTuple

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, clone
from sklearn.feature_extraction import DictVectorizer, FeatureHasher
from sklearn.linear_model import SGDClassifier

from .tokens import Offsets, Sequence

OUTSIDE = "O"


class Entity(NamedTuple):
    start: int
    end: int
    label: str
    text: str
    score: float


Prediction = tuple[list[Entity], float]


def bio_tags(labels: Iterable[str]) -> tuple[str, ...]:
    """All tags, "O" first, then B- and I- of each label in the given order."""
    return (OUTSIDE, *itertools.chain.from_iterable((f"B-{x}", f"I-{x}") for x in labels))


def align(offsets: Offsets, spans: Iterable[Any], labels: Iterable[str] | None = None) -> list[str]:
    """The BIO tag of every token, by the overlap rule of the module docstring."""
    known = None if labels is None else set(labels)
    tags = [OUTSIDE] * len(offsets)
    starts = [start for start, _ in offsets]
    ends = [end for _, end in offsets]
    for start, end, label in sorted((tuple(s[:3]) for s in spans), key=lambda s: (s[0], s[0] - s[1], s[2])):
        if known is not None and label not in known:
            continue
        first, stop = bisect.bisect_right(ends, start), bisect.bisect_left(starts, end)
        if first >= stop or any(tag != OUTSIDE for tag in tags[first:stop]):
            continue
        tags[first:stop] = [f"B-{label}"] + [f"I-{label}"] * (stop - first - 1)
    return tags


def entities(sequence: Sequence, tags: list[str], scores: np.ndarray) -> list[Entity]:
    """The entities of a tag sequence. An I-X that does not continue an X (which only the CRF may
    decode) starts a new entity, as a B-X would."""
    found: list[Entity] = []
    first, label = None, None
    for i, tag in enumerate([*tags, OUTSIDE]):
        kind, _, name = tag.partition("-")
        if first is not None and (kind != "I" or name != label):
            found.append(_entity(sequence, first, i, label, scores))
            first = None
        if kind == "B" or (kind == "I" and first is None):
            first, label = i, name
    return found


def _entity(sequence: Sequence, first: int, stop: int, label: str, scores: np.ndarray) -> Entity:
    start, end = sequence.offsets[first][0], sequence.offsets[stop - 1][1]
    return Entity(start, end, label, sequence.text[start:end], _unit(scores[first:stop].min()))


def _unit(value: float) -> float:
    return float(min(1.0, max(0.0, value)))


def _labels(labels: Iterable[str] | None, spans: list[Any]) -> tuple[str, ...]:
    """The given labels, or (none given) the labels of the training spans, sorted."""
    if labels:
        return tuple(labels)
    return tuple(sorted({span[2] for text_spans in spans for span in text_spans}))


class _SpanTagger(BaseEstimator):
    """What both taggers share: per-text tags and token scores -> entities and text scores."""

    def predict_spans(self, sequences: list[Sequence]) -> list[Prediction]:
        return [self._prediction(sequence, tags, scores)
                for sequence, (tags, scores) in zip(sequences, self._tag(list(sequences)))]

    @staticmethod
    def _prediction(sequence: Sequence, tags: list[str], scores: np.ndarray) -> Prediction:
        if not tags:
            return [], 1.0
        return entities(sequence, tags, scores), _unit(scores.min())

    def _tag(self, sequences: list[Sequence]) -> list[tuple[list[str], np.ndarray]]:
        raise NotImplementedError


class SequenceTagger(_SpanTagger):
    """A token classifier (any with predict_proba) on vectorized token features, decoded by a
    constrained Viterbi. `vectorizer`: "dict" (DictVectorizer: one column per feature seen in
    training, its names saved as one array) or "hashing" (FeatureHasher of `n_features` columns:
    no state, but a linear model's coef_ is (tags x n_features) dense, 19 MB for 9 tags at 2**18,
    where "dict" made 0.7-1.6 MB files for 20-200 texts of samples/ner at the same F1)."""

    def __init__(self, estimator: Any = None, labels: tuple[str, ...] = (), vectorizer: str = "dict",
                 n_features: int = 2**18) -> None:
        self.estimator = estimator
        self.labels = labels
        self.vectorizer = vectorizer
        self.n_features = n_features

    def fit(self, sequences: list[Sequence], spans: Any) -> SequenceTagger:
        sequences, spans = list(sequences), list(spans)
        self.labels_ = _labels(self.labels, spans)
        self.tags_ = bio_tags(self.labels_)
        index = {tag: i for i, tag in enumerate(self.tags_)}
        y = np.array([index[tag] for seq, s in zip(sequences, spans) for tag in align(seq.offsets, s, self.labels_)],
                     dtype=np.int64)
        self.vectorizer_ = self._make_vectorizer()
        self.estimator_ = None
        self.constant_ = int(y[0]) if len(y) else 0  # the only tag seen, when there is just one
        if len(np.unique(y)) > 1:
            X = self._features(sequences, fit=True)
            self.estimator_ = clone(self.estimator) if self.estimator is not None else default_estimator()
            self.estimator_.fit(X, y)
            if not hasattr(self.estimator_, "predict_proba"):
                raise TypeError(f"{type(self.estimator_).__name__} has no predict_proba: the tagger decodes "
                                "probabilities (use a classifier such as SGDClassifier(loss='log_loss'))")
        return self

    def _make_vectorizer(self) -> Any:
        if self.vectorizer == "hashing":
            return FeatureHasher(n_features=self.n_features, input_type="dict", alternate_sign=False)
        if self.vectorizer == "dict":
            return DictVectorizer()
        raise ValueError(f"vectorizer must be 'hashing' or 'dict', not {self.vectorizer!r}")

    def _features(self, sequences: list[Sequence], fit: bool = False) -> Any:
        rows = itertools.chain.from_iterable(sequence.features for sequence in sequences)
        if not isinstance(self.vectorizer_, DictVectorizer):
            return self.vectorizer_.transform(rows)
        if fit:
            return _int32_indices(self.vectorizer_.fit_transform(rows))
        return _lookup(rows, self.vectorizer_.vocabulary_, len(self.vectorizer_.feature_names_))

    def token_probabilities(self, sequences: list[Sequence]) -> np.ndarray:
        """(all tokens of the batch, tags_): each token's probability of every tag; a tag never
        seen in training has 0, and a seen one at least 1e-12 (so that its log is finite)."""
        n_tokens = sum(len(sequence.offsets) for sequence in sequences)
        probabilities = np.zeros((n_tokens, len(self.tags_)))
        if self.estimator_ is None:
            probabilities[:, self.constant_] = 1.0
        elif n_tokens:
            seen = self.estimator_.predict_proba(self._features(sequences))
            probabilities[:, self.estimator_.classes_] = np.maximum(seen, 1e-12)
        return probabilities

    def _tag(self, sequences: list[Sequence]) -> list[tuple[list[str], np.ndarray]]:
        probabilities = self.token_probabilities(sequences)
        allowed_start, allowed = transitions(self.tags_)
        with np.errstate(divide="ignore"):
            log_p = np.log(probabilities)
        out, at = [], 0
        for sequence in sequences:
            n = len(sequence.offsets)
            path = viterbi(log_p[at : at + n], allowed_start, allowed)
            out.append(([self.tags_[k] for k in path], probabilities[at + np.arange(n), path]))
            at += n
        return out

    def __getstate__(self) -> dict[str, Any]:
        """What skops saves: a fitted DictVectorizer's feature names as one array of strings, not a
        list and a dict of one node each (slow to save and load)."""
        state = dict(super().__getstate__())
        vectorizer = state.get("vectorizer_")
        if isinstance(vectorizer, DictVectorizer) and hasattr(vectorizer, "feature_names_"):
            names = vectorizer.feature_names_
            if not any(name.endswith("\0") for name in names):  # numpy drops trailing NULs
                copy = DictVectorizer.__new__(DictVectorizer)
                copy.__dict__.update({k: v for k, v in vectorizer.__dict__.items()
                                      if k not in ("feature_names_", "vocabulary_")})
                state["vectorizer_"] = copy
                state["feature_names_"] = np.array(names, dtype=str)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        names = state.pop("feature_names_", None)
        super().__setstate__(state)
        if names is not None:
            self.vectorizer_.feature_names_ = names.tolist()
            self.vectorizer_.vocabulary_ = {name: i for i, name in enumerate(self.vectorizer_.feature_names_)}


def _lookup(rows: Iterable[dict[str, float]], vocabulary: dict[str, int], n_columns: int) -> sp.csr_matrix:
    """What a fitted DictVectorizer's transform gives for feature dicts of numbers (features it
    did not see are left out), three to four times faster: a prediction's featurization."""
    indices: list[int] = []
    data: list[float] = []
    indptr = [0]
    column = vocabulary.get
    for row in rows:
        for name, value in row.items():
            j = column(name)
            if j is not None:
                indices.append(j)
                data.append(value)
        indptr.append(len(indices))
    return sp.csr_matrix((np.array(data, dtype=np.float64), np.array(indices, dtype=np.int32),
                          np.array(indptr, dtype=np.int32)), shape=(len(indptr) - 1, n_columns))


def _int32_indices(X: Any) -> Any:
    """The sparse matrix with 32-bit indices, which scikit-learn's linear models require
    (DictVectorizer builds 64-bit ones with this scipy)."""
    if X.indices.dtype != np.int32 and X.nnz < 2**31 and X.shape[1] < 2**31:
        X.indices = X.indices.astype(np.int32)
        X.indptr = X.indptr.astype(np.int32)
    return X


def default_estimator() -> SGDClassifier:
    """Logistic regression by SGD: fast on tens of thousands of sparse rows, with predict_proba."""
    return SGDClassifier(loss="log_loss", alpha=1e-4, random_state=0)


def transitions(tags: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(tags allowed first, [previous, next] allowed): I-X only after B-X or I-X."""
    labels = [tag.partition("-")[2] if tag != OUTSIDE else None for tag in tags]
    inside = [tag.startswith("I-") for tag in tags]
    start = np.array([not i for i in inside])
    allowed = np.array([[not inside[j] or (labels[i] == labels[j] and tags[i] != OUTSIDE)
                         for j in range(len(tags))] for i in range(len(tags))])
    return start, allowed


def viterbi(log_p: np.ndarray, allowed_start: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """The most probable allowed tag path, given (tokens, tags) log-probabilities."""
    n = len(log_p)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    blocked = np.where(allowed, 0.0, -np.inf)
    score = log_p[0] + np.where(allowed_start, 0.0, -np.inf)
    back = np.zeros(log_p.shape, dtype=np.int64)
    columns = np.arange(log_p.shape[1])
    for t in range(1, n):
        candidates = score[:, None] + blocked
        back[t] = candidates.argmax(axis=0)
        score = candidates[back[t], columns] + log_p[t]
    path = np.empty(n, dtype=np.int64)
    path[-1] = int(score.argmax())
    for t in range(n - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path


class CrfTagger(_SpanTagger):
    """A linear-chain CRF (python-crfsuite, L-BFGS with L1 `c1` and L2 `c2` penalties). With
    `possible_transitions`, it also learns weights for tag transitions never seen in training
    (negative ones, such as O -> I-X)."""

    def __init__(self, c1: float = 0.1, c2: float = 0.1, max_iterations: int = 100, labels: tuple[str, ...] = (),
                 possible_transitions: bool = True) -> None:
        self.c1 = c1
        self.c2 = c2
        self.max_iterations = max_iterations
        self.labels = labels
        self.possible_transitions = possible_transitions

    def fit(self, sequences: list[Sequence], spans: Any) -> CrfTagger:
        import pycrfsuite

        sequences, spans = list(sequences), list(spans)
        self.labels_ = _labels(self.labels, spans)
        trainer = pycrfsuite.Trainer(verbose=False)
        trainer.set_params({"c1": self.c1, "c2": self.c2, "max_iterations": self.max_iterations,
                            "feature.possible_transitions": self.possible_transitions})
        seen = set()
        for sequence, text_spans in zip(sequences, spans):
            if sequence.offsets:
                tags = align(sequence.offsets, text_spans, self.labels_)
                seen.update(tags)
                trainer.append(pycrfsuite.ItemSequence(sequence.features), tags)
        self.model_ = _train(trainer) if len(seen) > 1 else None
        self.constant_ = next(iter(seen)) if len(seen) == 1 else OUTSIDE
        self.__dict__.pop("_local", None)
        return self

    def _tagger(self) -> Any:
        """This thread's crfsuite Tagger on the model bytes, opened on first use."""
        import pycrfsuite

        local = self.__dict__.setdefault("_local", threading.local())
        tagger = getattr(local, "tagger", None)
        if tagger is None:
            local.model = self.model_.tobytes()  # crfsuite reads the model in place: keep the bytes alive
            tagger = local.tagger = pycrfsuite.Tagger()
            tagger.open_inmemory(local.model)
        return tagger

    def _tag(self, sequences: list[Sequence]) -> list[tuple[list[str], np.ndarray]]:
        if self.model_ is None:
            return [([self.constant_] * len(s.offsets), np.ones(len(s.offsets))) for s in sequences]
        tagger = self._tagger()
        out = []
        for sequence in sequences:
            if not sequence.offsets:
                out.append(([], np.ones(0)))
                continue
            tags = tagger.tag(pycrfsuite_items(sequence))
            out.append((tags, np.array([tagger.marginal(tag, t) for t, tag in enumerate(tags)])))
        return out

    def __getstate__(self) -> dict[str, Any]:
        """What skops saves: the parameters and the model's bytes, not the open taggers."""
        return {k: v for k, v in super().__getstate__().items() if k != "_local"}


def pycrfsuite_items(sequence: Sequence) -> Any:
    import pycrfsuite

    return pycrfsuite.ItemSequence(sequence.features)


def _train(trainer: Any) -> np.ndarray:
    """Train to a temporary file (crfsuite writes its model to a path) and keep its bytes."""
    with tempfile.TemporaryDirectory(prefix="crf-") as folder:
        path = os.path.join(folder, "model.crfsuite")
        trainer.train(path)
        with open(path, "rb") as handle:
            return np.frombuffer(handle.read(), dtype=np.uint8).copy()
