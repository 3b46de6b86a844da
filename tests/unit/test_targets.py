"""Target kinds, one by one: reading answers (and refusing bad ones with a reason), the model
each kind fits, its metrics, readiness, active-learning scores and result regions."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
from backend.labelconfig import parse_label_config
from backend.scoring import confidence_scores
from backend.targets import KINDS, UnreadableAnswer, answer_key, kind_of, make_target
from backend.targets.base import MIN_HOLDOUT
from backend.targets.multiple_choice import best_thresholds, rescale
from backend.targets.number import RegressorWithErrors
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge, SGDClassifier, SGDRegressor
from sklearn.neighbors import KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

CONFIG = parse_label_config("""<View><Text name="t" value="$t"/>
  <Choices name="one" toName="t"><Choice value="a"/><Choice value="b"/><Choice value="c"/></Choices>
  <Choices name="many" toName="t" choice="multiple"><Choice value="a"/><Choice value="b"/><Choice value="c"/></Choices>
  <Number name="price" toName="t" min="0" max="100" step="0.5"/>
  <Rating name="stars" toName="t" maxRating="4"/>
  <Taxonomy name="tree" toName="t"><Choice value="x"/></Taxonomy>
</View>""")
KIND_OF = {"one": "single_choice", "many": "multiple_choice", "price": "number", "stars": "rating"}
GOOD = {"one": "b", "many": ["a", "c"], "price": 12.5, "stars": 3}
BAD = {  # result value -> the reason it is skipped, and what the message says
    "one": [({"choices": ["z"]}, "unknown-choice", "'z' is not a choice of 'one'"),
            ({"choices": []}, "no-answer", "no choice of 'one'")],
    "many": [({"choices": ["a", "z"]}, "unknown-choice", "'z' is not a choice of 'many'"),
             ({"choices": []}, "no-answer", "no choice of 'many'"),
             ({"choices": "a"}, "no-answer", "the region of 'many' has no list of choices")],
    "price": [({"number": "12"}, "not-a-number", "'price' holds '12', not a number"),
              ({"number": 101}, "out-of-range", r"'price' holds 101, outside \[0.0, 100.0\]"),
              ({"number": -0.5}, "out-of-range", "outside"),
              ({"number": True}, "not-a-number", "holds True"), ({"number": float("nan")}, "not-a-number", "nan")],
    "stars": [({"rating": 5}, "out-of-range", r"outside \[1.0, 4.0\]"), ({"rating": 0}, "out-of-range", "outside"),
              ({"rating": 2.5}, "not-a-number", "'stars' holds 2.5, not a whole number of stars")],
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
    for value, reason, message in BAD[name]:
        with pytest.raises(UnreadableAnswer, match=message) as caught:
            t.answer([{"from_name": name, "to_name": "t", "type": t.type, "value": value}])
        assert caught.value.reason == reason, value


def test_multiple_choice_answers_are_sets_in_config_order():
    t = target("many")
    assert t.answer(t.result(["c", "a", "c"])) == ["a", "c"]
    zam_many = make_target(controls('<Choices name="zm" toName="t" choice="multiple"><Choice value="z"/>'
                                    '<Choice value="a"/><Choice value="m"/></Choices>')["zm"])
    assert zam_many.answer(zam_many.result(["m", "z", "a"])) == ["z", "a", "m"]  # not sorted by name
    assert zam_many.gaps({answer_key(["a"]): 1}) == ["no annotation chooses yet: z, m"]
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


# ---------------------------------------------------------------------------------------------
# The interface's shared parts (targets/base.py, targets/__init__.py)


def controls(xml_body: str) -> dict:
    return parse_label_config(f'<View><Text name="t" value="$t"/>{xml_body}</View>').controls


def test_answer_keys_are_canonical_json_text():
    """Equal answers share one stored key: object keys sorted, non-ASCII text kept as it is."""
    assert answer_key({"b": 1, "a": [1, 2]}) == '{"a": [1, 2], "b": 1}'
    assert answer_key("ünï ✓") == '"ünï ✓"'
    assert answer_key(3) == "3" and answer_key(["x", "y"]) == '["x", "y"]'


def test_an_unreadable_answer_carries_its_reason_and_message():
    """The reason is a short code for /metrics; the message says what was found."""
    caught = UnreadableAnswer("no-answer", "nothing for 'x'")
    assert caught.reason == "no-answer" and str(caught) == "nothing for 'x'"


def test_the_region_of_the_target_is_the_first_one_with_a_value():
    """region_value skips regions of other tags, non-objects and regions without a value object."""
    t = target("price")
    result = [{"from_name": "other", "value": {"number": 1}}, "junk", {"from_name": "price", "value": "x"},
              {"from_name": "price", "value": {"number": 2}}, {"from_name": "price", "value": {"number": 3}}]
    assert t.region_value(result) == {"number": 2}
    with pytest.raises(UnreadableAnswer) as caught:
        t.region_value({"from_name": "price", "value": {"number": 2}})
    assert caught.value.reason == "no-answer" and str(caught.value) == "the result is not a list"
    with pytest.raises(UnreadableAnswer, match="the result has no region of 'price'"):
        t.region_value([{"from_name": "price", "value": None}])
    assert t.region({"number": 3}) == {"from_name": "price", "to_name": "t", "type": "number", "value": {"number": 3}}
    assert (t.name, t.to_name, t.to_names, t.labels) == ("price", "t", ("t",), ())


def test_make_target_passes_the_options_and_refuses_what_no_kind_predicts():
    """make_target hands the spec's prediction options to the kind; a tag no kind predicts
    raises LookupError naming it."""
    assert make_target(CONFIG.controls["many"], {"threshold": 0.3}).threshold == 0.3
    assert make_target(CONFIG.controls["many"]).options == {}
    with pytest.raises(LookupError, match="mlgen cannot predict <Taxonomy> 'tree'"):
        make_target(CONFIG.controls["tree"])


def test_what_keeps_a_control_tag_from_being_predicted():
    """problems(): too few choices, a toName naming no object, bad numbers, a bad maxRating;
    none for a usable tag."""
    tags = controls('<Choices name="solo" toName="t"><Choice value="a"/></Choices>'
                    '<Choices name="lost" toName="nowhere"><Choice value="a"/><Choice value="b"/></Choices>'
                    '<Choices name="multi" toName="t" choice="multiple"><Choice value="a"/></Choices>'
                    '<Number name="bad" toName="t" min="low" step="inf"/><Number name="flat" toName="t" min="5" max="5"/>'
                    '<Number name="away" toName="nowhere"/><Number name="fine" toName="t" min="0" max="9" step="1"/>'
                    '<Rating name="one" toName="t" maxRating="1"/><Rating name="word" toName="t" maxRating="many"/>'
                    '<Rating name="far" toName="nowhere"/><Rating name="ok" toName="t" maxRating="10"/>'
                    '<Rating name="two" toName="t" maxRating="2"/><Number name="top" toName="t" max="high"/>'
                    '<Choices name="both" toName="x,y"><Choice value="a"/><Choice value="b"/></Choices>')
    config = parse_label_config('<View><Text name="t" value="$t"/><Text name="u" value="$u"/></View>')

    def problems(name):
        control = tags[name]
        return [(p.code, p.message, p.hint) for p in kind_of(control).problems(control, config)]

    assert problems("solo") == [("too-few-labels", "'solo' has 1 choice(s); a single-choice model needs 2 or more",
                                 None)]
    assert problems("multi")[0][1] == "'multi' has 1 choice(s); a multiple-choice model needs 2 or more"
    assert problems("lost") == [("unknown-object", "'lost' has toName='nowhere', which names no object tag",
                                 "object tags: t, u")]
    assert problems("bad") == [("invalid-value", "'bad' has min='low', not a number", None),
                               ("invalid-value", "'bad' has step='inf', not a number", None)]
    assert problems("flat") == [("invalid-value", "'flat' has min 5.0 >= max 5.0", None)]
    assert problems("away")[0][0] == "unknown-object" and problems("fine") == []
    assert problems("one") == [("invalid-value", "'one' has maxRating='1'; a rating model needs a whole number "
                                "of 2 or more", None)]
    assert problems("word")[0][1].startswith("'word' has maxRating='many'")
    assert problems("far")[0][0] == "unknown-object" and problems("ok") == [] and problems("two") == []
    assert problems("top") == [("invalid-value", "'top' has max='high', not a number", None)]
    assert problems("both")[0][1] == "'both' has toName='x,y', which names no object tag"
    empty = parse_label_config("<View/>")
    assert problems("fine") == [] and kind_of(tags["fine"]).problems(tags["fine"], empty)[0].hint == "object tags: none"


def test_shuffled_folds_and_holdouts_of_the_default_kinds():
    """Kinds that cannot stratify (numbers) split shuffled: folds cover every annotation once,
    at most half as many folds as annotations; a holdout needs MIN_HOLDOUT on each side;
    both are reproducible from their seed."""
    t = target("price")
    assert t.folds([1, 2, 3], 5, 0) == "not measured: fewer than 4 annotations"
    folds = list(t.folds(list(range(4)), 5, 0))
    assert len(folds) == 2 and sorted(i for _, test in folds for i in test) == [0, 1, 2, 3]
    folds = list(t.folds(list(range(30)), 5, 7))
    assert len(folds) == 5 and sorted(i for _, test in folds for i in test) == list(range(30))
    assert all(set(train).isdisjoint(test) and len(train) + len(test) == 30 for train, test in folds)
    assert [list(test) for _, test in folds] == [list(test) for _, test in t.folds(list(range(30)), 5, 7)]
    assert [list(test) for _, test in folds] != [list(test) for _, test in t.folds(list(range(30)), 5, 8)]
    assert [list(test) for _, test in folds][0] != list(range(6))  # shuffled
    needs = f"not measured: a holdout needs {MIN_HOLDOUT}+ annotations on each side"
    assert t.holdout(list(range(30)), MIN_HOLDOUT - 1, 0) == needs
    assert t.holdout(list(range(30)), 30 - MIN_HOLDOUT + 1, 0) == needs
    for n_test in (MIN_HOLDOUT, 30 - MIN_HOLDOUT):
        held = t.holdout(list(range(30)), n_test, 0)
        assert len(held) == n_test == len(set(held)) and set(held) <= set(range(30))
    assert list(t.holdout(list(range(30)), 12, 3)) == list(t.holdout(list(range(30)), 12, 3))
    assert list(t.holdout(list(range(30)), 12, 3)) != list(t.holdout(list(range(30)), 12, 4))


def test_rows_that_could_not_be_predicted_are_stacked_as_nan_and_found_again():
    """stack() fills a row that could not be predicted with NaN in the shape of the others;
    failed() finds those rows. With none predicted, each row is a single NaN."""
    t = target("one")
    stacked = t.stack([None, np.array([0.2, 0.8]), None, np.array([1.0, 0.0])])
    assert stacked.shape == (4, 2) and np.isnan(stacked[[0, 2]]).all() and stacked[3].tolist() == [1.0, 0.0]
    assert t.failed(stacked).tolist() == [True, False, True, False]
    assert t.stack([None, None]).shape == (2, 1) and t.failed(t.stack([None, None])).all()
    assert t.failed(np.array([[0.5, np.nan], [0.5, 0.5]])).tolist() == [True, False]
    assert t.failed(np.zeros((3, 2, 2))).tolist() == [False] * 3


# ---------------------------------------------------------------------------------------------
# Single choice


ZAM = controls('<Choices name="zam" toName="t"><Choice value="z"/><Choice value="a"/><Choice value="m"/></Choices>')


def zam():
    return make_target(ZAM["zam"])


def test_single_choice_outputs_follow_the_config_order_with_zero_for_unseen_choices():
    """A model that saw only some choices, in sklearn's sorted order, still gives one column per
    choice in the labeling config's order; a choice it never saw gets probability 0."""
    t = zam()
    X = np.array([[0.0], [1.0], [0.1], [0.9]])
    model = LogisticRegression().fit(X, ["m", "z", "m", "z"])
    assert t.trained_labels(model) == ["m", "z"]
    outputs = t.outputs(model, X)
    proba = model.predict_proba(X)  # columns m, z
    assert outputs.shape == (4, 3)
    assert np.allclose(outputs[:, 0], proba[:, 1]) and (outputs[:, 1] == 0).all()
    assert np.allclose(outputs[:, 2], proba[:, 0])
    full = LogisticRegression().fit(np.array([[0.0], [1.0], [2.0]] * 2), ["z", "a", "m"] * 2)
    assert np.allclose(zam().outputs(full, [[0.0]]).sum(), 1)
    ordered = target("one")
    abc = LogisticRegression().fit(X[:3], ["a", "b", "c"])
    assert (ordered.outputs(abc, X) == abc.predict_proba(X)).all()  # already in config order: as is


def test_single_choice_scores_match_hand_computed_values():
    """accuracy, macro and weighted F1, and log loss (probabilities read in config order, not
    sorted label order), rounded to 4 digits; no warning for a choice never predicted."""
    t = zam()
    answers = ["z", "a", "m", "z", "a", "a"]
    outputs = np.array([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3], [0.5, 0.1, 0.4], [0.5, 0.3, 0.2],
                        [0.2, 0.7, 0.1], [0.6, 0.3, 0.1]])  # predicts z, a, z, z, a, z
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scores = t.scores(answers, outputs)
    # z: 2 of 4 predictions right, both z found; a: 2 of 2 right, 2 of 3 found; m: never predicted
    f1 = {"z": 2 * 2 / (2 * 2 + 2 + 0), "a": 2 * 2 / (2 * 2 + 0 + 1), "m": 0.0}
    loss = -(math.log(0.7) + math.log(0.6) + math.log(0.4) + math.log(0.5) + math.log(0.7) + math.log(0.3)) / 6
    assert scores == {"accuracy": round(4 / 6, 4), "f1_macro": round(sum(f1.values()) / 3, 4),
                      "f1_weighted": round((2 * f1["z"] + 3 * f1["a"] + f1["m"]) / 6, 4),
                      "log_loss": round(loss, 4)}
    assert set(scores) == set(t.metrics)


def test_single_choice_folds_are_stratified_and_limited_by_the_rarest_choice():
    """As many folds as the rarest choice has annotations (at most n_folds), each holding every
    choice; a choice with a single annotation makes none."""
    t = zam()
    answers = ["z"] * 6 + ["a"] * 2 + ["m"] * 4
    folds = list(t.folds(answers, 5, 0))
    assert len(folds) == 2
    for _, test in folds:
        assert sorted(answers[i] for i in test) == ["a", "m", "m", "z", "z", "z"]
    assert len(list(t.folds(["z"] * 10 + ["a"] * 10, 5, 0))) == 5
    assert t.folds(["z", "z", "a"], 5, 0) == "not measured: a class has a single annotation"
    again = [list(test) for _, test in t.folds(answers, 5, 0)]
    assert again == [list(test) for _, test in folds] != [list(test) for _, test in t.folds(answers, 5, 1)]


def test_single_choice_holdouts_are_stratified_with_room_for_every_choice():
    """A holdout of at least MIN_HOLDOUT (and one per choice) that leaves one of each choice to
    train on, drawn in proportion; 2+ annotations per choice."""
    t = zam()
    answers = ["z"] * 10 + ["a"] * 10 + ["m"] * 10
    needs = f"not measured: a holdout needs {MIN_HOLDOUT}+ annotations, 2+ per class"
    held = t.holdout(answers, 15, 0)
    assert sorted(answers[i] for i in held) == ["a"] * 5 + ["m"] * 5 + ["z"] * 5
    assert len(t.holdout(answers, MIN_HOLDOUT, 0)) == MIN_HOLDOUT and len(t.holdout(answers, 27, 0)) == 27
    assert t.holdout(answers, MIN_HOLDOUT - 1, 0) == needs and t.holdout(answers, 28, 0) == needs
    assert t.holdout(["z"] * 20 + ["a"], 10, 0) == needs
    assert len(t.holdout(["z"] * 20 + ["a"] * 2, 10, 0)) == 10  # two of a choice are enough
    many = [str(i % 12) for i in range(40)]
    assert make_target(controls('<Choices name="c" toName="t">' + "".join(
        f'<Choice value="{i}"/>' for i in range(12)) + "</Choices>")["c"]).holdout(many, 11, 0) == needs
    assert list(t.holdout(answers, 12, 5)) == list(t.holdout(answers, 12, 5)) != list(t.holdout(answers, 12, 6))


def test_single_choice_summary_gaps_and_readiness():
    """Counts per choice (sorted); the choices nobody chose yet, in config order; readiness
    needs two choices and min_per_class of each, and says which fall short."""
    t = zam()
    assert t.summary(["z", "a", "z"]) == {"class_counts": {"a": 1, "z": 2}}
    assert list(t.summary(["z", "m", "a"])["class_counts"]) == ["a", "m", "z"]
    counts = {answer_key("z"): 3, answer_key("m"): 0}
    assert t.gaps(counts) == ["no annotation yet for: a, m"]
    assert t.gaps({answer_key(c): 1 for c in "zam"}) == []
    assert t.readiness(counts, 1) == "need annotations of at least 2 classes, have {'z': 3}"
    two = {answer_key("z"): 3, answer_key("a"): 1}
    assert t.readiness(two, 2) == "min_per_class is 2; these classes have fewer: {'a': 1, 'm': 0}"
    assert t.readiness(two, 1) == "min_per_class is 1; these classes have fewer: {'m': 0}"
    assert t.readiness(two, 0) is None
    assert t.readiness({answer_key(c): 2 for c in "zam"}, 2) is None


def test_single_choice_regions_confidence_and_choices_read():
    """The prediction is the likeliest choice; its score is the scoring module's; an answer is
    the first choice of the first region of the target that names one."""
    t = zam()
    assert t.regions(np.array([0.1, 0.2, 0.7])) == [t.region({"choices": ["m"]})]
    proba = np.array([[0.6, 0.3, 0.1], [0.4, 0.35, 0.25]])
    for strategy in t.strategies:
        assert t.confidence(proba, strategy).tolist() == confidence_scores(proba, strategy).tolist()
    result = [{"from_name": "other", "value": {"choices": ["z"]}}, {"from_name": "zam", "value": "z"},
              {"from_name": "zam", "value": {"choices": []}}, {"from_name": "zam", "value": {"choices": [1]}},
              {"from_name": "zam"}, {"from_name": "zam", "value": {"choices": ["a", "z"]}}]
    assert t.answer(result) == "a"
    with pytest.raises(UnreadableAnswer, match="no choice of 'zam'"):
        t.answer("not a list")
    assert t.encode(["z", "a"]).tolist() == ["z", "a"]


def test_single_choice_incremental_fit_declares_every_choice_first():
    """An incremental classifier's first update declares every choice of the config (later
    updates may bring choices not seen yet); an evaluation fit declares only those present."""
    t = zam()
    X, y = np.array([[0.0], [1.0]]), np.array(["z", "a"])
    served = SGDClassifier(loss="log_loss", random_state=0)
    t.partial_fit(served, X, y)
    assert sorted(served.classes_) == ["a", "m", "z"]
    measured = SGDClassifier(loss="log_loss", random_state=0)
    t.partial_fit(measured, X, y, every_class=False)
    assert sorted(measured.classes_) == ["a", "z"]
    assert t.passes(10) == 5


# ---------------------------------------------------------------------------------------------
# Multiple choice


def test_multiple_choice_thresholds_come_from_the_options():
    """prediction.threshold sets the fixed decision threshold of every choice; 'tuned' starts
    at 0.5 and is tuned later; without the option it is 0.5."""
    assert target("many").wrap(LogisticRegression()).threshold == 0.5
    fixed = target("many", threshold=0.3)
    assert not fixed.tuned and fixed.wrap(LogisticRegression()).threshold == 0.3
    tuned = target("many", threshold="tuned")
    assert tuned.tuned and tuned.wrap(LogisticRegression()).threshold == 0.5
    X = np.array([[0.0], [1.0], [2.0], [3.0]] * 3)
    model = fixed.wrap(LogisticRegression()).fit(X, fixed.encode([["a"], ["b"], ["a", "b"], ["c"]] * 3))
    assert model.thresholds_.tolist() == [0.3, 0.3, 0.3] and model.classes_.tolist() == [0, 1, 2]
    proba = model.predict_proba(X)
    assert (model.predict(X) == (proba >= 0.3)).all()


def test_a_choice_nobody_chose_is_learnt_as_never_chosen_without_a_warning():
    """Fitting with a choice that has no positive yet works, silently, and predicts it rarely."""
    t = target("many")
    X = np.array([[0.0], [1.0], [0.1], [0.9]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = t.wrap(LogisticRegression()).fit(X, t.encode([["a"], ["b"], ["a"], ["b"]]))
    assert (model.predict(X)[:, 2] == 0).all()
    with pytest.warns(ConvergenceWarning):  # other warnings of the fit still show
        t.wrap(LogisticRegression(max_iter=1)).fit(X, t.encode([["a"], ["b"], ["a", "b"], ["b"]]))


def test_multiple_choice_incremental_updates_learn_each_choice():
    """partial_fit builds one incremental binary model per choice on the first call and updates
    them after; probabilities are those of 'chosen'."""
    t = target("many")
    X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]] * 5)
    Y = t.encode([["a"], ["b"], ["a", "b"], ["c"]] * 5)
    model = t.wrap(SGDClassifier(loss="log_loss", random_state=0, alpha=1e-4))
    for _ in range(t.passes(len(Y))):
        t.partial_fit(model, X, Y)
    first = model.model_
    t.partial_fit(model, X, Y)
    assert model.model_ is first  # updated, not rebuilt
    proba = model.predict_proba(X[:4])
    assert proba.shape == (4, 3) and ((0 <= proba) & (proba <= 1)).all()
    assert (model.predict(X[:4]) == Y[:4]).all()
    assert model.classes_.tolist() == [0, 1, 2] and model.thresholds_.tolist() == [0.5, 0.5, 0.5]
    assert t.trained_labels(model) == ["a", "b", "c"]


def test_rescaling_maps_each_threshold_to_one_half():
    """Below its threshold t a probability p maps to p / 2t, above to 1/2 + (p - t) / 2(1 - t):
    0 stays 0, 1 stays 1, order is kept; thresholds of 0 or 1 do not divide by zero."""
    proba = np.array([[0.0, 0.1, 0.2, 0.6, 1.0]]).T
    out = rescale(proba, np.array([0.2]))[:, 0]
    assert out == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0])
    assert rescale(np.array([[0.0], [0.5], [1.0]]), np.array([0.0]))[:, 0] == pytest.approx([0.0, 0.75, 1.0])
    assert rescale(np.array([[0.0], [0.5], [1.0]]), np.array([1.0]))[:, 0] == pytest.approx([0.0, 0.25, 1.0], abs=1e-5)
    assert rescale(np.array([[0.9]]), np.array([0.6]))[0, 0] == pytest.approx(0.5 + 0.3 / 0.8)


def test_tuned_thresholds_prefer_the_one_nearest_one_half_among_equals():
    """Where many thresholds separate a choice perfectly, 0.5 is kept; a positive exactly at a
    grid threshold counts as chosen there; a choice without positives keeps 0.5, whatever its
    position."""
    Y = np.array([[0, 1, 1], [0, 0, 0], [0, 1, 1], [0, 0, 0]])
    P = np.array([[0.1, 0.9, 0.3], [0.2, 0.1, 0.1], [0.3, 0.8, 0.3], [0.4, 0.2, 0.2]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        thresholds = best_thresholds(Y, P)
    assert thresholds.tolist() == [0.5, 0.5, 0.3]


def test_tuning_sets_the_served_models_thresholds():
    """With thresholds tuned and enough out-of-sample outputs, tune() sets each choice's
    threshold on the pipeline's last step and reports them; else it changes nothing."""
    t = target("many", threshold="tuned")
    answers = [["a"], ["b"]] * 6
    outputs = np.array([[0.3, 0.1, 0.0], [0.1, 0.9, 0.0]] * 6)
    model = make_pipeline(FunctionTransformer(), FunctionTransformer(), t.wrap(LogisticRegression()))
    model.fit(np.array([[0.0], [1.0]] * 6), t.encode(answers))
    assert t.tune(model, answers, outputs) == {"thresholds": {"a": 0.3, "b": 0.5, "c": 0.5}}
    assert model.steps[-1][1].thresholds_.tolist() == [0.3, 0.5, 0.5]
    assert t.tune(model, answers[:MIN_HOLDOUT - 1], outputs[:MIN_HOLDOUT - 1]) == {}
    assert t.tune(model, answers[:MIN_HOLDOUT], outputs[:MIN_HOLDOUT]) != {}
    assert target("many").tune(model, answers, outputs) == {}


def test_outputs_read_the_last_step_of_any_pipeline():
    """outputs() of a pipeline uses its last step's thresholds (a tuned model's outputs move);
    a bare estimator works as well."""
    t = target("many")
    X = np.array([[0.0], [1.0], [2.0], [3.0]] * 3)
    Y = t.encode([["a"], ["b"], ["a", "b"], ["c"]] * 3)
    model = make_pipeline(FunctionTransformer(), StandardScaler(), t.wrap(LogisticRegression())).fit(X, Y)
    before = t.outputs(model, X)
    assert (before == t.outputs(model.steps[-1][1], StandardScaler().fit_transform(X))).all()
    model.steps[-1][1].thresholds_ = np.array([0.2, 0.5, 0.5])
    after = t.outputs(model, X)
    assert (after[:, 0] > before[:, 0]).all() and (after[:, 1:] == before[:, 1:]).all()


def test_tuned_decisions_use_thresholds_tuned_on_the_other_half():
    """With tuned thresholds and 2 * MIN_HOLDOUT rows or more, even rows are decided with the
    thresholds tuned on odd rows and odd rows with those of even rows; fewer rows, or fixed
    thresholds, decide at 0.5."""
    t = target("many", threshold="tuned")
    n = 2 * MIN_HOLDOUT
    Y = np.zeros((n, 3), dtype=int)
    outputs = np.zeros((n, 3))
    for i in range(n):
        positive = i < n // 2
        Y[i, 0] = positive
        outputs[i, 0] = (0.3 if positive else 0.1) if i % 2 == 0 else (0.8 if positive else 0.3)
    # odd rows tune 0.5 (any threshold in (0.3, 0.8] separates them): even positives at 0.3 missed;
    # even rows tune 0.3: odd negatives at exactly 0.3 chosen
    expected = np.zeros((n, 3), dtype=int)
    expected[1::2, 0] = 1  # every odd row chosen, no even one
    assert t.decisions(Y, outputs).tolist() == expected.tolist()
    assert t.decisions(Y[:n - 1], outputs[:n - 1]).tolist() == (outputs[:n - 1] >= 0.5).astype(int).tolist()
    assert target("many").decisions(Y, outputs).tolist() == (outputs >= 0.5).astype(int).tolist()
    assert t.decisions(Y[:1], np.array([[0.5, 0.49, 0.51]])).tolist() == [[1, 0, 1]]


def test_multiple_choice_scores_match_hand_computed_values():
    """Sample, micro and macro F1, sample Jaccard and Hamming loss of the decisions at 0.5,
    rounded to 4 digits; a choice neither answered nor predicted scores 0 in the macro F1, and
    warns nothing."""
    t = target("many")
    answers = [["a"], ["b"], ["a", "b"]]
    outputs = np.array([[0.9, 0.1, 0.0], [0.6, 0.7, 0.2], [0.4, 0.5, 0.1]])  # decides a | a, b | b
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scores = t.scores(answers, outputs)
    assert scores == {"f1_samples": round((1 + 2 / 3 + 2 / 3) / 3, 4), "f1_micro": 0.75,
                      "f1_macro": round((2 / 4 + 1 + 0) / 3, 4), "jaccard_samples": round((1 + 0.5 + 0.5) / 3, 4),
                      "hamming_loss": round(2 / 9, 4)}


def test_multiple_choice_summary_gaps_and_readiness_count_positives():
    """Each choice's positives add up over answers; readiness needs a choice that is in some
    answers but not all, and min_per_class positives of each, and says which fall short."""
    t = target("many")
    assert t.summary([["a"], ["a", "b"]]) == {"positives": {"a": 2, "b": 1, "c": 0}}
    counts = {answer_key(["a"]): 2, answer_key(["a", "b"]): 3}
    assert t.gaps(counts) == ["no annotation chooses yet: c"]
    assert t.gaps({**counts, answer_key(["c"]): 1}) == []
    assert t.readiness(counts, 4) == ("min_per_class is 4 (annotations choosing each); these choices have fewer: "
                                      "{'b': 3, 'c': 0}")
    assert t.readiness({**counts, answer_key(["c"]): 3}, 3) is None
    assert t.readiness({answer_key(["a", "b"]): 4}, 0) == (
        "need annotations whose choices differ: every choice is in all of them or in none")


def test_multiple_choice_confidence_per_strategy_by_hand():
    """The least certain choice sets the score: max(p, 1 - p), |2p - 1| or 1 - H(p) (bits);
    outputs are clipped to [0, 1] first, 0 and 1 are sure, and nothing warns."""
    t = target("many")
    outputs = np.array([[0.9, 0.2, 1.0], [0.5, 0.0, 1.0], [1.3, -0.2, 0.75]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        least = t.confidence(outputs, "least_confidence")
        margin = t.confidence(outputs, "margin")
        entropy = t.confidence(outputs, "entropy")

    def h(p):
        return -(p * math.log2(p) + (1 - p) * math.log2(1 - p))

    assert least.tolist() == pytest.approx([0.8, 0.5, 0.75])
    assert margin.tolist() == pytest.approx([0.6, 0.0, 0.5])
    assert entropy.tolist() == pytest.approx([1 - h(0.2), 0.0, 1 - h(0.75)])
    with pytest.raises(ValueError, match="unknown active-learning strategy 'random'"):
        t.confidence(outputs, "random")


# ---------------------------------------------------------------------------------------------
# Numbers and ratings


NUMBERS = controls('<Number name="free" toName="t"/><Number name="odd" toName="t" min="1" max="9" step="2"/>'
                   '<Number name="evens" toName="t" step="2"/>'
                   '<Number name="halves" toName="t" step="0.5"/><Number name="whole" toName="t" min="0" step="1"/>'
                   '<Number name="offset" toName="t" min="0.5" step="1"/><Rating name="plain" toName="t"/>')


def number(name):
    return make_target(NUMBERS[name])


def test_numbers_are_kept_on_the_step_grid_from_min_inside_the_bounds():
    """constrain(): the step grid starts at min (or 0), values are clipped to [min, max]; a tag
    without bounds leaves them alone."""
    assert number("odd").constrain([4.2, 3.9, -7, 12, 9]).tolist() == [5.0, 3.0, 1.0, 9.0, 9.0]
    assert number("halves").constrain([1.3, -0.8]).tolist() == [1.5, -1.0]
    assert number("evens").constrain([3.2, -2.9]).tolist() == [4.0, -2.0]  # the grid starts at 0
    assert number("free").constrain([-123.456, 7]).tolist() == [-123.456, 7.0]
    assert number("offset").constrain([2.2]).tolist() == [2.5]
    assert (number("odd").low, number("odd").high, number("odd").step) == (1.0, 9.0, 2.0)
    assert (number("free").low, number("free").high, number("free").step) == (None, None, None)


def test_numbers_at_their_bounds_are_answers():
    """min and max themselves are valid answers."""
    t = target("price")
    for value in (0, 100, 0.0, 50.5):
        assert t.answer(t.result(value)) == value
    assert t.encode([1, 2.5]).dtype == float


def test_number_values_as_json_are_whole_on_a_whole_grid():
    """A prediction is an integer when the step and min are whole, else a float to 6 digits."""
    assert number("whole").as_json(3.4) == 3 and isinstance(number("whole").as_json(3.4), int)
    assert number("offset").as_json(2.5) == 2.5
    assert number("halves").as_json(1.5) == 1.5 and number("free").as_json(1 / 3) == 0.333333
    assert number("odd").regions(np.array([4.2, 0.1])) == [number("odd").region({"number": 5})]
    assert number("plain").as_json(3.6) == 4


def test_number_scores_match_hand_computed_values():
    """MAE and RMSE of the predicted numbers (the first output column), and R² when the answers
    vary, rounded to 4 digits."""
    t = target("price")
    outputs = np.array([[1.0, 9.0], [2.0, 9.0], [3.0, 9.0]])
    assert t.scores([1, 2, 4], outputs) == {"mae": round(1 / 3, 4), "rmse": round(math.sqrt(1 / 3), 4),
                                            "r2": round(1 - 1 / (42 / 9), 4)}
    assert t.scores([1, 1.5], outputs[:2]) == {"mae": 0.25, "rmse": round(math.sqrt(0.125), 4), "r2": -1.0}
    assert "r2" not in t.scores([2, 2], outputs[:2]) and "r2" not in t.scores([2], outputs[:1])
    assert t.summary([3, 1, 2, 10]) == {"answers": {"min": 1.0, "median": 2.5, "max": 10.0}}
    assert t.readiness({"1": 3, "2": 0}, 1) == "need annotations with at least 2 different values"


def test_number_confidence_is_one_over_one_plus_the_expected_error():
    """1 / (1 + relative expected error), a negative expected error counting as 0, whatever the
    strategy; an unknown strategy is refused."""
    t = target("price")
    outputs = np.array([[5.0, 0.0], [5.0, 1.0], [5.0, 3.0], [5.0, -1.0]])
    for strategy in t.strategies:
        assert t.confidence(outputs, strategy).tolist() == [1.0, 0.5, 0.25, 1.0]
    with pytest.raises(ValueError, match="unknown active-learning strategy 'random'"):
        t.confidence(outputs, "random")


def test_number_passes_aim_at_a_thousand_updates():
    """Incremental passes: about 1000 updates in all, between 5 and 100 passes."""
    t = target("price")
    assert [t.passes(n) for n in (0, 1, 10, 20, 150, 300, 10_000)] == [100, 100, 100, 50, 7, 5, 5]


def test_number_outputs_read_the_last_step_of_any_pipeline():
    """outputs() of a pipeline transforms with every step but the last and predicts with it."""
    t = target("price")
    X = np.array([[float(i)] for i in range(12)])
    y = 3 * X[:, 0] + 1
    model = make_pipeline(FunctionTransformer(lambda v: v * 2), StandardScaler(), t.wrap(LinearRegression())).fit(X, y)
    outputs = t.outputs(model, X)
    assert outputs[:, 0] == pytest.approx(np.clip(np.round(y * 2) / 2, 0, 100))
    bare = t.wrap(LinearRegression()).fit(X, y)
    assert t.outputs(bare, X)[:, 0] == pytest.approx(outputs[:, 0])


def test_the_regressor_learns_answers_standardized_and_maps_predictions_back():
    """Answers in the hundreds are learnt standardized (mean 0, spread 1) and predicted in
    their own units; a constant answer has spread 1; a refit standardizes afresh."""
    X = np.array([[float(i)] for i in range(10)])
    y = 300 + 10 * X[:, 0]
    model = RegressorWithErrors(LinearRegression()).fit(X, y)
    assert (model.center_, model.scale_) == pytest.approx((float(np.mean(y)), float(np.std(y))))
    assert model.predict(X) == pytest.approx(y)
    assert model.model_.predict(X) == pytest.approx((y - y.mean()) / y.std())
    model.fit(X, np.full(10, 7.0))
    assert (model.center_, model.scale_) == (7.0, 1.0) and model.predict(X) == pytest.approx([7.0] * 10)


def test_the_regressor_expects_the_errors_it_makes_out_of_fold():
    """The error model learns errors measured out of fold, so a model that memorizes its rows
    still expects to be off on new ones; too few rows for folds use its own errors; the errors
    are relative to the typical one, 1 when there are none."""
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 10, size=(40, 1))
    y = X[:, 0] + rng.normal(0, 1, 40)
    memorizer = RegressorWithErrors(KNeighborsRegressor(n_neighbors=1)).fit(X, y)
    assert memorizer.predict(X) == pytest.approx(y)
    assert memorizer.typical_error_ > 0.1 and (memorizer.predict_error(X) > 0).any()
    assert memorizer.predict_error(X) == pytest.approx(
        np.maximum(memorizer.errors_.predict(X), 0) / memorizer.typical_error_)
    assert RegressorWithErrors(KNeighborsRegressor(n_neighbors=1)).fit(X, y).typical_error_ == memorizer.typical_error_
    assert RegressorWithErrors(KNeighborsRegressor(n_neighbors=1), seed=0).fit(X, y).typical_error_ == (
        memorizer.typical_error_)
    assert RegressorWithErrors(KNeighborsRegressor(n_neighbors=1), seed=5).fit(X, y).typical_error_ != (
        memorizer.typical_error_)
    four = RegressorWithErrors(KNeighborsRegressor(n_neighbors=1)).fit(X[:4], y[:4])  # 2 folds
    assert (four.predict_error(X[:4]) > 0).all()
    three = RegressorWithErrors(KNeighborsRegressor(n_neighbors=1)).fit(X[:3], y[:3])  # no folds: in-sample
    assert three.typical_error_ == 1.0 and (three.predict_error(X[:3]) == 0).all()
    constant = RegressorWithErrors(LinearRegression()).fit(X, np.full(40, 3.0))  # no error at all
    assert constant.typical_error_ == 1.0 and (constant.predict_error(X) == 0).all()
    # the typical error is the median one: a task expected to be off by it scores 0.5
    assert np.median(memorizer.predict_error(X)) == pytest.approx(1.0)


def test_the_regressor_learns_incrementally():
    """partial_fit standardizes with the first batch, learns the errors it made on each batch
    before learning the batch, and converges on a simple line."""
    X = np.array([[v] for v in np.linspace(-1, 1, 20)])
    y = 200 + 50 * X[:, 0]
    t = target("price")
    model = t.wrap(SGDRegressor(random_state=0, learning_rate="constant", eta0=0.05))
    t.partial_fit(model, X, y)
    center, scale = model.center_, model.scale_
    assert (center, scale) == pytest.approx((200.0, float(np.std(y))))
    assert model.typical_error_ == 1.0
    for _ in range(60):
        t.partial_fit(model, X, y + 1000)  # later batches do not restandardize
    assert (model.center_, model.scale_) == (center, scale)
    assert model.predict(X) == pytest.approx(y + 1000, rel=0.02)
    errors = model.predict_error(X)
    assert (errors >= 0).all() and errors.mean() < 0.5  # it learnt that it is now close


def test_ratings_read_their_bounds_from_max_rating():
    """A rating goes from 1 to maxRating (5 when absent) in whole stars."""
    plain = number("plain")
    assert (plain.low, plain.high, plain.step) == (1.0, 5.0, 1.0)
    assert type(plain).bounds(NUMBERS["plain"]) == (1.0, 5.0)
    assert type(plain).bounds(CONFIG.controls["stars"]) == (1.0, 4.0)
    stars = target("stars")
    assert stars.answer(stars.result(4)) == 4 and isinstance(stars.answer(stars.result(4.0)), int)
    assert stars.answer(stars.result(1)) == 1


def test_single_choice_log_loss_renormalizes_and_allows_choices_nobody_answered():
    """The log loss reads every choice of the config even when some is in no answer, and the
    probabilities of rows that do not sum to one renormalized (quietly)."""
    t = zam()
    outputs = np.array([[0.6, 0.2, 0.0], [0.1, 0.3, 0.0]])  # m in no answer; the rows sum to 0.8 and 0.4
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scores = t.scores(["z", "a"], outputs)
    assert scores["log_loss"] == round(-(math.log(0.6 / 0.8) + math.log(0.3 / 0.4)) / 2, 4)
    assert scores["accuracy"] == 1.0


@pytest.mark.parametrize("name", list(KIND_OF))
def test_a_batchs_regions_are_each_rows_own(name):
    """regions_of (a /predict's rows at once) gives what regions gives row by row, ties,
    nothing chosen and values off the tag's grid included."""
    t = target(name)
    rng = np.random.default_rng(0)
    width = 2 if name in ("price", "stars") else 3
    outputs = np.vstack([rng.uniform(-10 if width == 2 else 0, 120 if width == 2 else 1, size=(40, width)),
                         np.full((1, width), 0.5), np.zeros((1, width))])
    assert t.regions_of(outputs) == [t.regions(row) for row in outputs]
    assert t.regions_of(outputs[:0]) == []
