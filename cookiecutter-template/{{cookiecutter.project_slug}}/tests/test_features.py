"""The featurizer of this project's spec.json on known task data: the values it computes, not only
their shape. A text's weights lie exactly on its tokens, numbers are imputed and scaled as declared,
a category is one-hot, an image is read and resized first, and distinct task data give distinct rows."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from backend.features import FEATURES, Featurizer, read_field, read_row, rows_to_matrix
from backend.spec import load_spec
from conftest import ROOT, example_answers, example_data
from sklearn.utils import murmurhash3_32

SPEC_FEATURES = load_spec(ROOT / "spec.json")["features"]
COLUMNS = ("text", "number", "category")  # the feature types that vectorize to columns of a matrix


def dense(X: Any) -> np.ndarray:
    return X.toarray() if sp.issparse(X) else np.asarray(X, dtype=float)


def without(data: dict[str, Any], field: str) -> dict[str, Any]:
    """Task data with the (dotted) field absent."""
    data = copy.deepcopy(data)
    node = data
    *parents, leaf = field.split(".")
    for key in parents:
        node = node[key]
    del node[leaf]
    return data


def task_data(client, missing: str | None = None) -> list[dict[str, Any]]:
    """Several tasks of each example class, and one without the field `missing` (when the spec
    has other features to read)."""
    spec = client.service.spec
    data = [example_data(spec, label, k) for label in range(len(example_answers(client.service.target)))
            for k in range(6)]
    if missing is not None and len(spec["features"]) > 1:
        data.append(without(example_data(spec, 0, 99), missing))
    return data


def featurize(features: list[dict[str, Any]], data: list[dict[str, Any]]) -> tuple[Featurizer, np.ndarray, list]:
    """The fitted featurizer, its matrix of `data`, and each feature's columns (a slice) in it."""
    if any(f["type"] not in COLUMNS for f in features):
        pytest.skip("a feature of this spec does not vectorize to matrix columns")
    matrix = rows_to_matrix([read_row(d, features) for d in data])
    featurizer = Featurizer(features)
    X = dense(featurizer.fit_transform(matrix))
    slices, start = [], 0
    for i, (feature, transformer) in enumerate(zip(features, featurizer.transformers_)):
        width = transformer.transform(FEATURES[feature["type"]].column(matrix[:1], i)).shape[1]
        slices.append(slice(start, start + width))
        start += width
    assert start == X.shape[1]
    return featurizer, X, slices


@pytest.mark.parametrize("index", [i for i, f in enumerate(SPEC_FEATURES) if f["type"] in COLUMNS],
                         ids=[f["field"] for f in SPEC_FEATURES if f["type"] in COLUMNS])
def test_each_feature_is_vectorized_to_its_values(client, index):
    """Fails if a feature's columns do not hold its values (e.g. a featurizer of zeros)."""
    features = client.service.spec["features"]
    feature = features[index]
    data = task_data(client, missing=feature["field"])
    featurizer, X, slices = featurize(features, data)
    block, transformer = X[:, slices[index]], featurizer.transformers_[index]
    values = [read_row(d, features)[index] for d in data]
    kind = feature["type"]
    if kind == "text":
        analyze = transformer.build_analyzer()
        for text, row in zip(values, block):
            tokens = analyze(text)
            if feature["vectorizer"] == "hashing":
                columns = {abs(murmurhash3_32(token, seed=0)) % feature["n_features"] for token in tokens}
            else:
                columns = {transformer.vocabulary_[token] for token in tokens}
            assert set(np.flatnonzero(row)) == columns, text  # weight on its tokens, and only there
            if not tokens:
                continue  # the task without the text
            if feature["vectorizer"] == "count":
                assert row.sum() == len(tokens)
            else:
                assert np.isclose(np.linalg.norm(row), 1.0)  # TF-IDF and hashing rows are L2-normalized
    elif kind == "number":
        raw = np.array(values, dtype=float)
        fill = {"median": np.nanmedian, "mean": np.nanmean, "zero": lambda v: 0.0}[feature["impute"]](raw)
        expected = np.where(np.isnan(raw), fill, raw)
        if feature["scale"] == "standard":
            expected = (expected - expected.mean()) / expected.std()
        elif feature["scale"] == "minmax":
            expected = (expected - expected.min()) / (expected.max() - expected.min())
        assert np.allclose(block[:, 0], expected)
        assert block.shape[1] == 1
    else:
        assert kind == "category"
        assert np.array_equal(block.sum(axis=1), np.ones(len(values)))  # one-hot
        categories = sorted(set(values))
        if feature.get("max_categories") is None:
            assert block.shape[1] == len(categories)
            assert [categories[i] for i in block.argmax(axis=1)] == values
            unseen = transformer.transform(np.array([["a category never seen"]], dtype=object))
            assert dense(unseen).sum() == 0


def test_distinct_task_data_give_distinct_rows_and_a_prediction_the_row_of_its_training(client):
    """Fails if tasks that differ get the same row, or if a task featurized for a prediction
    (transform, one task) differs from its row at training (fit_transform)."""
    features = client.service.spec["features"]
    data = task_data(client)
    featurizer, X, _ = featurize(features, data)
    for i, first in enumerate(data):
        for j, second in enumerate(data):
            same = [read_field(first, f["field"]) for f in features] == [read_field(second, f["field"]) for f in features]
            assert np.array_equal(X[i], X[j]) == same, (first, second)
    for i, task in enumerate(data):
        row = dense(featurizer.transform(rows_to_matrix([read_row(task, features)])))
        assert np.allclose(row[0], X[i])


@pytest.mark.parametrize("index", [i for i, f in enumerate(SPEC_FEATURES) if f["type"] == "image"],
                         ids=[f["field"] for f in SPEC_FEATURES if f["type"] == "image"])
def test_an_image_is_read_then_vectorized_to_its_values(client, index):
    """Fails if an image feature's URLs are not read into images, if an unreadable one is not
    told apart, or if the rows do not come from the images: distinct images give distinct rows,
    the same image the same row, each as long as the representation says."""
    features = client.service.spec["features"]
    feature = features[index]
    data = task_data(client)
    rows = [read_row(d, features) for d in data]
    broken = [[*rows[0][:index], "data:image/png;base64,bm90IGFuIGltYWdl", *rows[0][index + 1:]]]
    assert client.service.images.load("7", rows + broken, list(range(len(rows) + 1))) == {len(rows)}
    images = [row[index] for row in rows]
    transformer = FEATURES["image"].transformer(feature)
    X = dense(transformer.fit_transform(images))
    width, height = feature["size"]
    assert all(image.size == (width, height) for image in images)  # kept small, as the model reads them
    assert X.shape == (len(images), transformer.n_features_out) and np.isfinite(X).all()
    if feature["representation"] == "pixels":
        assert X.shape[1] == width * height * (1 if feature["grey"] else 3)
        assert np.allclose(X, np.array([np.asarray(image, dtype=float).ravel() / 255 for image in images]))
    # The examples of a class differ by a faint dot, which only pixels are sure to show (a histogram
    # ignores where it is, and HOG's normalised cells may not tell it): there, classes must differ.
    classes = [label for label in range(len(example_answers(client.service.target))) for _ in range(6)]
    strict = feature["representation"] == "pixels"
    for i, first in enumerate(data):
        for j, second in enumerate(data):
            same = read_field(first, feature["field"]) == read_field(second, feature["field"])
            if same or strict or classes[i] != classes[j]:
                assert np.array_equal(X[i], X[j]) == same, (i, j)
