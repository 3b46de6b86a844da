"""backend/ngrams.py: a batch's term counts equal to the fitted vectorizer's own, for every
analyzer it numbers, and no counter for the vectorizers it does not."""

from __future__ import annotations

import random
import re
import sys

import numpy as np
import pytest
from backend.ngrams import NgramCounter, NumberTable
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

# letters, accented and capital ones (lowercase), a capital sigma (lowercased as a final one at a
# word's end), a CJK character, an emoji outside the BMP, and whitespace of several kinds (runs of it
# are one space to the analyzers; \x1c splits words too)
ALPHABET = list("abcdefghij") + ["é", "ß", "Ü", "Σ", "Α", "中", "\U0001F600", "\u00a0", "\t", "\n", "\x1c", "-", "'",
                                  "1"]


def texts(rng: random.Random, n: int) -> list[str]:
    return ["".join(rng.choice(ALPHABET) if rng.random() < 0.8 else " " for _ in range(rng.randint(0, 40)))
            for _ in range(n)]


# (a sigma that ends or starts a text lowercases as it does alone: a batch's texts are joined,
# and lowercased together)
EDGES = ["", " ", "a", "ab", "  a  b  ", "\ud800x", "x" * 30, "A B C", "Ab aB ab", "中中 中", "ΑΣ ΣΑ Σ", "İx", "ΑΣ", "ΣΑ",
         "Σ", "aΣ'", "'Σa", "ΑΣ\u0301"]
NUL = "a\x00b ab\x00"  # the separator ngrams.py joins a batch's texts with: that batch is split text by text


@pytest.mark.parametrize("analyzer", ["char_wb", "char", "word"])
@pytest.mark.parametrize("ngram_range", [(1, 1), (1, 2), (2, 5), (3, 3), (4, 5), (5, 5), (1, 3)])
@pytest.mark.parametrize("lowercase", [True, False, "strip accents"])
def test_counts_equal_the_vectorizers(analyzer, ngram_range, lowercase):
    """Fails if any text of a batch (random texts of the alphabet above, and the edge cases: empty,
    whitespace only, words shorter than the smallest n, a lone surrogate, a final sigma, a NUL)
    gets a column or a count other than the vectorizer's transform gives it."""
    rng = random.Random(f"{analyzer}{ngram_range}{lowercase}")
    options = {"lowercase": True, "strip_accents": "unicode"} if lowercase == "strip accents" else {"lowercase": lowercase}
    vectorizer = CountVectorizer(analyzer=analyzer, ngram_range=ngram_range, **options)
    vectorizer.fit(texts(rng, 200))
    counter = NgramCounter.of(vectorizer)
    assert counter is not None
    batch = texts(rng, 150) + EDGES
    for part in (batch, batch[:17], batch[-len(EDGES):], batch[:1], [*batch[:20], NUL], [NUL]):
        want = vectorizer.transform(part)
        want.sort_indices()
        indptr, columns, counts = counter.count(part)
        assert indptr.tolist() == want.indptr.tolist()
        assert columns.tolist() == want.indices.tolist()
        assert counts.tolist() == want.data.tolist()


def test_a_tfidf_vectorizer_is_counted_as_its_counts():
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True)
    train = texts(random.Random(1), 100)
    vectorizer.fit(train)
    indptr, columns, counts = NgramCounter.of(vectorizer).count(train)
    counted = CountVectorizer(analyzer="char_wb", ngram_range=(2, 4), vocabulary=vectorizer.vocabulary_).transform(train)
    assert indptr.tolist() == counted.indptr.tolist() and columns.tolist() == counted.indices.tolist()
    assert counts.tolist() == counted.data.tolist()


@pytest.mark.parametrize("options", [
    {"stop_words": "english"},
    {"tokenizer": str.split, "token_pattern": None},
    {"preprocessor": str.upper},
    {"analyzer": lambda text: text.split()},
    {"token_pattern": r"(\w+)"},  # a group: the vectorizer keeps what it captures
])
def test_vectorizers_it_does_not_number_get_no_counter(options):
    vectorizer = CountVectorizer(**options).fit(["some words here", "other words there"])
    assert NgramCounter.of(vectorizer) is None


def test_a_vocabulary_too_wide_for_64_bit_numbers_gets_no_counter():
    """5 digits of 13 bits (over 4,096 distinct characters) need 65 bits."""
    characters = [chr(0x4E00 + i) for i in range(5000)]
    vectorizer = CountVectorizer(analyzer="char", ngram_range=(1, 5)).fit(["".join(characters)])
    assert NgramCounter.of(vectorizer) is None
    assert NgramCounter.of(CountVectorizer(analyzer="char", ngram_range=(1, 4)).fit(["".join(characters)])) is not None


def test_the_number_table_finds_every_number_and_no_other():
    rng = np.random.default_rng(0)
    numbers = np.unique(rng.integers(1, 2**62, size=20_000))
    numbers = np.concatenate([numbers, np.arange(1, 2_000)])  # small consecutive ones collide more
    numbers = np.unique(numbers)
    columns = rng.permutation(len(numbers))
    table = NumberTable(numbers, columns)
    assert table.columns_of(numbers).tolist() == columns.tolist()
    others = np.setdiff1d(rng.integers(1, 2**62, size=5_000), numbers)
    assert (table.columns_of(others) == -1).all()
    assert table.columns_of(np.zeros(0, dtype=np.int64)).tolist() == []


def test_whitespace_to_the_analyzers_is_what_split_splits_on():
    """ngrams.py splits char_wb texts with str.split() alone, where the analyzer first turns runs
    of its pattern's \\s into a space: the same words only while \\s matches str.isspace."""
    space = re.compile(r"\s")
    assert [cp for cp in range(sys.maxunicode + 1) if (space.match(chr(cp)) is not None) != chr(cp).isspace()] == []
