"""Predictions (backend/predictor.py): one per task, in order, whatever a task or the model
does; the prediction cache; and the row-by-row fallback when a batch fails."""

from __future__ import annotations

import numpy as np
import pytest
from backend.cache import data_key
from backend.features import rows_to_matrix
from backend.predictor import predict_tasks
from test_trainer import add, make_service, train

TASKS = [{"id": 1, "data": {"text": "great lovely superb"}}, {"id": 2, "data": {"text": "awful bad sad"}},
         {"id": 3, "data": {"text": "happy fine great"}}]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A service whose project 1 serves a model trained on clear pos/neg moods."""
    service = make_service(tmp_path_factory.mktemp("predictor"), {"PREDICTION_CACHE_SIZE": "0"})
    add(service, 1, 20)
    train(service)
    return service


def test_before_the_first_training_every_task_gets_an_empty_prediction(tmp_path):
    """No model yet: one empty prediction with score 0 per task, named for the untrained version."""
    service = make_service(tmp_path)
    assert predict_tasks(service, "1", TASKS + ["not a task"]) == [
        {"result": [], "score": 0.0, "model_version": "moods-untrained"}] * 4
    assert predict_tasks(service, "1", []) == []


def test_each_task_gets_its_prediction_in_order(trained):
    """Predictions come in task order, with the regions of the predicted choice, a score in
    [0, 1] rounded to 6 digits, and the served version."""
    version = trained.registry.served_version("1")
    predictions = predict_tasks(trained, "1", TASKS)
    assert [p["result"][0]["value"]["choices"] for p in predictions] == [["pos"], ["neg"], ["pos"]]
    assert predictions[0]["result"] == [{"from_name": "mood", "to_name": "text", "type": "choices",
                                         "value": {"choices": ["pos"]}}]
    outputs = trained.target.outputs(trained.registry.current("1").model, rows_to_matrix([[t["data"]["text"]] for t in TASKS]))
    confidence = trained.target.confidence(outputs, trained.config.strategy)
    for prediction, expected in zip(predictions, confidence):
        assert prediction["model_version"] == version
        assert prediction["score"] == round(float(expected), 6) and 0.5 <= prediction["score"] < 1
    alone = predict_tasks(trained, "1", TASKS[1:2])
    assert alone == predictions[1:2]  # a task's prediction does not depend on the batch


def test_the_score_follows_the_active_learning_strategy(tmp_path):
    """The spec's strategy scores the predictions: margin gives 2p - 1 where least confidence
    gives p, for two classes."""
    scores = {}
    for strategy in ("least_confidence", "margin"):
        service = make_service(tmp_path / strategy, {"PREDICTION_CACHE_SIZE": "0"},
                               active_learning={"strategy": strategy})
        add(service, 1, 20)
        train(service)
        scores[strategy] = [p["score"] for p in predict_tasks(service, "1", TASKS)]
    assert scores["margin"] == pytest.approx([2 * p - 1 for p in scores["least_confidence"]], abs=1e-5)


def test_tasks_the_features_cannot_read_get_empty_predictions_in_place(trained):
    """A task without the text, with unreadable data, or that is no object at all gets an
    empty prediction with score 0 in its place; the other tasks are predicted as usual."""
    version = trained.registry.served_version("1")
    empty = {"result": [], "score": 0.0, "model_version": version}
    tasks = [TASKS[0], {"id": 8, "data": {"other": 1}}, "text", {"id": 9, "data": {"text": {"nested": 1}}},
             None, TASKS[1]]
    predictions = predict_tasks(trained, "1", tasks)
    assert predictions[1:5] == [empty] * 4
    assert predictions[0] == predict_tasks(trained, "1", [TASKS[0]])[0]
    assert predictions[5]["result"][0]["value"]["choices"] == ["neg"]
    assert predict_tasks(trained, "1", tasks[1:5]) == [empty] * 4  # none readable: no model call


def test_a_failing_batch_is_predicted_row_by_row(trained, monkeypatch):
    """If the model fails on the batch, each row is predicted alone: only the rows it fails on
    get empty predictions."""
    target = trained.target
    real = target.outputs

    def outputs(model, X):
        if any("poison" in str(row[0]) for row in X):
            raise ValueError("cannot predict poison")
        return real(model, X)

    monkeypatch.setattr(target, "outputs", outputs)
    version = trained.registry.served_version("1")
    tasks = [{"id": 0, "data": {"text": "poison"}}, *TASKS, {"id": 4, "data": {"text": "poison again"}}]
    predictions = predict_tasks(trained, "1", tasks)
    empty = {"result": [], "score": 0.0, "model_version": version}
    assert predictions[0] == predictions[4] == empty
    monkeypatch.setattr(target, "outputs", real)
    assert predictions[1:4] == predict_tasks(trained, "1", TASKS)


def test_a_model_that_fails_on_every_row_gives_empty_predictions(trained, monkeypatch):
    """If every row fails, every task gets an empty prediction (and nothing raises)."""
    def outputs(model, X):
        raise ValueError("broken model")

    monkeypatch.setattr(trained.target, "outputs", outputs)
    version = trained.registry.served_version("1")
    assert predict_tasks(trained, "1", TASKS) == [{"result": [], "score": 0.0, "model_version": version}] * 3


def test_rows_the_model_answers_with_nan_get_empty_predictions(trained, monkeypatch):
    """Outputs with NaN in a row (a model that could not predict it) give that task an empty
    prediction; the others are scored as usual."""
    real = trained.target.outputs

    def outputs(model, X):
        out = real(model, X).copy()
        out[1, 0] = np.nan
        return out

    monkeypatch.setattr(trained.target, "outputs", outputs)
    predictions = predict_tasks(trained, "1", TASKS)
    assert predictions[1]["result"] == [] and predictions[1]["score"] == 0.0
    assert predictions[0]["result"] and predictions[2]["result"] and predictions[0]["score"] > 0.5


def test_a_batch_failure_costs_only_the_rows_that_fail_even_the_first(trained, monkeypatch):
    """When the first rows fail alone too, the later ones still set the outputs' shape."""
    real = trained.target.outputs
    calls = []

    def outputs(model, X):
        calls.append(len(X))
        if len(X) > 1 or "awful" in str(X[0][0]):
            raise ValueError("no")
        return real(model, X)

    monkeypatch.setattr(trained.target, "outputs", outputs)
    predictions = predict_tasks(trained, "1", [TASKS[1], TASKS[1], TASKS[0]])
    assert calls == [3, 1, 1, 1]
    assert [p["result"] != [] for p in predictions] == [False, False, True]


def test_the_cache_answers_repeated_tasks_until_the_version_changes(tmp_path):
    """With the cache on, a task asked again (its data in any key order) is answered from the
    cache; once another version is served, it is predicted again by the new model."""
    service = make_service(tmp_path, {"PREDICTION_CACHE_SIZE": "100"}, promotion={"policy": "always"})
    add(service, 1, 20)
    first = train(service)["version"]
    predictions = predict_tasks(service, "1", TASKS)
    assert service.predictions.stats() == {"hits": 0, "misses": 3, "entries": 3}
    reordered = [{"data": {"text": t["data"]["text"]}, "id": t["id"]} for t in TASKS]
    assert predict_tasks(service, "1", reordered) == predictions
    assert service.predictions.stats()["hits"] == 3
    add(service, 21, 10)
    second = train(service)["version"]
    assert second != first
    again = predict_tasks(service, "1", TASKS)
    assert {p["model_version"] for p in again} == {second}
    assert service.predictions.stats()["misses"] == 6


def test_the_cache_keeps_no_failed_or_unreadable_prediction(tmp_path, monkeypatch):
    """Only real predictions are cached: a task that could not be read or predicted is tried
    again next time."""
    service = make_service(tmp_path, {"PREDICTION_CACHE_SIZE": "100"})
    add(service, 1, 20)
    train(service)
    tasks = [TASKS[0], {"id": 5, "data": {}}]
    predict_tasks(service, "1", tasks)
    assert service.predictions.stats()["entries"] == 1
    real = service.target.outputs
    monkeypatch.setattr(service.target, "outputs", lambda model, X: (_ for _ in ()).throw(ValueError("x")))
    assert predict_tasks(service, "1", [TASKS[2]])[0]["result"] == []
    monkeypatch.setattr(service.target, "outputs", real)
    assert service.predictions.stats()["entries"] == 1
    assert predict_tasks(service, "1", [TASKS[2]])[0]["result"] != []
    assert service.predictions.stats()["entries"] == 2


def test_a_tasks_cache_key_is_its_data_whatever_the_key_order():
    data = {"text": "héllo", "meta": {"b": [1, 2.5, None, True], "a": "x"}}
    assert data_key(data) == data_key({"meta": {"a": "x", "b": [1, 2.5, None, True]}, "text": "héllo"})
    others = [{"text": "héllo"}, {**data, "text": "hello"}, {**data, "meta": {"a": "x", "b": [1, 2.5, None, False]}},
              {"text": "\ud800"}, {"text": "\ud801"}, "héllo", ["héllo"], None]
    keys = [data_key(other) for other in others]
    assert len(set(keys + [data_key(data)])) == len(others) + 1
    assert data_key({"text": "\ud800", "n": 1}) == data_key({"n": 1, "text": "\ud800"})  # json's path, for orjson's refusal


def test_a_batchs_unreadable_tasks_are_logged_in_one_line(tmp_path, caplog):
    service = make_service(tmp_path)
    add(service, 1, 20)
    train(service)
    bad = [{"id": 100 + i, "data": {}} for i in range(5)] + [7, {"id": 9, "data": "text"}]
    with caplog.at_level("INFO", logger="backend.predictor"):
        predictions = predict_tasks(service, "1", [TASKS[0], *bad])
    assert predictions[0]["result"] != [] and all(p["result"] == [] for p in predictions[1:])
    lines = [r.getMessage() for r in caplog.records if "get no prediction" in r.getMessage()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("7 of 8 tasks get no prediction (task 100: ") and "task 102: " in lines[0]
    assert "task 103" not in lines[0] and lines[0].endswith("; and 4 more)")
