"""One project's training (backend/trainer.py): what a run records when it succeeds, is
skipped or fails, which annotations it learns from, when it updates the served model
incrementally instead of refitting, and what it does with a served model it cannot load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from backend.config import Config
from backend.settings import load_settings
from backend.trainer import NotEnoughDataError, incremental_possible, train_project, training_set
from backend.wiring import create_service
from mlgen import load_spec

CONFIG = ('<View><Text name="text" value="$text"/><Choices name="mood" toName="text">'
          '<Choice value="pos"/><Choice value="neg"/></Choices></View>')
WORDS = {"pos": ["great", "lovely", "superb", "happy", "fine"], "neg": ["awful", "bad", "sad", "poor", "ugly"]}
HASHED = {"features": [{"field": "text", "type": "text", "vectorizer": "hashing", "n_features": 1024}],
          "model": {"class": "SGDClassifier", "params": {"loss": "log_loss", "random_state": 0}}}


def make_service(tmp_path: Path, environ: dict[str, str] | None = None, **sections):
    """A service on a single-choice spec (pos/neg moods from text), Huey in immediate mode;
    2-fold evaluation unless the sections say otherwise (fewer fits: faster tests)."""
    spec = {"version": 1, "name": "moods", "labeling_config": CONFIG,
            "features": [{"field": "text", "type": "text"}],
            "model": {"class": "LogisticRegression", "params": {"C": 10}}}
    spec.update(sections)
    spec.setdefault("training", {}).setdefault("debounce_seconds", 0)
    spec.setdefault("evaluation", {}).setdefault("folds", 2)
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "backend.yaml"
    path.write_text(json.dumps(spec))
    normalized = load_spec(path)
    environ = {"MODEL_DIR": str(tmp_path / "state"), **(environ or {})}
    return create_service(normalized, load_settings(normalized, environ), immediate=True)


def records(first_id: int, count: int, flip: bool = False) -> list[dict]:
    """Annotations alternating pos and neg, each text made of its label's words."""
    made = []
    for i in range(first_id, first_id + count):
        label = "pos" if i % 2 else "neg"
        words = WORDS[label]
        text = " ".join(words[(i * k) % 5] for k in (1, 2, 3)) + f" item{i}"
        answer = ("neg" if label == "pos" else "pos") if flip else label
        made.append({"id": i, "task": i, "data": {"text": text}, "answer": answer})
    return made


def add(service, first_id: int, count: int, flip: bool = False, project: str = "1") -> None:
    service.store.save_annotations(project, records(first_id, count, flip), [])


def train(service, project: str = "1", trigger: str = "test") -> dict:
    """Run a training as the queue does once a webhook queued one."""
    service.store.mark_pending(project, "job")
    return train_project(service, project, trigger)


def test_nothing_queued_trains_nothing_and_a_running_training_is_not_doubled(tmp_path):
    """Without a queued training the call is idle; with one running it is busy: no run starts."""
    service = make_service(tmp_path)
    add(service, 1, 10)
    assert train_project(service, "1", "test") == {"status": "idle"}
    service.store.mark_pending("1", "j1")
    service.store.claim_training("1")
    service.store.mark_pending("1", "j2")
    assert train_project(service, "1", "test") == {"status": "busy"}
    assert service.store.runs("1") == []


def test_a_successful_training_records_its_run_and_version(tmp_path):
    """The first training is served; its run and version say what it learnt from, and the
    project is no longer running, with its changes consumed."""
    service = make_service(tmp_path)
    add(service, 1, 20)
    outcome = train(service, trigger="webhook")
    assert outcome["status"] == "succeeded" and outcome["served"] is True
    assert outcome["reason"] == "the project's first model"
    assert outcome["metrics"]["n_train"] == 20 and "accuracy" in outcome["metrics"]
    run = service.store.runs("1")[0]
    assert (run["status"], run["trigger"], run["version"], run["n_annotations"], run["detail"]) == (
        "succeeded", "webhook", outcome["version"], 20, None)
    assert 0 < run["duration_s"] < 60
    record = service.store.version(outcome["version"])
    assert record["kind"] == "full" and record["n_annotations"] == 20 and record["trained_until"] == 20
    assert record["classes"] == ["neg", "pos"] and record["trigger"] == "webhook"
    assert record["reason"] == "the project's first model" and record["status"] == "serving"
    assert record["metrics"] == outcome["metrics"]
    assert 0 < record["duration_s"] <= run["duration_s"]  # measured before the version was saved
    state = service.store.project("1")
    assert state["running"] == 0 and state["changes"] == 0 and state["version"] == outcome["version"]
    assert service.registry.current("1").version == outcome["version"]


def test_a_rejected_model_is_recorded_with_why_it_is_not_served(tmp_path):
    """A model the gate keeps out succeeds as a run, with 'not served: ...' as its detail."""
    service = make_service(tmp_path, promotion={"policy": "if_better", "tolerance": 0.0})
    add(service, 1, 20)
    first = train(service)
    # a recipe that ignores the text (spec.json edited, the service restarted)
    service.spec["model"] = {"class": "sklearn.dummy.DummyClassifier", "params": {"strategy": "prior"}}
    service.config = Config.from_spec(service.spec)
    add(service, 21, 20)
    second = train(service)
    assert second["status"] == "succeeded" and second["served"] is False
    assert second["reason"].startswith("worse: f1_macro ")
    assert service.store.runs("1")[0]["detail"] == f"not served: {second['reason']}"
    assert service.store.served_version("1") == first["version"]
    assert service.store.version(second["version"])["status"] == "rejected"


def test_too_few_annotations_skip_the_training_and_keep_the_changes(tmp_path):
    """A training without enough data is skipped, not failed: the run says why, and the changes
    it claimed count again, so the policy still sees them."""
    service = make_service(tmp_path)
    service.store.save_annotations("1", [r for r in records(1, 6) if r["answer"] == "pos"], [])
    outcome = train(service)
    assert outcome["status"] == "skipped" and "at least 2 classes" in outcome["detail"]
    run = service.store.runs("1")[0]
    assert run["status"] == "skipped" and run["detail"] == outcome["detail"] and run["version"] is None
    assert run["n_annotations"] is None and 0 <= run["duration_s"] < 60
    state = service.store.project("1")
    assert state["changes"] == 3 and state["running"] == 0 and state["version"] is None


def test_min_per_class_holds_a_training_back(tmp_path):
    """training.min_per_class: a class with fewer annotations skips the training."""
    service = make_service(tmp_path, training={"min_per_class": 6})
    add(service, 1, 10)  # 5 per class
    outcome = train(service)
    assert outcome["status"] == "skipped" and "min_per_class is 6" in outcome["detail"]
    add(service, 11, 2)
    assert train(service)["status"] == "succeeded"


def test_a_failing_fit_is_recorded_and_keeps_the_changes(tmp_path):
    """An exception in the fit fails the run with its type and message; the changes count again
    and the project can train later."""
    service = make_service(tmp_path)
    service.spec["model"]["params"] = {"max_iter": -5}  # spec.json edited by hand: the fit raises
    service.config = Config.from_spec(service.spec)
    add(service, 1, 10)
    outcome = train(service)
    assert outcome["status"] == "failed" and outcome["detail"].startswith("InvalidParameterError: ")
    assert "max_iter" in outcome["detail"]
    run = service.store.runs("1")[0]
    assert run["status"] == "failed" and run["detail"] == outcome["detail"] and run["finished_at"]
    assert run["n_annotations"] is None and 0 <= run["duration_s"] < 60
    state = service.store.project("1")
    assert state["changes"] == 10 and state["running"] == 0 and state["version"] is None


def test_a_model_that_cannot_be_saved_fails_the_run_with_its_size(tmp_path, monkeypatch):
    """A failure after the fit (saving the model) fails the run, which still says how many
    annotations the model learnt from; nothing is served."""
    service = make_service(tmp_path)
    add(service, 1, 10)

    def full_disk(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(service.registry, "save", full_disk)
    outcome = train(service)
    assert outcome == {"status": "failed", "detail": "OSError: No space left on device"}
    run = service.store.runs("1")[0]
    assert run["status"] == "failed" and run["n_annotations"] == 10 and run["version"] is None
    assert service.store.served_version("1") is None and service.store.project("1")["changes"] == 10


def test_the_log_says_what_each_training_did(tmp_path, caplog):
    """One log line per training: for a success, the project, the kind, the version, the number
    of annotations, the metrics and whether it is served; for a skip, why."""
    service = make_service(tmp_path, promotion={"policy": "if_better"})
    add(service, 1, 10)
    with caplog.at_level("INFO", logger="backend.trainer"):
        outcome = train(service)
    [line] = [r.getMessage() for r in caplog.records if r.name == "backend.trainer"]
    metrics = outcome["metrics"]
    assert line.startswith(f"project 1: full training made {outcome['version']} on 10 annotations in ")
    assert line.endswith(f"s (accuracy {metrics['accuracy']}, f1_macro {metrics['f1_macro']}, "
                         f"f1_weighted {metrics['f1_weighted']}, log_loss {metrics['log_loss']}); serving it")
    caplog.clear()
    service.spec["model"] = {"class": "sklearn.dummy.DummyClassifier", "params": {"strategy": "prior"}}
    service.config = Config.from_spec(service.spec)
    add(service, 11, 20)
    with caplog.at_level("INFO", logger="backend.trainer"):
        rejected = train(service)
    [line] = [r.getMessage() for r in caplog.records if r.name == "backend.trainer"]
    assert line.endswith(f"; NOT serving it: {rejected['reason']}")
    caplog.clear()
    with caplog.at_level("INFO", logger="backend.trainer"):
        service.store.save_annotations("2", [r for r in records(1, 4) if r["answer"] == "pos"], [])
        skipped = train(service, project="2")
    [line] = [r.getMessage() for r in caplog.records if r.name == "backend.trainer"]
    assert line == f"project 2: training skipped: {skipped['detail']}"


def test_an_unmeasured_training_logs_why(tmp_path, caplog):
    """With too few annotations to measure, the log line says so instead of metrics."""
    service = make_service(tmp_path)
    service.store.save_annotations("1", records(1, 3), [])
    with caplog.at_level("INFO", logger="backend.trainer"):
        outcome = train(service)
    assert outcome["metrics"]["evaluation"] == "not measured: a class has a single annotation"
    [line] = [r.getMessage() for r in caplog.records if r.name == "backend.trainer"]
    assert "annotations in " in line and line.endswith("s (not measured: a class has a single annotation); serving it")


def test_the_training_set_leaves_out_tasks_the_features_cannot_read(tmp_path):
    """Stored annotations whose task data the features cannot read (written before a spec
    change, say) are left out; `after_seq` keeps the later ones, with their seqs."""
    service = make_service(tmp_path)
    good = records(1, 4)
    bad = {"id": 9, "task": 9, "data": {"other": "x"}, "answer": "pos"}
    service.store.save_annotations("1", good[:2] + [bad] + good[2:], [])
    rows, answers, seqs = training_set(service, "1")
    assert [row[0] for row in rows] == [r["data"]["text"] for r in good]
    assert answers == [r["answer"] for r in good] and seqs == [1, 2, 4, 5]
    rows, answers, seqs = training_set(service, "1", after_seq=2)
    assert seqs == [4, 5] and answers == [good[2]["answer"], good[3]["answer"]]
    add(service, 11, 12)
    assert train(service)["metrics"]["n_train"] == 16  # the unreadable one is not counted


def test_a_served_model_that_cannot_load_is_replaced_by_a_full_training(tmp_path, caplog):
    """If the served model's file is gone, the next training does not fail: it trains from
    scratch and serves the result, as a first model."""
    service = make_service(tmp_path, **HASHED, training={"incremental": True})
    add(service, 1, 20)
    first = train(service)
    (service.settings.models_dir / service.store.version(first["version"])["path"]).unlink()
    service.registry._cache.clear()
    add(service, 21, 10)
    outcome = train(service)
    assert outcome["status"] == "succeeded" and outcome["served"]
    assert outcome["reason"] == "the project's first model"
    assert service.store.version(outcome["version"])["kind"] == "full"
    assert any("training a new model from scratch" in r.getMessage() and r.levelname == "WARNING"
               for r in caplog.records)


def test_incremental_updates_learn_only_the_new_annotations(tmp_path):
    """An incremental update measures the served model on the new annotations before learning
    them, then learns them into a copy: the served model object is left as it was."""
    service = make_service(tmp_path, **HASHED, training={"incremental": True, "full_refit_every": 3})
    add(service, 1, 30)
    first = train(service)
    served = service.registry.current("1").model
    coefficients = served.steps[-1][1].coef_.copy()
    add(service, 31, 10)
    outcome = train(service)
    record = service.store.version(outcome["version"])
    assert record["kind"] == "incremental" and outcome["served"]
    assert outcome["reason"] == "an incremental update of the served model"
    metrics = outcome["metrics"]
    assert metrics["n_train"] == 40 and metrics["n_new"] == 10 and 0 <= metrics["prequential_accuracy"] <= 1
    assert metrics["evaluation"] == "prequential: the served model's accuracy on the new annotations, before the update"
    assert record["n_annotations"] == 40 and record["trained_until"] == 40 and record["classes"] == ["neg", "pos"]
    assert (served.steps[-1][1].coef_ == coefficients).all()  # the old version is untouched
    assert (service.registry.current("1").model.steps[-1][1].coef_ != coefficients).any()
    assert service.store.version(first["version"])["status"] == "superseded"


def test_an_incremental_update_with_nothing_new_is_skipped(tmp_path):
    """A queued incremental training that finds no annotation newer than the served model's
    skips, saying so."""
    service = make_service(tmp_path, **HASHED, training={"incremental": True})
    add(service, 1, 20)
    train(service)
    outcome = train(service)
    assert outcome == {"status": "skipped", "detail": "no new annotation since the served model"}


def test_the_prequential_score_is_measured_before_the_update(tmp_path):
    """New annotations that contradict the served model score it badly: they are measured
    before it learns them."""
    service = make_service(tmp_path, **HASHED, training={"incremental": True, "full_refit_every": 3})
    add(service, 1, 40)
    train(service)
    add(service, 41, 20, flip=True)
    assert train(service)["metrics"]["prequential_accuracy"] < 0.3


@pytest.mark.parametrize(("incremental", "served", "rewrites", "updates", "expected"), [
    (True, True, 0, 0, True),
    (True, True, 0, 2, True),  # one below full_refit_every
    (True, True, 0, 3, False),  # full_refit_every reached
    (True, True, 1, 0, False),  # a changed or deleted annotation
    (True, False, 0, 0, False),  # nothing served to update
    (False, True, 0, 0, False),  # the spec does not ask for it
])
def test_when_an_update_may_be_incremental(tmp_path, incremental, served, rewrites, updates, expected):
    """Incremental only when asked for, with a served model, no rewrite since the last full
    training, and fewer updates than full_refit_every."""
    sections = {**HASHED, "training": {"incremental": True, "full_refit_every": 3}} if incremental else {}
    service = make_service(tmp_path, **sections)
    claimed = {"rewrites": rewrites, "updates": updates}
    assert incremental_possible(service, claimed, object() if served else None) is expected


def test_full_refit_every_counts_updates_between_full_trainings(tmp_path):
    """With full_refit_every: 2, two incremental updates follow a full training, then a full one."""
    service = make_service(tmp_path, **HASHED, training={"incremental": True, "full_refit_every": 2})
    kinds = []
    for start in (1, 21, 31, 41, 51):
        add(service, start, 20 if start == 1 else 10)
        kinds.append(service.store.version(train(service)["version"])["kind"])
    assert kinds == ["full", "incremental", "incremental", "full", "incremental"]


def test_a_gated_full_training_compares_on_annotations_since_the_served_model(tmp_path):
    """With policy if_better, a full training after a served one measures both models on the
    annotations written after the served model's last one, and counts them."""
    service = make_service(tmp_path, promotion={"policy": "if_better"})
    add(service, 1, 10)
    train(service)
    add(service, 11, 21)
    comparison = train(service)["metrics"]["comparison"]
    assert comparison["annotations"] == 21
    assert set(comparison["new"]) == set(comparison["served"]) == set(service.target.metrics)
    always = make_service(tmp_path / "always", promotion={"policy": "always"})
    add(always, 1, 10)
    train(always)
    add(always, 11, 21)
    assert "comparison" not in train(always)["metrics"]


def test_tuned_thresholds_are_set_from_the_evaluation(tmp_path):
    """A multiple-choice target with tuned thresholds gets them from the out-of-sample outputs
    of its evaluation; the version's metrics record them."""
    config = ('<View><Text name="text" value="$text"/><Choices name="tags" toName="text" choice="multiple">'
              '<Choice value="a"/><Choice value="b"/></Choices></View>')
    service = make_service(tmp_path, labeling_config=config, prediction={"threshold": "tuned"})
    notes = [{"id": i, "task": i, "data": {"text": f"{'alpha' if i % 2 else 'beta'} {'gamma' if i % 3 else ''} w{i}"},
              "answer": [label for label, on in (("a", i % 2), ("b", i % 3)) if on] or ["a"]}
             for i in range(1, 41)]
    service.store.save_annotations("1", notes, [])
    outcome = train(service)
    thresholds = outcome["metrics"]["thresholds"]
    assert set(thresholds) == {"a", "b"} and all(0 < t < 1 for t in thresholds.values())
    model = service.registry.current("1").model
    assert list(model.steps[-1][1].thresholds_) == [thresholds["a"], thresholds["b"]]


def test_not_enough_data_is_a_value_error():
    """NotEnoughDataError is a ValueError, so callers that catch those still do."""
    assert issubclass(NotEnoughDataError, ValueError)
