"""`<Labels>` on a `<Text>`: named-entity spans, found by a sequence tagger over the text's tokens.

An answer is the list of a task's entities, `[start, end, label, text]` each, sorted by start:
character offsets into the task text as Label Studio gives them (code points, as Python indexes
a str). Every `labels` region of the result counts; a result with none is a valid answer (the
text has no entity). Overlapping regions cannot all be learnt (a token has one tag): the one that
starts first wins, then the longest; the others are left out of training. A region with several
labels counts with its first.

Outputs hold one object per task: `(entities, score)`, entities as `(start, end, label, text,
score)` from the tagger (backend/sequence.py), the score in [0, 1] for active learning (the
least confident token's probability), or None when the task could not be predicted.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import numpy as np

from ..labelconfig import ControlTag, LabelConfig
from .base import Target, TargetProblem, UnreadableAnswer

Span = list  # [start, end, label, text]


class SpanTarget(Target):
    kind = "spans"
    tags = ("Labels",)
    metrics = {"f1_micro": True, "f1_macro": True, "precision_micro": True, "recall_micro": True}
    default_metric = "f1_micro"
    strategies = ("least_confidence",)
    prequential_metric = "f1_micro"
    score_meaning = ("the probability of the least certain token's tag: low when some word of the text "
                     "may or may not be (part of) an entity")
    min_labels = 1

    @classmethod
    def problems(cls, control: ControlTag, config: LabelConfig) -> list[TargetProblem]:
        found = super().problems(control, config)
        if found:
            return found
        shown = config.objects[control.to_names[0]]
        if shown.tag != "Text":
            return [TargetProblem("unsupported-object", f"'{control.name}' labels a <{shown.tag}>; mlgen predicts "
                                  "spans on <Text> only", "label a <Text value=\"$field\"/>")]
        return []

    # annotations -----------------------------------------------------------------------------

    def answer(self, result: Any) -> list[Span]:
        if not isinstance(result, list):
            raise UnreadableAnswer("no-answer", "the result is not a list")
        spans = []
        for region in result:
            if not isinstance(region, dict) or region.get("from_name") != self.name:
                continue
            spans.append(self._span(region.get("value")))
        return _without_overlaps(spans)

    def _span(self, value: Any) -> Span:
        if not isinstance(value, dict):
            raise UnreadableAnswer("no-answer", f"a region of '{self.name}' has no value")
        start, end, labels = value.get("start"), value.get("end"), value.get("labels")
        if not (_is_offset(start) and _is_offset(end) and start < end):
            raise UnreadableAnswer("bad-offsets", f"a region of '{self.name}' has start={start!r}, end={end!r}")
        if not (isinstance(labels, list) and labels and isinstance(labels[0], str)):
            raise UnreadableAnswer("no-answer", f"a region of '{self.name}' has no label")
        if labels[0] not in self.index:
            raise UnreadableAnswer("unknown-label", f"'{labels[0]}' is not a label of '{self.name}'")
        text = value.get("text")
        return [start, end, labels[0], text if isinstance(text, str) else None]

    def check_answer(self, answer: list[Span], row: list[Any]) -> list[Span]:
        """Every span checked against the task's text: its `text`, when the region has one, must
        be what the offsets select. When it is not, the span is moved to the nearest place that
        holds that text (offsets counted another way, a line break normalised), or the
        annotation is not used."""
        text = row[0]
        checked = []
        for start, end, label, said in answer:
            if end > len(text):
                raise UnreadableAnswer("bad-offsets", f"a span ends at {end}, after the text's {len(text)} characters")
            if said and text[start:end] != said:
                start = _nearest(text, said, start)
                if start is None:
                    raise UnreadableAnswer("bad-offsets", f"the text has no {said!r} near the span's offsets")
                end = start + len(said)
            checked.append([start, end, label, text[start:end]])
        return _without_overlaps(checked)

    def result(self, answer: list[Span]) -> list[dict[str, Any]]:
        return [self._region(start, end, label, text) for start, end, label, text in answer]

    def encode(self, answers: list[Any]) -> np.ndarray:
        return _objects([[(start, end, label) for start, end, label, _ in answer] for answer in answers])

    # the model -------------------------------------------------------------------------------

    def wrap(self, estimator: Any) -> Any:
        from ..sequence import SequenceTagger

        return SequenceTagger(estimator=estimator, labels=tuple(self.labels))

    def outputs(self, model: Any, X: Any) -> np.ndarray:
        sequences = model[:-1].transform(X)
        return _objects(model[-1].predict_spans(sequences))

    def stack(self, outputs: list[Any]) -> np.ndarray:
        return _objects(outputs)

    def failed(self, outputs: np.ndarray) -> np.ndarray:
        return np.array([output is None for output in outputs], dtype=bool)

    # evaluation ------------------------------------------------------------------------------

    def scores(self, answers: list[Any], outputs: np.ndarray) -> dict[str, float]:
        """Entity-level precision, recall and F1: a predicted entity counts only when its start,
        end and label all equal an annotated one's. Macro F1 averages over the labels either
        side has."""
        hits, predicted, true = Counter(), Counter(), Counter()
        for answer, (entities, _) in zip(answers, outputs):
            truth = {(start, end, label) for start, end, label, _ in answer}
            guess = {(start, end, label) for start, end, label, *_ in entities}
            for _, _, label in truth:
                true[label] += 1
            for span in guess:
                predicted[span[2]] += 1
                hits[span[2]] += span in truth
        precision = _ratio(sum(hits.values()), sum(predicted.values()))
        recall = _ratio(sum(hits.values()), sum(true.values()))
        labels = sorted(set(true) | set(predicted))
        per_label = [_f1(_ratio(hits[x], predicted[x]), _ratio(hits[x], true[x])) for x in labels]
        return {
            "f1_micro": round(_f1(precision, recall), 4),
            "f1_macro": round(float(np.mean(per_label)) if per_label else 0.0, 4),
            "precision_micro": round(precision, 4),
            "recall_micro": round(recall, 4),
        }

    def summary(self, answers: list[Any]) -> dict[str, Any]:
        counts = Counter(label for answer in answers for _, _, label, _ in answer)
        return {"entity_counts": dict(sorted(counts.items())),
                "texts_without_entities": sum(not answer for answer in answers)}

    def _label_counts(self, counts: dict[str, int]) -> Counter:
        labels: Counter = Counter()
        for key, n in counts.items():
            for span in json.loads(key):
                labels[span[2]] += n
        return labels

    def gaps(self, counts: dict[str, int]) -> list[str]:
        seen = self._label_counts(counts)
        missing = [label for label in self.labels if not seen[label]]
        return [f"no entity annotated yet for: {', '.join(missing)}"] if missing else []

    def readiness(self, counts: dict[str, int], min_per_class: int) -> str | None:
        seen = self._label_counts(counts)
        if not seen:
            return "need at least one annotated entity"
        short = {label: seen[label] for label in self.labels if seen[label] < min_per_class}
        if short:
            return f"min_per_class is {min_per_class}; these labels have fewer entities: {short}"
        return None

    # predictions -----------------------------------------------------------------------------

    def confidence(self, outputs: np.ndarray, strategy: str) -> np.ndarray:
        return np.array([output[1] if output is not None else 0.0 for output in outputs], dtype=float)

    def regions(self, output: Any) -> list[dict[str, Any]]:
        entities, _ = output
        return [{**self._region(start, end, label, text), "score": round(float(score), 6)}
                for start, end, label, text, score in entities]

    def _region(self, start: int, end: int, label: str, text: str | None) -> dict[str, Any]:
        value = {"start": start, "end": end, "labels": [label]}
        if text is not None:
            value["text"] = text
        return {**self.region(value), "id": f"{self.name}-{start}-{end}"}


def _is_offset(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _without_overlaps(spans: list[Span]) -> list[Span]:
    """The spans sorted by start, keeping of overlapping ones the earliest, then the longest."""
    kept: list[Span] = []
    for span in sorted(spans, key=lambda s: (s[0], -(s[1] - s[0]), s[2])):
        if not kept or span[0] >= kept[-1][1]:
            kept.append(span)
    return kept


def _nearest(text: str, part: str, start: int) -> int | None:
    """Where `part` occurs in `text` nearest to `start`, or None."""
    found, at = None, text.find(part)
    while at != -1:
        if found is None or abs(at - start) < abs(found - start):
            found = at
        at = text.find(part, at + 1)
    return found


def _objects(values: list[Any]) -> np.ndarray:
    """A 1-d object array of these values (numpy would make nested sequences a 2-d array)."""
    array = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        array[i] = value
    return array


def _ratio(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0
