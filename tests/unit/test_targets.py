"""Target kinds, one by one: reading answers (and refusing bad ones with a reason), the model
each kind fits, its metrics, readiness, active-learning scores and result regions."""

from __future__ import annotations

import json

import numpy as np
import pytest
from backend.labelconfig import parse_label_config
from backend.targets import KINDS, UnreadableAnswer, answer_key, kind_of, make_target
from backend.targets.multiple_choice import best_thresholds, rescale
from backend.targets.number import RegressorWithErrors
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge

CONFIG = parse_label_config("""<View><Text name="t" value="$t"/>
  <Choices name="one" toName="t"><Choice value="a"/><Choice value="b"/><Choice value="c"/></Choices>
  <Choices name="many" toName="t" choice="multiple"><Choice value="a"/><Choice value="b"/><Choice value="c"/></Choices>
  <Number name="price" toName="t" min="0" max="100" step="0.5"/>
  <Rating name="stars" toName="t" maxRating="4"/>
  <Taxonomy name="tree" toName="t"><Choice value="x"/></Taxonomy>
</View>""")
KIND_OF = {"one": "single_choice", "many": "multiple_choice", "price": "number", "stars": "rating"}
GOOD = {"one": "b", "many": ["a", "c"], "price": 12.5, "stars": 3}
BAD = {  # result value -> the reason it is skipped
    "one": [({"choices": ["z"]}, "unknown-choice"), ({"choices": []}, "no-answer")],
    "many": [({"choices": ["a", "z"]}, "unknown-choice"), ({"choices": []}, "no-answer"),
             ({"choices": "a"}, "no-answer")],
    "price": [({"number": "12"}, "not-a-number"), ({"number": 101}, "out-of-range"),
              ({"number": True}, "not-a-number"), ({"number": float("nan")}, "not-a-number")],
    "stars": [({"rating": 5}, "out-of-range"), ({"rating": 0}, "out-of-range"), ({"rating": 2.5}, "not-a-number")],
}


def target(name: str, **options):
    return make_target(CONFIG.controls[name], options)


def test_the_registry_picks_a_kind_from_the_tag_and_its_attributes():
    assert {name: kind_of(CONFIG.controls[name]).kind for name in KIND_OF} == KIND_OF
    assert kind_of(CONFIG.controls["tree"]) is None
    assert len({kind.kind for kind in KINDS}) == len(KINDS)
    for kind in KINDS:
        assert kind.default_metric in kind.metrics and kind.prequential_metric in kind.metrics


@pytest.mark.parametrize("name", list(KIND_OF))
def test_answers_round_trip_and_bad_ones_are_refused_with_a_reason(name):
    t = target(name)
    assert t.answer(t.result(GOOD[name])) == GOOD[name]
    assert json.loads(answer_key(GOOD[name])) == GOOD[name]
    for result in (None, [], [{"from_name": "other", "value": {}}]):
        with pytest.raises(UnreadableAnswer) as caught:
            t.answer(result)
        assert caught.value.reason == "no-answer"
    for value, reason in BAD[name]:
        with pytest.raises(UnreadableAnswer) as caught:
            t.answer([{"from_name": name, "to_name": "t", "type": t.type, "value": value}])
        assert caught.value.reason == reason, value


def test_multiple_choice_answers_are_sets_in_config_order():
    t = target("many")
    assert t.answer(t.result(["c", "a", "c"])) == ["a", "c"]
    assert t.encode([["a"], ["b", "c"]]).tolist() == [[1, 0, 0], [0, 1, 1]]


def test_thresholds_rescale_to_one_half_and_tuning_finds_them():
    proba = np.array([[0.1, 0.3, 0.9], [0.25, 0.29, 0.31]])
    out = rescale(proba, np.array([0.5, 0.3, 0.3]))
    assert np.allclose(out[:, 0], proba[:, 0]) and out[0, 1] == pytest.approx(0.5)
    assert ((out >= 0.5) == (proba >= [0.5, 0.3, 0.3])).all()
    Y = np.array([[1, 0], [1, 0], [0, 0], [0, 0]] * 5)
    P = np.array([[0.3, 0.1], [0.35, 0.2], [0.1, 0.3], [0.2, 0.2]] * 5)
    thresholds = best_thresholds(Y, P)
    assert 0.2 < thresholds[0] <= 0.3  # splits 0.3/0.35 from 0.1/0.2
    assert thresholds[1] == 0.5  # no positives: F1 cannot choose


def test_multiple_choice_model_metrics_readiness_and_scores():
    t = target("many", threshold="tuned")
    X = np.array([[i % 3 == 0, i % 3 == 1, i % 2] for i in range(30)], dtype=float)
    answers = [[label for label, on in zip("abc", (x[0], x[1], x[2])) if on] or ["c"] for x in X]
    model = t.wrap(LogisticRegression()).fit(X, t.encode(answers))
    outputs = t.outputs(model, X)
    assert outputs.shape == (30, 3) and ((0 <= outputs) & (outputs <= 1)).all()
    assert set(t.scores(answers, outputs)) == set(t.metrics)
    assert t.scores(answers, outputs)["f1_samples"] > 0.8
    counts = {answer_key(a): 1 for a in (["a"], ["a", "b"])}
    assert t.readiness(counts, 0) is None
    assert "fewer" in t.readiness(counts, 1)  # c has no positive
    assert t.gaps(counts) == ["no annotation chooses yet: c"]
    assert "differ" in t.readiness({answer_key(["a"]): 5}, 0)
    sure, unsure = t.confidence(np.array([[0.99, 0.01, 0.98], [0.99, 0.52, 0.01]]), "least_confidence")
    assert 0 <= unsure < sure <= 1
    for strategy in t.strategies:
        scores = t.confidence(outputs, strategy)
        assert ((0 <= scores) & (scores <= 1)).all()
    assert t.regions(np.array([0.2, 0.1, 0.3])) == []  # nothing reaches its threshold: a valid empty result
    assert t.regions(np.array([0.6, 0.1, 0.5]))[0]["value"] == {"choices": ["a", "c"]}


@pytest.mark.parametrize("estimator", [Ridge(), LinearRegression()])
def test_numbers_stay_in_the_tag_and_score_their_own_errors(estimator):
    t = target("price")
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 10, size=(80, 2))
    noise = np.where(X[:, 1] > 5, 8.0, 0.5)  # the second half is much noisier
    y = np.clip(5 * X[:, 0] + rng.normal(0, noise), 0, 100)
    model = t.wrap(estimator).fit(X, y)
    assert isinstance(model, RegressorWithErrors)
    outputs = t.outputs(model, np.array([[1.0, 1.0], [1.0, 9.0], [50.0, 1.0]]))
    assert outputs[2, 0] == 100  # clipped to max
    assert all(v * 2 == int(v * 2) for v in outputs[:, 0])  # on the 0.5 step grid
    calm, noisy, _ = t.confidence(outputs, "least_confidence")
    assert noisy < calm
    assert set(t.scores(list(y), t.outputs(model, X))) == set(t.metrics)
    assert t.readiness({"1": 3}, 5) == "need annotations with at least 2 different values"
    assert t.readiness({"1": 3, "2": 1}, 5) is None


def test_ratings_are_whole_stars():
    t = target("stars")
    assert t.regions(np.array([3.6, 0.2])) == [t.region({"rating": 4})]
    assert t.regions(np.array([9.0, 0.2]))[0]["value"] == {"rating": 4}
    assert t.constrain(np.array([-3.0]))[0] == 1
