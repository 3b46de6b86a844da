"""The exact fast path for text + linear pipelines (backend/fastpath.py): equal to scikit-learn's
own predict_proba within 1e-9 on every text sample's tasks, for the recipes it covers, and
absent (None) for every pipeline it does not cover."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from backend.config import Config
from backend.fastpath import compile_model
from backend.features import read_row, rows_to_matrix
from backend.labelconfig import find_target, parse_label_config
from backend.model import fit_model
from backend.targets import make_target
from helpers import SAMPLES
from mlgen import load_spec

SGD = {"class": "SGDClassifier", "params": {"loss": "log_loss", "alpha": 0.0001}}
RECIPES = {  # a text feature's options, and the estimator
    "sample": None,  # the sample's own spec
    "word13-lr": ({"analyzer": "word", "ngram_range": [1, 3]}, {"class": "LogisticRegression", "params": {"C": 10}}),
    "char44-sgd": ({"analyzer": "char_wb", "ngram_range": [4, 4], "sublinear_tf": True}, SGD),
    "counts-lr": ({"vectorizer": "count", "lowercase": False}, {"class": "LogisticRegression", "params": {}}),
}


def fitted(sample: str, recipe: str, tmp_path, labels: slice = slice(None)):
    folder = SAMPLES / sample
    spec = yaml.safe_load((folder / "backend.yaml").read_text())
    spec["labeling_config"] = str(folder / spec["labeling_config"])
    if RECIPES[recipe] is not None:
        options, model = RECIPES[recipe]
        spec["features"] = [{"field": spec["features"][0]["field"], "type": "text", **options}]
        spec["model"] = model
    (tmp_path / "backend.yaml").write_text(yaml.safe_dump(spec))
    config = Config.from_spec(load_spec(tmp_path / "backend.yaml"))
    target = make_target(find_target(parse_label_config(config.labeling_config), config.target))
    tasks = json.loads((folder / "tasks.json").read_text())
    annotated = [t for t in tasks if t.get("annotations")][labels]
    answers = [target.answer(t["annotations"][0]["result"]) for t in annotated]
    model = fit_model(config, target, [read_row(t["data"], config.features) for t in annotated], answers)
    every = rows_to_matrix([read_row(t["data"], config.features) for t in tasks])
    return model, every


@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_the_fast_path_gives_scikit_learns_probabilities(recipe, tmp_path):
    """Fails if any probability of any topics task differs from the pipeline's by more than 1e-9,
    or if a covered recipe gets no fast path."""
    model, X = fitted("topics", recipe, tmp_path)
    fast = compile_model(model)
    assert fast is not None
    assert np.abs(fast.predict_proba(X) - model.predict_proba(X)).max() <= 1e-9
    assert list(fast.classes_) == list(model.classes_)


@pytest.mark.parametrize("estimator", ["lr", "sgd"])
def test_two_classes_too(estimator):
    """The binary form of both links (one score column: logistic, not softmax)."""
    from backend.features import Featurizer
    from sklearn.linear_model import LogisticRegression, SGDClassifier
    from sklearn.pipeline import Pipeline

    texts = ["good fine great", "bad awful poor", "great good", "poor bad", "fine", "awful"] * 3
    y = ["pos", "neg"] * 9
    X = rows_to_matrix([[t] for t in texts + ["good bad", "unknown words", ""]])
    last = LogisticRegression(C=10) if estimator == "lr" else SGDClassifier(loss="log_loss", random_state=0)
    model = Pipeline([("features", Featurizer([{"field": "t", "type": "text", "ngram_range": [1, 2]}])),
                      ("model", last)]).fit(X[: len(y)], y)
    fast = compile_model(model)
    assert fast is not None and np.abs(fast.predict_proba(X) - model.predict_proba(X)).max() <= 1e-9


def test_a_hashing_vectorizer_keeps_scikit_learns_path(tmp_path):
    from backend.features import Featurizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

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
        spec = yaml.safe_load((SAMPLES / "penguins" / "backend.yaml").read_text())
        kind = "category" if "max_categories" in change else "number"
        spec["features"] = [{**f, **change} if f["type"] == kind else f for f in spec["features"]]
        spec["labeling_config"] = str(SAMPLES / "penguins" / spec["labeling_config"])
        (tmp_path / "variant.yaml").write_text(yaml.safe_dump(spec))
        config = Config.from_spec(load_spec(tmp_path / "variant.yaml"))
        target = make_target(find_target(parse_label_config(config.labeling_config), config.target))
        tasks = [t for t in json.loads((SAMPLES / "penguins" / "tasks.json").read_text()) if t.get("annotations")]
        rows = [read_row(t["data"], config.features) for t in tasks]
        variant = fit_model(config, target, rows, [target.answer(t["annotations"][0]["result"]) for t in tasks])
        fast = compile_model(variant)
        assert (fast is not None) == covered, change
        if fast is not None:
            Xv = rows_to_matrix(rows)
            assert np.abs(fast.predict_proba(Xv) - variant.predict_proba(Xv)).max() <= 1e-9


@pytest.mark.parametrize("sample", ["multitopic", "diabetes", "ner"])
def test_other_pipelines_keep_scikit_learns_path(sample, tmp_path):
    """Label sets, numbers and spans are not covered: no fast path, never a wrong one."""
    model, _ = fitted(sample, "sample", tmp_path)
    assert compile_model(model) is None
