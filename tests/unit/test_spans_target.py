"""The span kind (`<Labels>` on `<Text>`): reading Label Studio's `labels` regions into answers,
checking them against the task text, entity-level metrics, and regions written back."""

from __future__ import annotations

import numpy as np
import pytest
from backend.labelconfig import parse_label_config
from backend.targets import UnreadableAnswer, kind_of, make_target

CONFIG = parse_label_config("""<View>
  <Labels name="ner" toName="text"><Label value="PER"/><Label value="LOC"/></Labels>
  <Text name="text" value="$text"/>
  <Labels name="on_image" toName="img"><Label value="X"/></Labels><Image name="img" value="$image"/>
</View>""")
TARGET = make_target(CONFIG.controls["ner"])
TEXT = "Zoë Kim flew to São Paulo.\r\nThen Łódź."


def region(start, end, label, text=None, name="ner"):
    value = {"start": start, "end": end, "labels": [label]}
    if text is not None:
        value["text"] = text
    return {"from_name": name, "to_name": "text", "type": "labels", "value": value}


def test_labels_on_text_are_spans_and_on_an_image_are_refused():
    assert kind_of(CONFIG.controls["ner"]).kind == "spans"
    problems = kind_of(CONFIG.controls["on_image"]).problems(CONFIG.controls["on_image"], CONFIG)
    assert [p.code for p in problems] == ["unsupported-object"]


def test_every_region_is_read_sorted_and_overlaps_keep_the_first_then_longest():
    result = [region(16, 25, "LOC", "São Paulo"), region(0, 7, "PER", "Zoë Kim"), region(0, 3, "LOC"),
              region(20, 25, "LOC"), {"from_name": "other", "value": {}}]
    assert TARGET.answer(result) == [[0, 7, "PER", "Zoë Kim"], [16, 25, "LOC", "São Paulo"]]
    assert TARGET.answer([]) == []  # a text without entities is an answer


@pytest.mark.parametrize("bad, reason", [
    (region(5, 5, "PER"), "bad-offsets"), (region(-1, 3, "PER"), "bad-offsets"),
    (region(True, 3, "PER"), "bad-offsets"), (region(0, 3, "ORG"), "unknown-label"),
    ({"from_name": "ner", "value": {"start": 0, "end": 3, "labels": []}}, "no-answer"),
    ({"from_name": "ner", "value": "x"}, "no-answer"),
])
def test_a_bad_region_makes_the_annotation_unusable_with_its_reason(bad, reason):
    with pytest.raises(UnreadableAnswer) as caught:
        TARGET.answer([region(0, 7, "PER"), bad])
    assert caught.value.reason == reason


def test_offsets_are_code_points_and_a_shifted_span_is_moved_to_its_text():
    assert TEXT[16:25] == "São Paulo" and TEXT[33:37] == "Łódź"
    exact = TARGET.check_answer([[33, 37, "LOC", "Łódź"]], [TEXT])
    assert exact == [[33, 37, "LOC", "Łódź"]]
    # offsets counted without the \r (a normalised line break): found again one character on
    assert TARGET.check_answer([[32, 36, "LOC", "Łódź"]], [TEXT]) == [[33, 37, "LOC", "Łódź"]]
    with pytest.raises(UnreadableAnswer):
        TARGET.check_answer([[0, 7, "PER", "Nobody"]], [TEXT])
    with pytest.raises(UnreadableAnswer):
        TARGET.check_answer([[30, 99, "PER", None]], [TEXT])


def test_entity_metrics_need_exact_span_and_label():
    answers = [[[0, 7, "PER", "Zoë Kim"], [16, 25, "LOC", "São Paulo"]], []]
    outputs = np.empty(2, dtype=object)
    outputs[0] = ([(0, 7, "PER", "Zoë Kim", 0.9), (16, 24, "LOC", "São Paul", 0.5)], 0.5)
    outputs[1] = ([(0, 4, "LOC", "Then", 0.6)], 0.6)
    scores = TARGET.scores(answers, outputs)
    assert scores["precision_micro"] == pytest.approx(1 / 3, abs=1e-4)
    assert scores["recall_micro"] == 0.5
    assert scores["f1_micro"] == pytest.approx(0.4)
    assert scores["f1_macro"] == 0.5  # PER: 1 of 1 found, none wrong (F1 1); LOC: F1 0


def test_regions_and_scores_in_label_studio_form():
    output = ([(0, 7, "PER", "Zoë Kim", 0.91234567)], 0.42)
    outputs = np.empty(1, dtype=object)
    outputs[0] = output
    assert TARGET.confidence(outputs, "least_confidence").tolist() == [0.42]
    assert TARGET.regions(output) == [{"from_name": "ner", "to_name": "text", "type": "labels", "id": "ner-0-7",
                                       "value": {"start": 0, "end": 7, "labels": ["PER"], "text": "Zoë Kim"},
                                       "score": 0.912346}]
    assert TARGET.answer(TARGET.result([[0, 7, "PER", "Zoë Kim"]])) == [[0, 7, "PER", "Zoë Kim"]]
    assert TARGET.failed(TARGET.stack([output, None])).tolist() == [False, True]


def test_readiness_and_gaps_count_entities_per_label():
    from backend.targets import answer_key

    counts = {answer_key([[0, 7, "PER", "Zoë Kim"]]): 3, answer_key([]): 2}
    assert TARGET.readiness(counts, 0) is None
    assert "LOC" in TARGET.readiness(counts, 1)
    assert TARGET.gaps(counts) == ["no entity annotated yet for: LOC"]
    assert TARGET.readiness({answer_key([]): 5}, 0) == "need at least one annotated entity"


def test_spans_are_learnt_and_predicted_through_the_kinds_model():
    """The kind's own model (encode, wrap, outputs) learns entities told by the word before them,
    and finds them in unseen texts. Fails if encode, wrap or outputs drop or shift anything."""
    from backend.features import Featurizer, rows_to_matrix
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    def text(i: int, cue: str, name: str) -> tuple[str, list]:
        words = f"Report {i}: {cue} {name} arrived today."
        start = words.index(name)
        return words, [[start, start + len(name), "PER" if cue == "Mr" else "LOC", name]]

    made = [text(i, cue, name) for i in range(12) for cue, name in (("Mr", f"Zoë{i % 4}"), ("in", f"Łódź{i % 4}"))]
    X = rows_to_matrix([[t] for t, _ in made])
    model = Pipeline([("features", Featurizer([{"field": "text", "type": "tokens"}])),
                      ("model", TARGET.wrap(LogisticRegression(C=10)))]).fit(X, TARGET.encode([a for _, a in made]))
    unseen = [text(99, "Mr", "Zoë2"), text(98, "in", "Łódź1")]
    outputs = TARGET.outputs(model, rows_to_matrix([[t] for t, _ in unseen]))
    assert [[list(e[:4]) for e in entities] for entities, _ in outputs] == [a for _, a in unseen]
    scores = TARGET.confidence(outputs, "least_confidence")
    assert scores.dtype == float and ((0 <= scores) & (scores <= 1)).all()
    assert TARGET.encode([[[0, 3, "PER", "Zoë"]], []]).tolist() == [[(0, 3, "PER")], []]


def test_edges_of_reading_and_checking_spans():
    """Fails on off-by-one offsets, on the wrong overlap or tie rule, on stopping at a region of
    another control, or on moving a span to a farther occurrence of its text."""
    other_first = [{"from_name": "other", "value": {}}, region(0, 7, "PER", "Zoë Kim")]
    assert TARGET.answer(other_first) == [[0, 7, "PER", "Zoë Kim"]]
    assert TARGET.answer([region(0, 3, "PER"), region(3, 7, "LOC")]) == [[0, 3, "PER", None], [3, 7, "LOC", None]]
    assert TARGET.answer([region(0, 3, "PER", "x"), region(0, 3, "LOC", "y")]) == [[0, 3, "LOC", "y"]]
    assert TARGET.check_answer([[33, len(TEXT), "LOC", None]], [TEXT]) == [[33, 38, "LOC", "Łódź."]]
    twice = "Kim met Kim and then Kim."
    assert TARGET.check_answer([[19, 22, "PER", "Kim"]], [twice]) == [[21, 24, "PER", "Kim"]]
    assert TARGET.check_answer([[2, 5, "PER", "Kim"]], [twice]) == [[0, 3, "PER", "Kim"]]
    assert TARGET.check_answer([[7, 10, "PER", "Kim"]], [twice]) == [[8, 11, "PER", "Kim"]]


def test_problems_counts_and_empty_scores():
    assert TARGET.problems(CONFIG.controls["ner"], CONFIG) == []
    lost = parse_label_config('<View><Labels name="l" toName="nowhere"><Label value="A"/></Labels></View>')
    assert [p.code for p in TARGET.problems(lost.controls["l"], lost)] == ["unknown-object"]
    from backend.targets import answer_key

    counts = {answer_key([[0, 3, "PER", "Zoë"]]): 3, answer_key([[0, 3, "PER", "Kim"], [4, 7, "LOC", "Rio"]]): 2}
    assert TARGET.readiness(counts, 5) == "min_per_class is 5; these labels have fewer entities: {'LOC': 2}"
    assert TARGET.gaps({answer_key([]): 1}) == ["no entity annotated yet for: PER, LOC"]
    none = np.empty(1, dtype=object)
    none[0] = ([], 1.0)
    assert TARGET.scores([[]], none) == {"f1_micro": 0.0, "f1_macro": 0.0, "precision_micro": 0.0, "recall_micro": 0.0}
