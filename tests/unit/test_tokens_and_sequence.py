"""Tokens with exact character offsets, their features, and the sequence taggers that learn BIO
tags from spans and give entities back as spans (backend/tokens.py, backend/sequence.py)."""

from __future__ import annotations

import random
import warnings

import numpy as np
import pytest
import skops.io
from backend.sequence import (
    CrfTagger,
    Entity,
    SequenceTagger,
    align,
    bio_tags,
    entities,
    transitions,
    viterbi,
)
from backend.tokens import TokenFeatures, tokenize, word_shape
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

LABELS = ("PER", "ORG", "LOC")


def words(text: str) -> list[str]:
    return [text[start:end] for start, end in tokenize(text)]


# tokens ----------------------------------------------------------------------------------------


def test_offsets_are_exact_on_non_ascii_text_and_crlf_line_breaks():
    text = "Zoë Kim left São Paulo.\r\nŁódź, 3 May: Zoe\u0308 Dvořák (CEO) paid 1,200.50 €!\r\n\r\nEnd"
    offsets = tokenize(text)
    assert words(text) == ["Zoë", "Kim", "left", "São", "Paulo", ".", "Łódź", ",", "3", "May", ":",
                           "Zoe\u0308", "Dvořák", "(", "CEO", ")", "paid", "1,200.50", "€", "!", "End"]
    assert offsets[6] == (text.index("Łódź"), text.index("Łódź") + 4)  # counted in code points; \r\n is 2
    assert all(start < end and not text[start:end].isspace() for start, end in offsets)
    assert "".join(words(text)) == "".join(text.split())  # every non-space character is in a token


def test_words_keep_inner_hyphens_and_apostrophes_but_not_a_possessive():
    assert words("Jean-Luc O'Sullivan don't know Kim's plan, nor Kim’s.") == [
        "Jean-Luc", "O'Sullivan", "don't", "know", "Kim", "'s", "plan", ",", "nor", "Kim", "’s", "."]
    assert tokenize("") == [] and tokenize(" \r\n\t") == []


def test_word_shapes():
    assert [word_shape(w) for w in ["Zoë", "Łódź", "2024", "McDonald", "A.I.", "hello"]] == [
        "Xxx", "Xxxx", "dddd", "XxXxxxx", "X.X.", "xxxx"]


def test_token_features_hold_the_word_its_affixes_shape_and_neighbours():
    (sequence,) = TokenFeatures(window=1, affixes=2).transform(["Zoë Kim"])
    first, last = sequence.features
    assert sequence.offsets == [(0, 3), (4, 7)] and sequence.token(0) == "Zoë"
    assert {"bias", "w=zoë", "p1=z", "p2=zo", "s1=ë", "s2=oë", "shape=Xxx", "title", "-1:BOS",
            "+1:w=kim", "+1:title"} <= set(first)
    assert "p3=zoë" not in first and "+2:EOS" not in first and "+1:EOS" in last and "-1:w=zoë" in last
    assert all(isinstance(v, float) for v in first.values())
    plain = TokenFeatures(window=0, affixes=0, shape=False, lowercase=False).transform(["Zoë"])[0].features[0]
    assert plain == {"bias": 1.0, "w=Zoë": 1.0}


def test_gazetteer_phrases_match_whole_tokens_case_insensitively_longest_first():
    gazetteers = {"city": ["São Paulo", "new york", "York"], "firm": ["Acme"]}
    (sequence,) = TokenFeatures(window=0, gazetteers=gazetteers).transform(["From NEW YORK to são paulo, not Acmes or York."])
    tags = {sequence.token(i): sorted(k for k in f if k.startswith("gaz:")) for i, f in enumerate(sequence.features)}
    assert tags["NEW"] == ["gaz:city=B"] and tags["YORK"] == ["gaz:city=I"]  # the longest phrase wins
    assert tags["são"] == ["gaz:city=B"] and tags["paulo"] == ["gaz:city=I"]
    assert tags["York"] == ["gaz:city=B"] and tags["Acmes"] == [] and tags["to"] == []
    assert "+1:gaz:city=I" in TokenFeatures(window=1, gazetteers=gazetteers).transform(["new york"])[0].features[0]


def test_token_features_are_stateless_clonable_and_read_a_column_of_rows():
    features = TokenFeatures(gazetteers={"city": {"Oslo", "Bergen"}})
    assert clone(features).get_params() == features.get_params()
    rows = np.array([["Oslo"], [None], [float("nan")]], dtype=object)
    sequences = features.fit(rows).transform(rows)
    assert [s.text for s in sequences] == ["Oslo", "", ""] and sequences[1].offsets == []
    with pytest.raises(TypeError):
        features.transform([3])


# alignment and decoding ------------------------------------------------------------------------


def test_spans_align_to_the_tokens_they_overlap_as_bio_tags():
    text = "Dr Zoë Kim-Lee met Acme Corp in Łódź."
    offsets = tokenize(text)  # Dr, Zoë, Kim-Lee, met, Acme, Corp, in, Łódź, .
    at = text.index
    spans = [(at("Zoë"), at("met") - 1, "PER"), (at("Acme"), at(" in"), "ORG"), [at("Łódź"), at("Łódź") + 4, "LOC", "Łódź"]]
    assert align(offsets, spans) == ["O", "B-PER", "I-PER", "O", "B-ORG", "I-ORG", "O", "B-LOC", "O"]
    # a span starting or ending inside a token takes the whole token ("oë Ki" -> "Zoë Kim-Lee")
    assert align(offsets, [(at("oë"), at("Kim") + 2, "PER")])[:4] == ["O", "B-PER", "I-PER", "O"]
    # overlaps: the earliest, then the longest, wins; a whitespace-only span or unknown label is left out
    assert align(offsets, [(at("Kim"), at("met") + 3, "ORG"), (at("Zoë"), at("Kim"), "PER")])[:4] == [
        "O", "B-PER", "B-ORG", "I-ORG"]
    assert align(offsets, [(at("Zoë"), at("Kim-Lee") + 7, "PER"), (at("Zoë"), at("Zoë") + 3, "LOC")])[:3] == [
        "O", "B-PER", "I-PER"]
    assert align(offsets, [(2, 3, "PER"), (at("Acme"), at("Acme") + 4, "MISC")], labels=LABELS) == ["O"] * 9


def test_constrained_viterbi_never_starts_inside_an_entity_nor_enters_one_from_outside():
    tags = bio_tags(["PER", "LOC"])  # O B-PER I-PER B-LOC I-LOC
    start, allowed = transitions(tags)
    assert start.tolist() == [True, True, False, True, False]
    assert allowed[tags.index("B-PER"), tags.index("I-PER")] and allowed[tags.index("I-PER"), tags.index("I-PER")]
    assert not allowed[tags.index("O"), tags.index("I-PER")] and not allowed[tags.index("B-LOC"), tags.index("I-PER")]
    p = np.full((3, 5), 0.01)
    p[0, tags.index("I-PER")] = p[0, tags.index("B-PER")] = 0.45  # first token: I-PER as likely as B-PER
    p[1, tags.index("I-PER")], p[2, tags.index("I-LOC")] = 0.9, 0.6  # last: I-LOC after I-PER is not allowed
    p[2, tags.index("O")] = 0.3
    path = [tags[k] for k in viterbi(np.log(p), start, allowed)]
    assert path == ["B-PER", "I-PER", "O"]
    assert viterbi(np.zeros((0, 5)), start, allowed).tolist() == []


def test_entities_are_read_from_tags_with_the_lowest_token_score():
    (sequence,) = TokenFeatures().transform(["Zoë Kim visited New York"])
    tags = ["B-PER", "I-PER", "O", "I-LOC", "I-LOC"]  # an I- after O (a CRF may decode it) starts an entity
    found = entities(sequence, tags, np.array([0.9, 0.7, 0.99, 0.8, 0.6]))
    assert found == [Entity(0, 7, "PER", "Zoë Kim", 0.7), Entity(16, 24, "LOC", "New York", 0.6)]
    assert entities(sequence, ["B-PER", "B-PER", "O", "B-LOC", "I-PER"], np.ones(5)) == [
        Entity(0, 3, "PER", "Zoë", 1.0), Entity(4, 7, "PER", "Kim", 1.0),
        Entity(16, 19, "LOC", "New", 1.0), Entity(20, 24, "PER", "York", 1.0)]


# the taggers -----------------------------------------------------------------------------------

FIRST = ["Anna", "Björn", "Chloé", "David", "Elif", "Farid", "Greta", "Hugo", "Inês", "Jonas", "Kofi", "Lena"]
LAST = ["Nowak", "Müller", "Silva", "Okafor", "Tanaka", "Rossi", "Haddad", "Jansen", "Costa", "Weber"]
ORGS = ["Veltrix Systems", "Quantia Labs", "Bluewater Bank", "Helix Group", "Kestrel Energy", "Orbis Media"]
PLACES = ["Łódź", "Zürich", "Porto", "Malmö", "Lyon", "Bergen", "Cork", "Aarhus"]
TEMPLATES = ["{PER} works for {ORG} in {LOC}.", "{ORG} hired {PER} last year.", "{PER} moved to {LOC}.",
             "The office of {ORG} in {LOC} is closed.", "Yesterday {PER} met {PER}.", "Nothing happened today."]
# held out: names, organisations and places never seen in training
NEW = {"PER": ["Maja Lindqvist", "Omar Dvořák", "Zoë Kim"], "ORG": ["Solvara Analytics", "Pinecrest Partners"],
       "LOC": ["Göteborg", "Kraków", "Reykjavík"]}


def make_text(template: str, pick) -> tuple[str, list[tuple[int, int, str]]]:
    text, spans = "", []
    for i, piece in enumerate(template.replace("}", "{").split("{")):
        if i % 2:
            name = pick(piece)
            spans.append((len(text), len(text) + len(name), piece))
            piece = name
        text += piece
    return text, spans


def training_set(n: int = 60, seed: int = 0) -> tuple[list[str], list[list]]:
    rng = random.Random(seed)
    pools = {"PER": lambda: f"{rng.choice(FIRST)} {rng.choice(LAST)}", "ORG": lambda: rng.choice(ORGS),
             "LOC": lambda: rng.choice(PLACES)}
    pairs = [make_text(rng.choice(TEMPLATES), lambda slot: pools[slot]()) for _ in range(n)]
    joined = [(a + "\r\n" + b, sa + [(s + len(a) + 2, e + len(a) + 2, x) for s, e, x in sb])
              for (a, sa), (b, sb) in zip(pairs[::2], pairs[1::2])]  # two sentences on two lines
    return [t for t, _ in pairs + joined], [s for _, s in pairs + joined]


def held_out() -> tuple[list[str], list[list]]:
    counters = {slot: 0 for slot in NEW}

    def pick(slot: str) -> str:
        counters[slot] += 1
        return NEW[slot][counters[slot] % len(NEW[slot])]

    pairs = [make_text(t, pick) for t in TEMPLATES[:5]]
    return [t for t, _ in pairs], [s for _, s in pairs]


def crf_available() -> bool:
    try:
        import pycrfsuite  # noqa: F401
    except ImportError:
        return False
    return True


TAGGERS = {
    "sgd": lambda: SequenceTagger(labels=LABELS),
    "sgd-hashing": lambda: SequenceTagger(labels=LABELS, vectorizer="hashing", n_features=2**16),
    "logreg": lambda: SequenceTagger(LogisticRegression(C=10, max_iter=500), LABELS),
    "crf": lambda: CrfTagger(labels=LABELS),
}
needs_crf = pytest.mark.skipif(not crf_available(), reason="python-crfsuite is not installed")
TAGGER_PARAMS = [pytest.param(name, marks=needs_crf if name == "crf" else ()) for name in TAGGERS]


@pytest.fixture(scope="module")
def fitted() -> dict:
    features = TokenFeatures()
    texts, spans = training_set()
    sequences = features.transform(texts)
    return {name: (features, make().fit(sequences, spans)) for name, make in TAGGERS.items()
            if name != "crf" or crf_available()}


@pytest.mark.parametrize("name", TAGGER_PARAMS)
def test_a_tagger_finds_unseen_names_in_held_out_sentences(fitted, name):
    features, tagger = fitted[name]
    texts, truth = held_out()
    predictions = tagger.predict_spans(features.transform(texts))
    got = [[(e.start, e.end, e.label) for e in found] for found, _ in predictions]
    assert got == truth
    for text, (found, score) in zip(texts, predictions):
        assert all(e.text == text[e.start:e.end] for e in found)
        assert 0.0 <= score <= 1.0 and all(0.0 <= e.score <= 1.0 for e in found)
        assert all(score <= e.score + 1e-12 for e in found)  # the text is as sure as its least sure token


@pytest.mark.parametrize("name", TAGGER_PARAMS)
def test_an_empty_text_or_one_without_entities_gives_no_entity(fitted, name):
    features, tagger = fitted[name]
    empty, plain, nothing = tagger.predict_spans(features.transform(["", "the cat sat on the mat .", "   "]))
    assert empty == ([], 1.0) and nothing == ([], 1.0)
    assert plain[0] == [] and 0.0 <= plain[1] <= 1.0
    assert tagger.predict_spans([]) == []


@pytest.mark.parametrize("name", TAGGER_PARAMS)
def test_skops_round_trip_gives_identical_predictions_with_only_trusted_types(fitted, name):
    features, tagger = fitted[name]
    model = Pipeline([("tokens", TokenFeatures(gazetteers={"city": {"Kraków", "Reykjavík"}})), ("tagger", tagger)])
    data = skops.io.dumps(model)
    untrusted = skops.io.get_untrusted_types(data=data)
    assert all(t.startswith(("sklearn.", "numpy.", "scipy.", "backend.")) for t in untrusted)
    assert {t for t in untrusted if not t.startswith("backend.")} == set()
    loaded = skops.io.loads(data, trusted=untrusted)
    texts, _ = held_out()
    assert loaded[-1].predict_spans(loaded[:-1].transform(texts)) == tagger.predict_spans(model[:-1].transform(texts))
    assert loaded[0].gazetteers == {"city": ["Kraków", "Reykjavík"]}


@pytest.mark.parametrize("name", TAGGER_PARAMS)
def test_training_without_any_entity_predicts_none(name):
    sequences = TokenFeatures().transform(["Nothing here.", "Nor here.", ""])
    tagger = TAGGERS[name]().fit(sequences, [[], [], []])
    assert tagger.predict_spans(sequences[:2]) == [([], 1.0), ([], 1.0)]


def test_a_pipeline_fits_on_rows_and_encoded_answers_without_warnings():
    texts, spans = training_set(20)
    X = np.array(texts, dtype=object).reshape(-1, 1)
    y = np.empty(len(spans), dtype=object)
    y[:] = [list(s) for s in spans]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = Pipeline([("tokens", TokenFeatures()), ("tagger", SequenceTagger(labels=LABELS))]).fit(X, y)
        (found, _), = model[-1].predict_spans(model[:-1].transform(X[:1]))
    assert [(e.start, e.end, e.label) for e in found] == list(spans[0])
    assert model[-1].labels_ == LABELS and model[-1].tags_ == bio_tags(LABELS)


def test_labels_default_to_those_of_the_training_spans():
    texts, spans = training_set(10)
    assert SequenceTagger().fit(TokenFeatures().transform(texts), spans).labels_ == ("LOC", "ORG", "PER")
    with pytest.raises(ValueError, match="vectorizer"):
        SequenceTagger(vectorizer="bag").fit(TokenFeatures().transform(texts), spans)


def test_the_dict_vectorizer_lookup_equals_its_transform_and_odd_inputs_are_handled():
    texts, spans = training_set(10)
    sequences = TokenFeatures().transform(texts)
    tagger = SequenceTagger(labels=LABELS).fit(sequences[:6], spans[:6])
    rows = [f for s in sequences[6:] for f in s.features]
    expected = tagger.estimator_.predict_proba(tagger.vectorizer_.transform(rows))
    got = tagger.token_probabilities(sequences[6:])[:, tagger.estimator_.classes_]
    np.testing.assert_allclose(got, np.maximum(expected, 1e-12))
    assert SequenceTagger().fit(TokenFeatures().transform(["", " "]), [[], []]).predict_spans([]) == []
    with pytest.raises(TypeError, match="predict_proba"):
        SequenceTagger(__import__("sklearn.svm").svm.LinearSVC()).fit(sequences, spans)
