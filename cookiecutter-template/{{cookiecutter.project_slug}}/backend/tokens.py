"""Split a text into tokens that keep their character offsets, and describe each token by features.

A named-entity target labels spans of a task's text; the sequence tagger (backend/sequence.py)
tags tokens, so every token must know where it sits in the text. Offsets are Python str
indexes (code points), which is how Label Studio counts a `<Text>` region's `start` and `end`:
a token's text is always `text[start:end]`, whatever the script or line breaks (`\\r\\n` is two
characters, and two characters of whitespace between tokens).

Tokens (TOKEN_PATTERN, first alternative that matches wins):
* a number with inner separators, `3.5`, `1,200`, `10:30` (one token, not three);
* a word: letters, digits, underscores and combining marks (so a decomposed `Zoe\\u0308` stays one
  word), joined by inner hyphens or apostrophes: `Jean-Luc`, `O'Neill`, `don't`;
* an English possessive or clitic `'s` / `’s`, split from its word: `Kim's` is `Kim` + `'s`, so
  that an entity ends where the name ends;
* any other non-space character on its own (punctuation, symbols), with its combining marks.
Whitespace is never part of a token.

`TokenFeatures` turns texts into `Sequence`s: the text, its token offsets, and one feature dict
per token (name -> value, the input DictVectorizer, FeatureHasher and crfsuite take). Its fit is
a no-op, so it holds only its parameters, which skops saves as plain dicts, lists and numbers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any, NamedTuple

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

_MARKS = "\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"  # combining marks
_WORD_CHAR = rf"[\w{_MARKS}]"
TOKEN_PATTERN = re.compile(
    r"\d+(?:[.,:]\d+)+"  # 3.5, 1,200, 10:30
    rf"|{_WORD_CHAR}+(?:[-'’](?![sS]\b){_WORD_CHAR}+)*"  # Jean-Luc, O'Neill (not Kim's)
    r"|['’][sS]\b"  # the possessive 's
    rf"|[^\w\s{_MARKS}][{_MARKS}]*"  # any other character
)

Offsets = list[tuple[int, int]]


class Sequence(NamedTuple):
    """One text as the tagger sees it: its tokens' (start, end) offsets and features."""

    text: str
    offsets: Offsets
    features: list[dict[str, float]]

    def token(self, i: int) -> str:
        start, end = self.offsets[i]
        return self.text[start:end]


def tokenize(text: str) -> Offsets:
    """The (start, end) character offsets of the text's tokens, in order."""
    return [match.span() for match in TOKEN_PATTERN.finditer(text)]


def word_shape(token: str, max_run: int = 4) -> str:
    """`X` for an upper-case letter, `x` lower, `d` a digit, the character itself otherwise;
    a run of one kind is cut at `max_run`: `Zoë` -> `Xxx`, `Łódź` -> `Xxxx`, `2024` -> `dddd`."""
    out: list[str] = []
    run = 0
    for char in token:
        kind = "X" if char.isupper() else "x" if char.isalpha() else "d" if char.isdigit() else char
        run = run + 1 if out and out[-1] == kind else 1
        if run <= max_run:
            out.append(kind)
    return "".join(out)


class TokenFeatures(BaseEstimator, TransformerMixin):
    """Texts -> `Sequence`s of token features.

    A token's own features: `bias`; `w=` its form (lowercased if `lowercase`); `p1=`.. and `s1=`..
    its prefixes and suffixes up to `affixes` characters (from the same form); with `shape`, its
    word shape (`shape=Xxxx`) and flags `title`, `upper`, `digit`, `punct`; with `gazetteers`
    (name -> phrases), `gaz:NAME=B` on the first token of every phrase found in the text and
    `gaz:NAME=I` on the others (matched on casefolded tokens, longest phrase first, left to right).
    Every token also carries the features of its `window` neighbours on each side, but `bias`,
    prefixed with their distance (`-1:w=the`, `+2:shape=Xx`); past an edge of the text, `-1:BOS`
    or `+1:EOS` instead.
    """

    def __init__(self, window: int = 2, affixes: int = 3, shape: bool = True, lowercase: bool = True,
                 gazetteers: dict[str, list[str]] | None = None) -> None:
        self.window = window
        self.affixes = affixes
        self.shape = shape
        self.lowercase = lowercase
        self.gazetteers = gazetteers

    def fit(self, texts: Any = None, y: Any = None) -> TokenFeatures:
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return True  # stateless: nothing to learn

    def transform(self, texts: Any) -> list[Sequence]:
        index = self._gazetteer_index()
        sequences = []
        for text in _texts(texts):
            offsets = tokenize(text)
            tokens = [text[start:end] for start, end in offsets]
            sequences.append(Sequence(text, offsets, self._features(tokens, index)))
        return sequences

    def _features(self, tokens: list[str], index: dict[str, list[tuple[str, ...]]]) -> list[dict[str, float]]:
        own = [self._own(token) for token in tokens]
        for name, tags in _gazetteer_tags(tokens, index).items():
            for features, tag in zip(own, tags):
                if tag:
                    features[f"gaz:{name}={tag}"] = 1.0
        out = []
        for i, features in enumerate(own):
            merged = {"bias": 1.0, **features}
            for distance in range(1, self.window + 1):
                _add_neighbour(merged, own, i - distance, f"-{distance}:")
                _add_neighbour(merged, own, i + distance, f"+{distance}:")
            out.append(merged)
        return out

    def _own(self, token: str) -> dict[str, float]:
        form = token.lower() if self.lowercase else token
        features = {f"w={form}": 1.0}
        for n in range(1, min(self.affixes, len(form)) + 1):
            features[f"p{n}={form[:n]}"] = 1.0
            features[f"s{n}={form[-n:]}"] = 1.0
        if self.shape:
            features[f"shape={word_shape(token)}"] = 1.0
            flags = {"title": token.istitle(), "upper": token.isupper(), "digit": token.isdigit(),
                     "punct": not any(c.isalnum() for c in token)}
            features.update({name: 1.0 for name, on in flags.items() if on})
        return features

    def _gazetteer_index(self) -> dict[str, dict[str, list[tuple[str, ...]]]]:
        """name -> first token -> the phrases (casefolded token tuples) it starts, longest first.
        Built from the `gazetteers` parameter on first use and cached outside the saved state."""
        given = _copy(self.gazetteers)
        cached = self.__dict__.get("_index")
        if cached is not None and cached[0] == given:
            return cached[1]
        index: dict[str, dict[str, list[tuple[str, ...]]]] = {}
        for name, phrases in sorted((self.gazetteers or {}).items()):
            by_first: dict[str, set[tuple[str, ...]]] = {}
            for phrase in phrases:
                words = tuple(phrase[s:e].casefold() for s, e in tokenize(phrase))
                if words:
                    by_first.setdefault(words[0], set()).add(words)
            index[name] = {first: sorted(found, key=lambda w: (-len(w), w)) for first, found in by_first.items()}
        self.__dict__["_index"] = (given, index)
        return index

    def __getstate__(self) -> dict[str, Any]:
        """What skops saves: the parameters, gazetteers as name -> sorted list of phrases (a set or
        tuple given by a caller becomes a list), without the cached phrase index."""
        state = {k: v for k, v in super().__getstate__().items() if k != "_index"}
        if state.get("gazetteers") is not None:
            state["gazetteers"] = {str(name): sorted(str(p) for p in phrases)
                                   for name, phrases in state["gazetteers"].items()}
        return state


def _texts(texts: Any) -> Iterable[str]:
    """The texts of a list, or of a one-column 2-d array (rows as the runtime builds them);
    a missing text (None, NaN) is an empty one."""
    if isinstance(texts, np.ndarray) and texts.ndim == 2:
        texts = texts[:, 0]
    for text in texts:
        if text is None or (isinstance(text, float) and math.isnan(text)):
            yield ""
        elif isinstance(text, str):
            yield text
        else:
            raise TypeError(f"a text must be a str, not {type(text).__name__}")


def _add_neighbour(features: dict[str, float], own: list[dict[str, float]], j: int, prefix: str) -> None:
    if j < 0:
        features[f"{prefix}BOS"] = 1.0
    elif j >= len(own):
        features[f"{prefix}EOS"] = 1.0
    else:
        for name, value in own[j].items():
            features[prefix + name] = value


def _gazetteer_tags(tokens: list[str], index: dict[str, dict[str, list[tuple[str, ...]]]]) -> dict[str, list[str]]:
    """name -> per token "B", "I" or "" (not in a phrase of that gazetteer)."""
    if not index:
        return {}
    folded = [token.casefold() for token in tokens]
    out = {}
    for name, by_first in index.items():
        tags = [""] * len(tokens)
        i = 0
        while i < len(tokens):
            length = _longest_match(folded, i, by_first.get(folded[i], ()))
            if length:
                tags[i : i + length] = ["B"] + ["I"] * (length - 1)
            i += length or 1
        out[name] = tags
    return out


def _longest_match(folded: list[str], i: int, phrases: Iterable[tuple[str, ...]]) -> int:
    for words in phrases:  # longest first
        if tuple(folded[i : i + len(words)]) == words:
            return len(words)
    return 0


def _copy(gazetteers: dict[str, Any] | None) -> dict[str, list[str]] | None:
    return None if gazetteers is None else {name: list(phrases) for name, phrases in gazetteers.items()}
