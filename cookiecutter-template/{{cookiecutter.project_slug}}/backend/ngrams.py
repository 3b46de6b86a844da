"""A fitted vectorizer's term counts for a batch of texts, with numpy (for fastfeatures.py).

The vectorizer's analyzer makes every term of a text in Python and looks each up in its
vocabulary: a samples/topics question of 55 characters has some 250 character 2-5-grams. Here a
term is a number: the indices of its characters (or words) in the vocabulary's alphabet, as
digits of `bits` bits, the first one highest. All the terms of a batch are made by a few array
operations (each length n from the n-1 one: shift, add the next digit), kept where they do not
cross a word's (char_wb), a text's (char) or a text's tokens' (word) end, and looked up in a
hash table of the vocabulary's numbers (`NumberTable`). A character or word that no vocabulary
term has gets a digit no term has, so a term with it matches nothing, as in the vectorizer;
digits start at 1, so terms of different lengths never share a number. The terms are the
analyzer's own: the vectorizer's preprocessor (lowercase), its whitespace rule and its token
pattern, and, for char_wb, its padding of each word with a space and its single term for a word
shorter than the smallest n. `NgramCounter.of` returns None for anything else (a vocabulary whose
terms need more than 62 bits, stop words, a custom analyzer or tokenizer) and fastfeatures.py
counts in Python.
"""

from __future__ import annotations

import re
from itertools import chain, repeat
from typing import Any

import numpy as np

ANALYZERS = ("char_wb", "char", "word")
CODE_BITS = 62  # a term's number fits a signed 64-bit integer
BASIC = 65_536  # characters below this get their digit from a table, the rest by a binary search
# A batch's texts are split into words (char_wb) or tokens (word) at once, joined by END, which no
# word or token holds (it is neither whitespace nor a word character) and which a text holding it
# keeps from being joined: then each text is split on its own.
END = "\x00"
WORDS = r"(?u)\b\w\w+\b"  # scikit-learn's default token_pattern
# its tokens, and each END: findall's greedy runs of 2+ word characters are those tokens already
# (a run is matched whole from its first character, so it is bounded), without the 25 % the \b cost
WORDS_OR_END = re.compile(f"(?u)\\w\\w+|{END}")
END_POINT, SPACE = ord(END), ord(" ")
END_DIGIT = 0  # END's digit among tokens (no term's: digits start at 1)


class NgramCounter:
    """Counts the vocabulary's terms in texts, per text, as CSR parts."""

    def __init__(self, vectorizer: Any, alphabet: list[str], bits: int) -> None:
        self.analyzer = vectorizer.analyzer
        self.min_n, self.max_n = vectorizer.ngram_range
        self.preprocess = vectorizer.build_preprocessor()
        self.white_spaces = vectorizer._white_spaces  # the analyzer's own rule: runs of whitespace -> " "
        self.tokens = vectorizer.build_tokenizer() if self.analyzer == "word" else None
        self.bits, self.width = bits, len(vectorizer.vocabulary_)
        self.digit = {unit: i for i, unit in enumerate(alphabet, start=1)}
        self.token_digit = {**self.digit, END: END_DIGIT}
        self.joined_tokens = self.analyzer == "word" and vectorizer.token_pattern == WORDS
        self.unknown = len(alphabet) + 1
        if self.analyzer != "word":  # a character's digit: looked up in a table for the first 65,536
            self.points = np.array([ord(c) for c in alphabet], dtype=np.uint32)
            self.basic = np.full(BASIC, self.unknown, dtype=np.int64)
            basic = self.points < BASIC
            self.basic[self.points[basic]] = np.flatnonzero(basic) + 1
        terms = list(vectorizer.vocabulary_.items())
        self.table = NumberTable(np.array([self._number(term) for term, _ in terms], dtype=np.int64),
                                 np.array([column for _, column in terms], dtype=np.int64))

    @classmethod
    def of(cls, vectorizer: Any) -> NgramCounter | None:
        vocabulary = getattr(vectorizer, "vocabulary_", None)
        if not isinstance(vocabulary, dict) or not vocabulary or vectorizer.analyzer not in ANALYZERS \
                or vectorizer.input != "content" or vectorizer.preprocessor is not None \
                or vectorizer.tokenizer is not None or vectorizer.stop_words is not None:
            return None
        min_n, max_n = vectorizer.ngram_range
        if not 1 <= min_n <= max_n:
            return None
        if vectorizer.analyzer == "word":
            if vectorizer.token_pattern is None or re.compile(vectorizer.token_pattern).groups != 0:
                return None
            alphabet = sorted({token for term in vocabulary for token in term.split(" ")})
        else:
            alphabet = sorted(set("".join(vocabulary)))
        bits = (len(alphabet) + 1).bit_length()
        if max_n * bits > CODE_BITS:
            return None
        return cls(vectorizer, alphabet, bits)

    def _number(self, term: str) -> int:
        units = term.split(" ") if self.analyzer == "word" else term
        number = 0
        for unit in units:
            number = (number << self.bits) | self.digit[unit]
        return number

    def count(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(indptr, columns, counts) of the texts' rows: each row's columns ascending."""
        digits, unit, owner, word_lengths = self._digits(texts)
        rows, found = self._terms(digits, unit, owner, word_lengths)
        columns = self.table.columns_of(found)
        hit = columns >= 0
        keys, counts = np.unique(rows[hit] * self.width + columns[hit], return_counts=True)
        rows, columns = np.divmod(keys, self.width)
        indptr = np.searchsorted(rows, np.arange(len(texts) + 1))
        return indptr, columns, counts

    def _digits(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        """The batch as one array of digits, with the unit (word, text) each belongs to, the text
        each unit belongs to, and (char_wb) each unit's length."""
        texts = [self.preprocess(text) for text in texts]
        if self.analyzer == "char":
            return self._text_digits(texts)
        if self.analyzer == "word":
            return self._token_digits(texts)
        return self._word_digits(texts)

    def _text_digits(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, None]:
        """char: each text's characters, its whitespace runs made one space; a unit per text."""
        per_text = [self.white_spaces.sub(" ", text) for text in texts]
        owner = np.arange(len(texts))
        return self._characters("".join(per_text)), np.repeat(owner, [len(text) for text in per_text]), owner, None

    def _token_digits(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, None]:
        """word: a digit per token; a unit per text."""
        owner = np.arange(len(texts))
        joined = self._joined(texts, END) if self.joined_tokens else None
        if joined is not None:
            tokens = WORDS_OR_END.findall(joined)
            digits = self._digits_of(tokens, self.token_digit)
            ends = digits == END_DIGIT
            return digits[~ends], np.cumsum(ends)[~ends], owner, None
        per_text = [self.tokens(text) for text in texts]
        unit = np.repeat(owner, [len(text_tokens) for text_tokens in per_text])
        return self._digits_of(list(chain.from_iterable(per_text)), self.digit), unit, owner, None

    def _word_digits(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """char_wb: each word's characters padded with a space; a unit per word."""
        # the analyzer's words are ws.sub(" ", text).split(): the same as split() alone, since its
        # \s is str.isspace (tests/unit/test_ngrams.py checks every code point)
        joined = self._joined(texts, f" {END} ")
        if joined is not None:
            words = joined.split()  # each END a word of its own
        else:
            per_text = [text.split() for text in texts]
            words = list(chain.from_iterable(per_text))
        points = _code_points(" " + "  ".join(words) + " " if words else "")
        # the padded words lie back to back, each from a space followed by one of its characters
        # (no word holds a space: split took them all)
        space = points == SPACE
        starts = np.flatnonzero(space[:-1] & ~space[1:])
        lengths = np.diff(starts, append=len(points))  # " " + word + " "
        unit = np.repeat(np.arange(len(words)), lengths)
        digits = self._digits_of_points(points)
        if joined is None:
            return digits, unit, np.repeat(np.arange(len(texts)), [len(text_words) for text_words in per_text]), lengths
        ends = points[starts + 1] == END_POINT  # an END's word is END alone: no text holds one
        kept = ~ends[unit]  # the ENDs' characters go
        return digits[kept], unit[kept], np.cumsum(ends), lengths[~ends]  # a word's text: the ENDs before it

    @staticmethod
    def _joined(texts: list[str], separator: str) -> str | None:
        """The texts joined by `separator`, unless one holds END."""
        joined = separator.join(texts)
        return joined if joined.count(END) == len(texts) - 1 else None

    def _digits_of(self, tokens: list[str], digit: dict[str, int]) -> np.ndarray:
        """Each token's digit in `digit` (self.digit, or token_digit for a batch joined by END)."""
        return np.fromiter(map(digit.get, tokens, repeat(self.unknown)), dtype=np.int64, count=len(tokens))

    def _characters(self, text: str) -> np.ndarray:
        return self._digits_of_points(_code_points(text))

    def _digits_of_points(self, points: np.ndarray) -> np.ndarray:
        if not (points >= BASIC).any():
            return self.basic[points]
        at = np.minimum(np.searchsorted(self.points, points), len(self.points) - 1)
        return np.where(self.points[at] == points, at + 1, self.unknown).astype(np.int64)

    def _terms(self, digits: np.ndarray, unit: np.ndarray, owner: np.ndarray,
               word_lengths: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """(row, number) of every term: the windows of min_n..max_n digits inside one unit, and
        (char_wb) a whole word shorter than min_n once."""
        rows, found = [], []
        numbers = digits
        starts = np.flatnonzero(np.r_[True, unit[1:] != unit[:-1]]) if word_lengths is not None and digits.size else None
        for n in range(1, self.max_n + 1):
            if n > 1:
                if numbers.size <= 1:
                    break
                numbers = (numbers[:-1] << self.bits) | digits[n - 1:]
            if n >= self.min_n:
                inside = unit[:len(numbers)] == unit[n - 1:]
                rows.append(owner[unit[:len(numbers)][inside]])
                found.append(numbers[inside])
            elif starts is not None:  # char_wb: a word of n characters, padded, when n < min_n
                whole = starts[word_lengths == n]
                rows.append(owner[unit[whole]])
                found.append(numbers[whole])
        if not rows:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        return np.concatenate(rows), np.concatenate(found)


def _code_points(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


class NumberTable:
    """The vocabulary's numbers -> their columns: a hash table in numpy arrays (open addressing,
    linear probing, at most an eighth full: most numbers are found, or missed, at their first
    slot), looked up for a whole array of numbers at once."""

    EMPTY = -1  # no term's number: digits start at 1
    MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing: the product's high bits

    def __init__(self, numbers: np.ndarray, columns: np.ndarray) -> None:
        self.bits = max(4, (8 * len(numbers) - 1).bit_length())
        self.mask = (1 << self.bits) - 1
        self.numbers = np.full(1 << self.bits, self.EMPTY, dtype=np.int64)
        self.columns = np.full(1 << self.bits, -1, dtype=np.int64)
        slots, waiting = self._slots(numbers), np.arange(len(numbers))
        while waiting.size:  # each round, the first number waiting for each free slot takes it
            free = self.numbers[slots[waiting]] == self.EMPTY
            taken, first = np.unique(slots[waiting[free]], return_index=True)
            placed = waiting[free][first]
            self.numbers[taken], self.columns[taken] = numbers[placed], columns[placed]
            waiting = np.setdiff1d(waiting, placed, assume_unique=True)
            slots[waiting] = (slots[waiting] + 1) & self.mask

    def _slots(self, numbers: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            product = numbers.astype(np.uint64) * self.MULTIPLIER
        return (product >> np.uint64(64 - self.bits)).astype(np.int64)

    def columns_of(self, numbers: np.ndarray) -> np.ndarray:
        """Each number's column, or -1 for a number no term has."""
        slots = self._slots(numbers)
        held = self.numbers[slots]
        hit = held == numbers
        found = np.where(hit, self.columns[slots], -1)
        looking = np.flatnonzero(~hit & (held != self.EMPTY))  # collided: probe on
        slots[looking] = (slots[looking] + 1) & self.mask
        while looking.size:
            held = self.numbers[slots[looking]]
            hit = held == numbers[looking]
            found[looking[hit]] = self.columns[slots[looking[hit]]]
            looking = looking[~hit & (held != self.EMPTY)]
            slots[looking] = (slots[looking] + 1) & self.mask
        return found
