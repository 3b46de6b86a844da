"""The exact fast path (backend/fastpath.py): equal to scikit-learn within 1e-9, on every
sample's tasks, in every output the target kind reads (a classifier's probabilities, a label
set's probabilities and thresholds, a number and its expected error), for the pipelines it
covers, and absent (None) for every pipeline it does not cover."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import yaml
from backend.config import Config
from backend.fastfeatures import FEW_TEXTS, SMALL_BATCH
from backend.fastpath import CompiledMultiLabel, CompiledRegressor, compile_model
from backend.features import Featurizer, read_row, rows_to_matrix
from backend.labelconfig import find_target, parse_label_config
from backend.model import fit_model
from backend.predictor import predict_tasks
from backend.targets import make_target
from backend.targets.multiple_choice import MultiLabelClassifier
from helpers import SAMPLES
from mlgen import load_spec
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.pipeline import Pipeline

SGD = {"class": "SGDClassifier", "params": {"loss": "log_loss", "alpha": 0.0001}}
RECIPES = {  # a text feature's options, and the estimator
    "sample": None,  # the sample's own spec
    "word13-lr": ({"analyzer": "word", "ngram_range": [1, 3]}, {"class": "LogisticRegression", "params": {"C": 10}}),
    "char44-sgd": ({"analyzer": "char_wb", "ngram_range": [4, 4], "sublinear_tf": True}, SGD),
    "counts-lr": ({"vectorizer": "count", "lowercase": False}, {"class": "LogisticRegression", "params": {}}),
}


def sample_spec(sample: str) -> dict:
    spec = yaml.safe_load((SAMPLES / sample / "backend.yaml").read_text())
    spec["labeling_config"] = str(SAMPLES / sample / spec["labeling_config"])
    return spec


def trained(sample: str, spec: dict, tmp_path, labels: slice = slice(None), keep=lambda answer: answer):
    """The spec's config, target and model fitted on the sample's annotated tasks (`labels` of
    them, each answer through `keep`), and the sample's tasks."""
    (tmp_path / "backend.yaml").write_text(yaml.safe_dump(spec))
    config = Config.from_spec(load_spec(tmp_path / "backend.yaml"))
    target = make_target(find_target(parse_label_config(config.labeling_config), config.target))
    tasks = json.loads((SAMPLES / sample / "tasks.json").read_text())
    annotated = [t for t in tasks if t.get("annotations")][labels]
    answers = [keep(target.answer(t["annotations"][0]["result"])) for t in annotated]
    model = fit_model(config, target, [read_row(t["data"], config.features) for t in annotated], answers)
    return SimpleNamespace(config=config, target=target, model=model, tasks=tasks)


def fitted(sample: str, recipe: str, tmp_path, labels: slice = slice(None)):
    spec = sample_spec(sample)
    if RECIPES[recipe] is not None:
        options, model = RECIPES[recipe]
        spec["features"] = [{"field": spec["features"][0]["field"], "type": "text", **options}]
        spec["model"] = model
    fit = trained(sample, spec, tmp_path, labels)
    return fit.model, rows_to_matrix([read_row(t["data"], fit.config.features) for t in fit.tasks])


def heldout(fit) -> list[dict]:
    """The sample's tasks without annotations (none of them trained on)."""
    return [t for t in fit.tasks if not t.get("annotations")]


def assert_same_outputs(fit, fast, X) -> None:
    """What the predictor gets from the target kind with the fast path, and without."""
    assert np.abs(fit.target.outputs(fast, X) - fit.target.outputs(fit.model, X)).max() <= 1e-9


def assert_same_predictions(fit, fast, tasks) -> None:
    """predict_tasks (regions and scores, as /predict answers) with the fast path, and without."""
    def predictions(stand_in):
        loaded = SimpleNamespace(model=fit.model, version="v", fast=stand_in, classes=())
        service = SimpleNamespace(config=fit.config, target=fit.target, predictions=None, images=None,
                                  registry=SimpleNamespace(current=lambda _: loaded, served_version=lambda _: "v"))
        return predict_tasks(service, "p", tasks)

    assert predictions(fast) == predictions(None)


@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_the_fast_path_gives_scikit_learns_probabilities(recipe, tmp_path):
    """Fails if any probability of any topics task differs from the pipeline's by more than 1e-9,
    or if a covered recipe gets no fast path."""
    model, X = fitted("topics", recipe, tmp_path)
    fast = compile_model(model)
    assert fast is not None
    assert np.abs(fast.predict_proba(X) - model.predict_proba(X)).max() <= 1e-9
    assert list(fast.classes_) == list(model.classes_)


@pytest.mark.parametrize(("sample", "recipe"), [("topics", r) for r in sorted(RECIPES)]
                         + [("multitopic", "sample"), ("penguins", "sample")])
def test_every_batch_size_too(sample, recipe, tmp_path):
    """A /predict of one task, or of a few, has its texts counted in Python (up to FEW_TEXTS),
    then by ngrams.py, and multiplied row by row (one row: one product) with no sparse matrix up
    to SMALL_BATCH. Fails if any batch of 1, 2, FEW_TEXTS, FEW_TEXTS + 1, 7, SMALL_BATCH or
    SMALL_BATCH + 1 of the sample's tasks (and the empty and unknown texts) gets probabilities
    more than 1e-9 from the pipeline's."""
    model, X = fitted(sample, recipe, tmp_path)
    if sample != "penguins":
        X = np.vstack([rows_to_matrix([[t] for t in TEXTS]), X])
    fast = compile_model(model)
    assert fast is not None
    for size in (1, 2, FEW_TEXTS, FEW_TEXTS + 1, 7, SMALL_BATCH, SMALL_BATCH + 1):
        for start in range(0, 3 * SMALL_BATCH, size):
            part = X[start:start + size]
            assert np.abs(fast.predict_proba(part) - model.predict_proba(part)).max() <= 1e-9, (size, start)


@pytest.mark.parametrize("estimator", ["lr", "sgd"])
def test_two_classes_too(estimator):
    """The binary form of both links (one score column: logistic, not softmax)."""
    texts = ["good fine great", "bad awful poor", "great good", "poor bad", "fine", "awful"] * 3
    y = ["pos", "neg"] * 9
    X = rows_to_matrix([[t] for t in texts + ["good bad", "unknown words", ""]])
    last = LogisticRegression(C=10) if estimator == "lr" else SGDClassifier(loss="log_loss", random_state=0)
    model = Pipeline([("features", Featurizer([{"field": "t", "type": "text", "ngram_range": [1, 2]}])),
                      ("model", last)]).fit(X[: len(y)], y)
    fast = compile_model(model)
    assert fast is not None and np.abs(fast.predict_proba(X) - model.predict_proba(X)).max() <= 1e-9


def test_a_hashing_vectorizer_keeps_scikit_learns_path(tmp_path):
    X = rows_to_matrix([["a b"], ["c d"]])
    model = Pipeline([("features", Featurizer([{"field": "t", "type": "text", "vectorizer": "hashing"}])),
                      ("model", LogisticRegression())]).fit(X, ["x", "y"])
    assert compile_model(model) is None


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # unscaled numbers, on purpose
def test_a_table_of_numbers_and_categories_too(tmp_path):
    """penguins: four imputed, standardized numbers with missing values, two one-hot categories,
    a logistic regression; and the same with min-max scaling, no scaling and capped categories
    (the last is not covered: scikit-learn's path)."""
    model, X = fitted("penguins", "sample", tmp_path)
    fast = compile_model(model)
    assert fast is not None and np.abs(fast.predict_proba(X) - model.predict_proba(X)).max() <= 1e-9
    unseen = X[:3].copy()
    unseen[:, -1] = "no such category"
    assert np.abs(fast.predict_proba(unseen) - model.predict_proba(unseen)).max() <= 1e-9
    for change, covered in (({"scale": "minmax"}, True), ({"scale": "none", "impute": "zero"}, True),
                            ({"max_categories": 2}, False)):
        spec = sample_spec("penguins")
        kind = "category" if "max_categories" in change else "number"
        spec["features"] = [{**f, **change} if f["type"] == kind else f for f in spec["features"]]
        fit = trained("penguins", spec, tmp_path)
        variant = fit.model
        rows = [read_row(t["data"], fit.config.features) for t in fit.tasks if t.get("annotations")]
        fast = compile_model(variant)
        assert (fast is not None) == covered, change
        if fast is not None:
            Xv = rows_to_matrix(rows)
            assert np.abs(fast.predict_proba(Xv) - variant.predict_proba(Xv)).max() <= 1e-9


def test_spans_keep_scikit_learns_path(tmp_path):
    """Spans are not covered: no fast path, never a wrong one."""
    model, _ = fitted("ner", "sample", tmp_path)
    assert compile_model(model) is None


# label sets (samples/multitopic) -------------------------------------------------------------

TEXTS = ["", "zzqx unknownword", "AI coding emotion psychology trivia"]  # empty, unseen, every topic


def multitopic_rows(fit) -> np.ndarray:
    return rows_to_matrix([read_row(t["data"], fit.config.features) for t in heldout(fit)] + [[t] for t in TEXTS])


@pytest.mark.parametrize("recipe", ["sample", "word13-lr"])
def test_label_sets_too(recipe, tmp_path):
    """multitopic: one logistic linear classifier per choice, one-vs-rest. Fails if any choice's
    probability or output of any held-out task differs from scikit-learn's by more than 1e-9, or
    if /predict's answers differ; the thresholds are the model's own, also when tuned later."""
    spec = sample_spec("multitopic")
    if RECIPES[recipe] is not None:
        spec["model"] = RECIPES[recipe][1]
    fit = trained("multitopic", spec, tmp_path)
    fast = compile_model(fit.model)
    assert isinstance(fast, CompiledMultiLabel)
    X = multitopic_rows(fit)
    assert np.abs(fast.predict_proba(X) - fit.model.predict_proba(X)).max() <= 1e-9
    assert_same_outputs(fit, fast, X)
    assert_same_predictions(fit, fast, heldout(fit)[:40] + [{"data": {"text": t}} for t in TEXTS])
    fit.model.steps[-1][1].thresholds_ = np.array([0.1, 0.3, 0.5, 0.7, 0.9])
    assert fast.thresholds_ is fit.model.steps[-1][1].thresholds_
    assert_same_outputs(fit, fast, X)


@pytest.mark.filterwarnings("ignore:Label 0 is present in all training examples")
def test_a_choice_in_none_or_all_of_the_answers(tmp_path):
    """One-vs-rest learns such a choice as a constant (no classifier): its probability stays
    0 (Trivia, in no answer) or 1 (AI, in every one), the others are scikit-learn's."""
    fit = trained("multitopic", sample_spec("multitopic"), tmp_path,
                  keep=lambda answer: ["AI", *(c for c in answer if c not in ("AI", "Trivia"))])
    fast = compile_model(fit.model)
    assert fast is not None
    X = multitopic_rows(fit)
    proba = fast.predict_proba(X)
    assert np.abs(proba - fit.model.predict_proba(X)).max() <= 1e-9
    labels = fit.target.labels
    assert (proba[:, labels.index("AI")] == 1).all() and (proba[:, labels.index("Trivia")] == 0).all()
    assert_same_outputs(fit, fast, X)


def test_label_sets_fitted_incrementally(tmp_path):
    """partial_fit makes one classifier per output (MultiOutputClassifier), covered too."""
    fit = trained("multitopic", sample_spec("multitopic"), tmp_path)
    annotated = [t for t in fit.tasks if t.get("annotations")]
    X_train = rows_to_matrix([read_row(t["data"], fit.config.features) for t in annotated])
    Y = fit.target.encode([fit.target.answer(t["annotations"][0]["result"]) for t in annotated])
    model = Pipeline([("features", Featurizer(list(fit.config.features))),
                      ("model", MultiLabelClassifier(SGDClassifier(loss="log_loss", random_state=0)))])
    rows = model[:-1].fit(X_train).transform(X_train)
    for _ in range(5):
        model.steps[-1][1].partial_fit(rows, Y)
    fast = compile_model(model)
    assert isinstance(fast, CompiledMultiLabel)
    X = multitopic_rows(fit)
    assert np.abs(fast.predict_proba(X) - model.predict_proba(X)).max() <= 1e-9


@pytest.mark.parametrize("estimator", [{"class": "ComplementNB", "params": {}},
                                       {"class": "SGDClassifier", "params": {"loss": "modified_huber"}}])
def test_label_sets_of_other_classifiers_keep_scikit_learns_path(estimator, tmp_path):
    """Naive Bayes, and a linear classifier of another loss (its probabilities are not logistic):
    no fast path."""
    spec = sample_spec("multitopic")
    spec["model"] = estimator
    assert compile_model(trained("multitopic", spec, tmp_path).model) is None


# numbers (samples/diabetes) --------------------------------------------------------------

NUMBERS = ("age", "bmi", "bp", "tc", "ldl", "hdl", "tch", "ltg", "glu")


def diabetes_tasks(fit) -> list[dict]:
    """The held-out patients, some with a measurement missing (null or absent) and some of sex
    missing or of a code the training never saw."""
    tasks = []
    for i, task in enumerate(heldout(fit)):
        patient = dict(task["data"]["patient"])
        if i % 3 == 0:
            patient[NUMBERS[i % len(NUMBERS)]] = None
        if i % 4 == 1:
            patient.pop(NUMBERS[(i + 4) % len(NUMBERS)])
        if i % 5 in (2, 3):
            patient["sex"] = None if i % 5 == 2 else 3
        tasks.append({"data": {"patient": patient}})
    return tasks


REGRESSORS = {
    "sample": None,  # Ridge(alpha=10), the kind's default
    "linear": {"class": "LinearRegression", "params": {}},
    "sgd": {"class": "SGDRegressor", "params": {"alpha": 0.001}},
    "lasso": {"class": "Lasso", "params": {"alpha": 0.05}},
    "elastic": {"class": "ElasticNet", "params": {"alpha": 0.05, "l1_ratio": 0.5}},
    "huber": {"class": "HuberRegressor", "params": {"max_iter": 1000}},
}


@pytest.mark.parametrize("regressor", sorted(REGRESSORS))
def test_numbers_with_a_linear_regressor(regressor, tmp_path):
    """diabetes: nine imputed, standardized numbers and a one-hot code into a linear regressor
    and its linear error model. Fails if the number or its expected error of any held-out task
    (with missing measurements and unseen codes) differs from scikit-learn's by more than 1e-9,
    before or after the tag's bounds, or if /predict's answers differ."""
    spec = sample_spec("diabetes")
    if REGRESSORS[regressor] is not None:
        spec["model"] = REGRESSORS[regressor]
    fit = trained("diabetes", spec, tmp_path)
    fast = compile_model(fit.model)
    assert isinstance(fast, CompiledRegressor)
    tasks = diabetes_tasks(fit)
    X = rows_to_matrix([read_row(t["data"], fit.config.features) for t in tasks])
    mine, theirs, regressor_model = fast[:-1].transform(X), fit.model[:-1].transform(X), fit.model.steps[-1][1]
    assert np.abs(fast.steps[-1][1].predict(mine) - regressor_model.predict(theirs)).max() <= 1e-9
    assert np.abs(fast.steps[-1][1].predict_error(mine) - regressor_model.predict_error(theirs)).max() <= 1e-9
    assert_same_outputs(fit, fast, X)
    assert_same_predictions(fit, fast, tasks)


@pytest.mark.parametrize("estimator", [{"class": "KNeighborsRegressor", "params": {}},
                                       {"class": "RandomForestRegressor", "params": {"n_estimators": 10}}])
def test_numbers_with_a_non_linear_regressor_keep_scikit_learns_path(estimator, tmp_path):
    spec = sample_spec("diabetes")
    spec["model"] = estimator
    assert compile_model(trained("diabetes", spec, tmp_path).model) is None


def test_the_probes_catch_what_the_coefficients_do_not_say(tmp_path):
    """A model whose predictions are not its coefficients' (here, an error model or one
    choice's classifier answering 1e-6 off) gets no fast path: each method the target reads is
    checked on probe rows."""
    fit = trained("diabetes", sample_spec("diabetes"), tmp_path)
    errors = fit.model.steps[-1][1].errors_
    errors.predict = lambda X, predict=errors.predict: predict(X) + 1e-6
    assert compile_model(fit.model) is None
    fit = trained("multitopic", sample_spec("multitopic"), tmp_path)
    first = fit.model.steps[-1][1].model_.estimators_[0]
    first.predict_proba = lambda X, proba=first.predict_proba: proba(X) * (1 - 1e-6)
    assert compile_model(fit.model) is None
