"""Training policy, evaluation, promotion, rollback, pruning and incremental updates, on the
runtime imported from the template, with a real SQLite store and Huey in immediate mode."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from backend.config import Config
from backend.queue import request_training, training_due
from test_trainer import make_service as trainer_service

WORDS = {"pos": ["great", "lovely", "superb", "happy", "fine"], "neg": ["awful", "bad", "sad", "poor", "ugly"]}


def make_service(tmp_path: Path, environ: dict[str, str] | None = None, **sections):
    """test_trainer's service (pos/neg moods, Huey in immediate mode), with the schema's default
    evaluation (5 folds) unless the sections say otherwise."""
    sections.setdefault("evaluation", {"folds": 5})
    return trainer_service(tmp_path, environ, **sections)


def add(service, first_id: int, count: int, flip: bool = False, project: str = "1") -> None:
    rng = random.Random(first_id)
    records = []
    for i in range(first_id, first_id + count):
        label = "pos" if i % 2 else "neg"
        text = " ".join(rng.choice(WORDS[label]) for _ in range(4)) + f" item{i}"
        records.append({"id": i, "task": i, "data": {"text": text},
                        "answer": ("neg" if label == "pos" else "pos") if flip else label})
    service.store.save_annotations(project, records, [])


def train(service, project: str = "1", trigger: str = "test"):
    """Run a training as the queue does once a webhook queued one."""
    from backend.trainer import train_project

    service.store.mark_pending(project, "job")
    return train_project(service, project, trigger)


def test_policy_waits_for_min_annotations_and_min_per_class(tmp_path):
    service = make_service(tmp_path, training={"min_annotations": 4, "min_per_class": 3, "retrain_every": 2})
    add(service, 1, 4)  # 2 per class
    assert not training_due(service, "1")
    add(service, 5, 2)  # 3 per class
    assert training_due(service, "1")


def test_kfold_below_200_then_holdout(tmp_path):
    service = make_service(tmp_path)
    add(service, 1, 40)
    outcome = train(service)
    metrics = outcome["metrics"]
    assert metrics["evaluation"].startswith("stratified 5-fold")
    assert {"accuracy", "f1_macro", "f1_weighted", "log_loss"} <= set(metrics)
    assert metrics["accuracy"] > 0.8
    add(service, 41, 200)
    assert train(service)["metrics"]["evaluation"].startswith("stratified holdout")


def test_a_worse_candidate_is_kept_but_not_served(tmp_path):
    service = make_service(tmp_path, promotion={"policy": "if_better", "tolerance": 0.02})
    add(service, 1, 60)
    first = train(service)
    assert first["served"] and service.registry.served_version("1") == first["version"]
    add(service, 61, 10)
    assert train(service)["reason"].startswith("10 annotations since the served model, 20 needed")  # served
    first = train(service)
    # someone edits spec.json: a recipe that ignores the text
    service.spec["model"] = {"class": "sklearn.dummy.DummyClassifier", "params": {"strategy": "prior"}}
    service.config = Config.from_spec(service.spec)  # as a restart reads it
    add(service, 71, 30)
    worse = train(service)
    assert worse["status"] == "succeeded" and not worse["served"] and worse["reason"].startswith("worse")
    comparison = worse["metrics"]["comparison"]
    assert comparison["annotations"] == 30 and comparison["new"]["f1_macro"] < comparison["served"]["f1_macro"]
    assert service.registry.served_version("1") == first["version"]
    assert service.store.version(worse["version"])["status"] == "rejected"
    assert service.store.runs("1")[0]["detail"].startswith("not served")
    # a person may still choose it
    service.registry.activate("1", worse["version"])
    assert service.registry.served_version("1") == worse["version"]
    assert service.registry.current("1").version == worse["version"]
    assert service.store.version(first["version"])["status"] == "superseded"


def test_rollback_and_pruning(tmp_path):
    service = make_service(tmp_path, promotion={"policy": "always", "keep_versions": 2})
    versions = []
    for start in (1, 41, 81, 121):
        add(service, start, 40)
        versions.append(train(service)["version"])
    records = {v["version"]: v for v in service.store.versions("1")}
    assert [records[v]["status"] for v in versions] == ["superseded"] * 3 + ["serving"]
    kept = [v for v in versions if records[v]["path"]]
    assert kept == versions[-2:]  # the newest two; older model files are gone
    models = tmp_path / "state" / "models" / "1"
    assert sorted(p.stem for p in models.glob("*.skops")) == sorted(kept)
    service.registry.activate("1", versions[-2])
    assert service.registry.served_version("1") == versions[-2]
    with pytest.raises(LookupError, match="pruned"):
        service.registry.activate("1", versions[0])
    with pytest.raises(LookupError):
        service.registry.activate("2", versions[-1])  # another project's version


def test_incremental_updates_then_full_refits(tmp_path):
    service = make_service(
        tmp_path,
        features=[{"field": "text", "type": "text", "vectorizer": "hashing", "n_features": 4096}],
        model={"class": "SGDClassifier", "params": {"loss": "log_loss"}},
        training={"incremental": True, "full_refit_every": 2},
    )
    add(service, 1, 40)
    assert service.store.version(train(service)["version"])["kind"] == "full"
    kinds = []
    for start in (41, 61, 81):
        add(service, start, 20)
        outcome = train(service)
        record = service.store.version(outcome["version"])
        kinds.append(record["kind"])
        if record["kind"] == "incremental":
            assert outcome["metrics"]["n_new"] == 20 and 0 <= outcome["metrics"]["prequential_accuracy"] <= 1
            assert record["n_annotations"] == start + 19
    assert kinds == ["incremental", "incremental", "full"]  # full_refit_every: 2
    add(service, 101, 10)
    assert service.store.version(train(service)["version"])["kind"] == "incremental"
    add(service, 5, 1, flip=True)  # an annotation changed: a model cannot unlearn it
    assert service.store.version(train(service)["version"])["kind"] == "full"
    add(service, 111, 10)
    request_training(service, "1", "START_TRAINING", force=True)  # Start Training: always a full refit
    assert service.store.versions("1")[-1]["kind"] == "full"
    add(service, 121, 10)
    assert service.store.version(train(service)["version"])["kind"] == "incremental"
    # Start Training that coalesces into an incremental training already queued makes it full
    add(service, 131, 10)
    service.store.mark_pending("1", "queued-by-an-annotation")
    request_training(service, "1", "START_TRAINING", force=True)
    assert service.store.version(train(service)["version"])["kind"] == "full"


def test_schedule_queues_a_full_training_of_every_project(tmp_path):
    """Fails if the scheduled task trains only some of the projects (e.g. only the first)."""
    service = make_service(tmp_path, training={"schedule": "*/5 * * * *"})
    periodic = [t for t in service.huey._registry._registry if t.endswith("scheduled_training")]
    assert periodic
    add(service, 1, 20, project="1")
    add(service, 101, 20, project="2")
    task_class = service.huey._registry.string_to_task(periodic[0])
    service.huey.execute(task_class())
    # the store's served version, not the registry's, which falls back to "moods-untrained"
    served = {p: service.store.served_version(p) for p in ("1", "2")}
    assert all(served.values()), served
    for project, version in served.items():
        record = service.store.version(version)
        assert record["project"] == project and record["kind"] == "full" and record["status"] == "serving"
        assert service.registry.current(project).version == version
    runs = service.store.runs()
    assert sorted((r["project"], r["trigger"], r["status"]) for r in runs) == [
        ("1", "schedule", "succeeded"), ("2", "schedule", "succeeded")]


def test_forced_training_with_one_class_is_skipped_not_failed(tmp_path):
    service = make_service(tmp_path)
    service.store.save_annotations("1", [{"id": 1, "task": 1, "data": {"text": "x"}, "answer": "pos"}], [])
    request_training(service, "1", "START_TRAINING", force=True)
    assert service.store.runs("1")[0]["status"] == "skipped"
    assert service.registry.served_version("1").endswith("untrained")
