"""Out-of-sample measurement and the promotion gate (backend/evaluation.py): which method
measures, that its outputs really are out of sample, what the gate compares, and its
decision at the tolerance's edge for metrics where higher or lower is better."""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest
from backend.config import EvaluationPolicy, PromotionPolicy
from backend.evaluation import KFOLD_BELOW, MIN_COMPARE, compare, evaluate, promotion_decision
from test_trainer import make_service


@pytest.fixture(scope="module")
def memorizer(tmp_path_factory):
    """A service whose model is 1-nearest-neighbour on one number: perfect on what it has seen,
    a coin flip on unseen rows whose labels are noise."""
    config = ('<View><Text name="text" value="$x"/><Choices name="mood" toName="text">'
              '<Choice value="pos"/><Choice value="neg"/></Choices></View>')
    return make_service(tmp_path_factory.mktemp("evaluation"), labeling_config=config,
                        features=[{"field": "x", "type": "number"}],
                        model={"class": "KNeighborsClassifier", "params": {"n_neighbors": 1}},
                        training={"random_state": 3}, evaluation={"folds": 5})


def noise(n: int, seed: int = 0) -> tuple[list[list[float]], list[str]]:
    rng = random.Random(seed)
    return [[float(i)] for i in range(n)], [rng.choice(["pos", "neg"]) for _ in range(n)]


def with_evaluation(service, **changes):
    return dataclasses.replace(service.config, evaluation=dataclasses.replace(service.config.evaluation, **changes))


def test_kfold_outputs_are_out_of_sample(memorizer):
    """Every row's k-fold output comes from a fit that did not see it: a model that memorizes
    scores near chance on noise labels, not 1.0, and every row is measured."""
    rows, answers = noise(60)
    metrics, out_of_sample, measured = evaluate(memorizer.config, memorizer.target, rows, answers)
    assert metrics["evaluation"] == "stratified 5-fold cross-validation"
    assert metrics["n_train"] == 60 and metrics["class_counts"] == {
        "neg": answers.count("neg"), "pos": answers.count("pos")}
    assert metrics["accuracy"] < 0.75
    indexes, outputs = measured
    assert indexes == list(range(60)) and outputs.shape == (60, 2)
    assert np.allclose(outputs.sum(axis=1), 1)  # every row was filled by some fold
    assert (out_of_sample([3, 7]) == outputs[[3, 7]]).all()


def test_holdout_measures_a_fit_without_the_held_out_rows(memorizer):
    """The holdout's model never saw the held-out rows; its size is holdout_fraction of the
    annotations, and refitting without chosen rows predicts them out of sample too."""
    rows, answers = noise(100)
    config = with_evaluation(memorizer, method="holdout", holdout_fraction=0.3)
    metrics, out_of_sample, measured = evaluate(config, memorizer.target, rows, answers)
    assert metrics["evaluation"] == "stratified holdout of 30"
    indexes, outputs = measured
    assert len(indexes) == 30 == len(set(indexes)) and outputs.shape == (30, 2)
    assert metrics["accuracy"] < 0.8
    again = out_of_sample([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    predicted = np.asarray(memorizer.target.labels)[again.argmax(axis=1)]
    assert (predicted == np.asarray(answers[:10])).mean() < 1.0  # not memorized: refit without them


@pytest.mark.parametrize("method", ["kfold", "holdout"])
def test_the_same_seed_measures_the_same_and_another_seed_differently(memorizer, method):
    """Folds and holdouts are drawn from training.random_state: two evaluations agree exactly,
    another seed draws other ones, and without a random_state the seed is 0 (still reproducible)."""
    rows, answers = noise(80, seed=5)

    def measured(random_state):
        config = dataclasses.replace(
            memorizer.config, training=dataclasses.replace(memorizer.config.training, random_state=random_state),
            evaluation=dataclasses.replace(memorizer.config.evaluation, method=method))
        metrics, _, (indexes, outputs) = evaluate(config, memorizer.target, rows, answers)
        return metrics, list(indexes), outputs.tolist()

    first = measured(3)
    assert measured(3) == first
    assert measured(4) != first
    assert measured(None) == measured(0)
    if method == "holdout":  # seed 0 exactly: the holdout is the one the target draws with it
        assert measured(None)[1] == list(memorizer.target.holdout(answers, 16, 0))


def test_evaluation_fits_know_only_the_classes_annotated(tmp_path):
    """An incremental model fitted for evaluation declares only the classes in its annotations
    (not every label of the config, as the served model does): a label nobody chose yet gets
    probability 0 out of sample."""
    config = ('<View><Text name="text" value="$text"/><Choices name="mood" toName="text">'
              '<Choice value="pos"/><Choice value="neg"/><Choice value="meh"/></Choices></View>')
    service = make_service(tmp_path, labeling_config=config,
                           features=[{"field": "text", "type": "text", "vectorizer": "hashing", "n_features": 256}],
                           model={"class": "SGDClassifier", "params": {"loss": "log_loss", "random_state": 0}},
                           training={"incremental": True, "random_state": 0})
    rows = [[f"{'good' if i % 2 else 'bad'} w{i}"] for i in range(20)]
    answers = ["pos" if i % 2 else "neg" for i in range(20)]
    metrics, _, (indexes, outputs) = evaluate(service.config, service.target, rows, answers)
    assert metrics["evaluation"] == "stratified 2-fold cross-validation"
    assert (outputs[:, service.target.labels.index("meh")] == 0).all()
    assert np.allclose(outputs.sum(axis=1), 1)


@pytest.mark.parametrize(("n", "method"), [(KFOLD_BELOW - 1, "kfold"), (KFOLD_BELOW, "holdout")])
def test_auto_picks_kfold_below_200_annotations_and_holdout_from_200(memorizer, n, method):
    """evaluation.method auto: k-fold under KFOLD_BELOW annotations, a holdout from there on."""
    rows, answers = noise(n)
    metrics = evaluate(memorizer.config, memorizer.target, rows, answers)[0]
    assert metrics["evaluation"].startswith("stratified 5-fold" if method == "kfold" else "stratified holdout of 40")


def test_too_few_annotations_are_not_measured_but_can_still_be_predicted(memorizer):
    """When no folds or holdout can be made, the metrics say why, nothing is measured, and the
    gate still gets out-of-sample outputs by refitting without the rows it asks for."""
    rows, answers = [[0.0], [1.0], [2.0], [3.0]], ["pos", "pos", "pos", "neg"]
    metrics, out_of_sample, measured = evaluate(memorizer.config, memorizer.target, rows, answers)
    assert metrics == {"n_train": 4, "class_counts": {"neg": 1, "pos": 3},
                       "evaluation": "not measured: a class has a single annotation"}
    assert measured is None
    assert out_of_sample([3]).argmax() == memorizer.target.labels.index("pos")  # "neg" was left out
    config = with_evaluation(memorizer, method="holdout")
    metrics, out_of_sample, measured = evaluate(config, memorizer.target, rows, answers)
    assert metrics["evaluation"].startswith("not measured: a holdout needs") and measured is None
    assert out_of_sample([0]).shape == (1, 2)


class Always:
    """A served model that always says 'pos'."""

    classes_ = np.array(["neg", "pos"])

    def predict_proba(self, X):
        return np.tile([0.0, 1.0], (len(X), 1))


class Served:
    model = Always()


def test_the_gate_compares_only_on_annotations_written_since_the_served_model(memorizer):
    """Both models are scored on the annotations newer than the served model (seq above its
    last), the new one on its out-of-sample outputs for exactly those rows."""
    target = memorizer.target
    answers = ["pos"] * 10 + ["neg", "pos"] * 15  # 30 fresh ones, half neg
    rows, seqs = [[float(i)] for i in range(40)], list(range(1, 41))
    asked = []

    def out_of_sample(indexes):
        asked.append(list(indexes))
        return np.array([[1.0, 0.0] if answers[i] == "pos" else [0.0, 1.0] for i in indexes])  # pos, neg

    comparison = compare(target, Served(), 10, seqs, rows, answers, out_of_sample)
    assert asked == [list(range(10, 40))] and comparison["annotations"] == 30
    assert comparison["new"]["accuracy"] == 1.0 and comparison["served"]["accuracy"] == 0.5


def test_the_gate_needs_20_fresh_annotations_to_compare(memorizer):
    """Fewer than MIN_COMPARE fresh annotations: only their number, no scores."""
    target, answers = memorizer.target, ["pos", "neg"] * 20
    rows, seqs = [[float(i)] for i in range(40)], list(range(1, 41))
    outputs = lambda indexes: np.tile([0.5, 0.5], (len(indexes), 1))  # noqa: E731
    assert compare(target, Served(), 40 - MIN_COMPARE + 1, seqs, rows, answers, outputs) == {
        "annotations": MIN_COMPARE - 1}
    assert set(compare(target, Served(), 40 - MIN_COMPARE, seqs, rows, answers, outputs)) == {
        "annotations", "new", "served"}


def decide(service, comparison=None, kind="full", has_served=True, policy="if_better", tolerance=0.25,
           metric="f1_macro"):
    config = dataclasses.replace(service.config, promotion=PromotionPolicy(policy, tolerance, 5),
                                 evaluation=EvaluationPolicy("auto", 0.2, 5, metric))
    metrics = {} if comparison is None else {"comparison": comparison}
    return promotion_decision(config, service.target, has_served, {"kind": kind, "metrics": metrics})


def test_first_incremental_and_always_models_are_served(memorizer):
    """The first model, an incremental update and any model under policy 'always' are served
    whatever the comparison says."""
    worse = {"annotations": 30, "new": {"f1_macro": 0.1}, "served": {"f1_macro": 0.9}}
    assert decide(memorizer, worse, has_served=False) == (True, "the project's first model")
    assert decide(memorizer, worse, kind="incremental") == (True, "an incremental update of the served model")
    assert decide(memorizer, worse, policy="always") == (True, "promotion policy: always")
    assert decide(memorizer, worse)[0] is False


def test_without_enough_fresh_annotations_the_newer_model_is_served(memorizer):
    """No comparison, or too few fresh annotations to score: no evidence against the newer."""
    assert decide(memorizer, {"annotations": 7}) == (
        True, "7 annotations since the served model, 20 needed to compare: no evidence against the newer")
    assert decide(memorizer, None)[1].startswith("0 annotations since the served model")


@pytest.mark.parametrize(("metric", "new", "served", "ok"), [
    ("f1_macro", 0.5, 0.75, True),  # higher is better: exactly the tolerance below
    ("f1_macro", 0.49, 0.75, False),
    ("f1_macro", 0.9, 0.75, True),
    ("log_loss", 1.0, 0.75, True),  # lower is better: exactly the tolerance above
    ("log_loss", 1.01, 0.75, False),
    ("log_loss", 0.25, 0.75, True),
])
def test_the_gate_allows_the_tolerance_in_the_metrics_direction(memorizer, metric, new, served, ok):
    """A new model within the tolerance of the served one on the spec's metric is served, in
    the metric's direction; the reason gives both scores, the count and the tolerance."""
    comparison = {"annotations": 25, "new": {metric: new}, "served": {metric: served}}
    decision, reason = decide(memorizer, comparison, metric=metric)
    text = f"{metric} {new} against {served} for the served model, on the 25 annotations since it was " \
           f"trained (tolerance 0.25)"
    assert (decision, reason) == (ok, text if ok else f"worse: {text}")


def test_kfold_outputs_of_any_type_are_gathered_row_by_row(memorizer, monkeypatch):
    """A kind whose outputs are no numbers (a span target's regions, held in an object array)
    gets each row's out-of-fold output back in its row, as it was."""
    target = memorizer.target
    monkeypatch.setattr(target, "outputs", lambda model, X: np.array([[{"row": float(x[0])}] for x in X], dtype=object))
    monkeypatch.setattr(target, "scores", lambda answers, outputs: {"accuracy": 1.0})
    rows, answers = noise(20)
    metrics, _, (indexes, outputs) = evaluate(memorizer.config, target, rows, answers)
    assert outputs.dtype == object and [cell[0]["row"] for cell in outputs] == [float(i) for i in range(20)]
