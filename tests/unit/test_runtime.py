"""The runtime package, imported straight from the template (no rendering)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import backend
import numpy as np
import pytest
from backend.config import Config
from backend.features import BadTaskError, Featurizer, read_row, rows_to_matrix
from backend.labelconfig import LabelConfigError, compatibility_problems, find_target, parse_label_config
from backend.scoring import confidence_scores
from backend.settings import load_settings
from backend.wiring import create_service
from helpers import PAYLOADS

CONFIG = json.loads((PAYLOADS / "setup.json").read_text())["body"]["schema"]


def test_scores_match_hand_computed_values():
    proba = np.array([[0.5, 0.3, 0.2], [0.9, 0.05, 0.05], [1 / 3, 1 / 3, 1 / 3]])
    assert confidence_scores(proba, "least_confidence") == pytest.approx([0.5, 0.9, 1 / 3])
    assert confidence_scores(proba, "margin") == pytest.approx([0.2, 0.85, 0.0])
    h = -(0.5 * math.log(0.5) + 0.3 * math.log(0.3) + 0.2 * math.log(0.2)) / math.log(3)
    h2 = -(0.9 * math.log(0.9) + 2 * 0.05 * math.log(0.05)) / math.log(3)
    assert confidence_scores(proba, "entropy") == pytest.approx([1 - h, 1 - h2, 0.0], abs=1e-9)
    # ascending score = most uncertain first, for every strategy
    for strategy in ("least_confidence", "margin", "entropy"):
        assert list(np.argsort(confidence_scores(proba, strategy))) == [2, 0, 1]


def test_read_row_coerces_and_rejects():
    features = [{"field": "t", "type": "text"}, {"field": "x.n", "type": "number"},
                {"field": "c", "type": "category"}]
    assert read_row({"t": "hi", "x": {"n": "2.5"}, "c": 3}, features) == ["hi", 2.5, "3"]
    row = read_row({"t": "hi"}, features)
    assert row[0] == "hi" and math.isnan(row[1]) and row[2] == ""
    for bad in ({}, {"t": "", "x": {"n": ""}}, {"x": {"n": "abc"}}, {"t": {"nested": 1}},
                {"x": {"n": True}}, {"x": {"n": "inf"}}, None, "text"):
        with pytest.raises(BadTaskError):
            read_row(bad, features)


def test_featurizer_mixed_columns():
    features = [{"field": "t", "type": "text", "ngram_range": [1, 2]},
                {"field": "n", "type": "number", "scale": "minmax"},
                {"field": "c", "type": "category", "max_categories": 2}]
    rows = [["red apple", 1.0, "a"], ["green pear", math.nan, "b"], ["red cherry", 3.0, "c"]]
    X = Featurizer(features).fit_transform(rows_to_matrix(rows))
    assert X.shape[0] == 3 and not np.isnan(X.toarray()).any()


def test_featurizer_saves_vocabularies_as_arrays():
    """skops saves each fitted vocabulary as one array of terms (fast, small) and loads back the
    very same vocabularies and outputs; a term an array cannot hold (a trailing NUL) keeps the dict.
    Fails if __setstate__ does not restore vocabulary_ (NotFittedError) or restores it shifted."""
    import skops.io

    features = [{"field": "t", "type": "text", "analyzer": "char_wb", "ngram_range": [2, 3]},
                {"field": "u", "type": "text", "vectorizer": "count", "max_features": 3},
                {"field": "v", "type": "text", "analyzer": "char", "lowercase": False}]
    rows = [["Grüße aus Köln", "aa bb cc dd", "end\x00"], ["red apple\r\n", "aa aa bb", "x"], ["", "dd dd dd", "end"]]
    X = rows_to_matrix(rows)
    fitted = Featurizer(features).fit(X)
    state = fitted.__getstate__()
    assert [type(v).__name__ for v in state["vocabularies_"]] == ["ndarray", "ndarray", "NoneType"]
    assert "vocabulary_" not in state["transformers_"][0].__dict__
    assert "vocabulary_" in fitted.transformers_[0].__dict__  # saving leaves the fitted one whole
    data = skops.io.dumps(fitted)
    loaded = skops.io.loads(data, trusted=skops.io.get_untrusted_types(data=data))
    for mine, theirs in zip(fitted.transformers_, loaded.transformers_):
        assert theirs.vocabulary_ == mine.vocabulary_
    assert (loaded.transform(X) != fitted.transform(X)).nnz == 0


def test_labelconfig_parse_and_compatibility():
    config = parse_label_config(CONFIG)
    target = find_target(config, None)
    assert (target.name, target.labels, target.to_names) == ("sentiment", ("Positive", "Negative"), ("text",))
    assert compatibility_problems(config, target, ["text"]) == []
    other = parse_label_config(CONFIG.replace('<Choice value="Negative"/>', ""))
    assert "lacks the labels 'Negative'" in compatibility_problems(other, target, ["text"])[0]
    extra = parse_label_config(CONFIG.replace("</Choices>", '<Choice value="Neutral"/></Choices>'))
    assert compatibility_problems(extra, target, ["text"]) == []
    with pytest.raises(LabelConfigError):
        parse_label_config('<!DOCTYPE x [<!ENTITY a "b">]><View>&a;</View>')


@pytest.fixture
def service(tmp_path):
    from mlgen import load_spec
    from test_render import write_spec

    spec = load_spec(write_spec(tmp_path, ["a", "b"]))
    spec["training"].update(min_annotations=2, retrain_every=1, debounce_seconds=0)
    return create_service(spec, load_settings(spec, {"MODEL_DIR": str(tmp_path / "state")}))


def test_triggers_coalesce_into_one_queued_training(service):
    from backend.queue import request_training

    store = service.store
    store.save_annotations("1", [{"id": i, "task": i, "data": {"text": f"w{i % 2}"}, "answer": "ab"[i % 2]}
                                 for i in range(4)], [])
    jobs = {request_training(service, "1", "test") for _ in range(20)}
    assert len(jobs) == 1 and service.huey.pending_count() == 1
    assert store.claim_training("1")[0] == "claimed"
    # an event during the training queues exactly one follow-up
    follow_ups = {request_training(service, "1", "test", force=True) for _ in range(5)}
    assert len(follow_ups) == 1 and service.huey.pending_count() == 2
    assert store.claim_training("1")[0] == "busy"  # never two trainings of one project at once
    store.finish_training("1")
    assert store.claim_training("1")[0] == "claimed"
    store.finish_training("1")
    assert store.claim_training("1")[0] == "idle"


def test_a_training_cut_off_is_queued_again(service):
    from backend.queue import recover, request_training

    service.store.save_annotations("1", [{"id": 1, "task": 1, "data": {"text": "x"}, "answer": "a"}], [])
    request_training(service, "1", "test", force=True)
    assert service.store.claim_training("1")[0] == "claimed"  # ...and the process dies here
    service.huey.flush()
    recover(service)
    assert service.huey.pending_count() == 1
    assert service.store.claim_training("1")[0] == "claimed"


def test_failed_training_keeps_the_previous_model(service):
    from backend.trainer import train_project

    store = service.store
    store.save_annotations("1", [{"id": i, "task": i, "data": {"text": f"w{i % 2}"}, "answer": "ab"[i % 2]}
                                 for i in range(6)], [])
    store.mark_pending("1", "j1")
    assert train_project(service, "1", "test")["status"] == "succeeded"
    version = service.registry.served_version("1")
    service.spec["model"]["params"] = {"max_iter": -5}  # the next fit raises
    service.config = Config.from_spec(service.spec)
    store.mark_pending("1", "j2")
    outcome = train_project(service, "1", "test")
    assert outcome["status"] == "failed" and "max_iter" in outcome["detail"]
    assert service.registry.served_version("1") == version
    assert service.registry.current("1").version == version
    assert store.runs("1")[0]["status"] == "failed"


def test_an_unwritable_state_directory_is_one_clear_error(tmp_path, monkeypatch, capsys):
    """A state directory the service cannot write (a root-owned bind mount in the container, here
    a path under a file) ends the command with one line saying what to do, not a traceback."""
    from backend.__main__ import main
    from mlgen import load_spec
    from test_render import write_spec

    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(load_spec(write_spec(tmp_path, ["a", "b"]))))
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("BACKEND_SPEC", str(spec_file))
    monkeypatch.setenv("MODEL_DIR", str(tmp_path / "file" / "state"))
    assert main(["versions"]) == 1
    error = capsys.readouterr().err
    assert error.startswith("error: cannot write the state directory") and "MODEL_DIR" in error
    assert "Traceback" not in error


@pytest.mark.parametrize(("variable", "value", "says"), [
    ("PORT", "http", "PORT must be a whole number, not 'http'"),
    ("SERVER_PROCESSES", "two", "SERVER_PROCESSES must be a whole number, not 'two'"),
    ("PREDICTION_CACHE_SIZE", "1e3", "PREDICTION_CACHE_SIZE must be a whole number"),
    ("TRAINING_LEASE_SECONDS", "soon", "TRAINING_LEASE_SECONDS must be a number, not 'soon'"),
    ("SERVER_PROCESSES", "0", "SERVER_PROCESSES must be a whole number from 1 to 64"),
    ("DATABASE_URL", "postgresql://h/db", "REDIS_URL is not"),
])
def test_a_bad_setting_in_the_environment_is_one_clear_error(tmp_path, monkeypatch, capsys, variable, value, says):
    """A setting the environment gets wrong ends the command with one line naming it."""
    from backend.__main__ import main
    from mlgen import load_spec
    from test_render import write_spec

    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(load_spec(write_spec(tmp_path, ["a", "b"]))))
    monkeypatch.setenv("BACKEND_SPEC", str(spec_file))
    monkeypatch.setenv("MODEL_DIR", str(tmp_path / "state"))
    monkeypatch.setenv(variable, value)
    assert main(["versions"]) == 1
    error = capsys.readouterr().err
    assert error.startswith("error: ") and says in error and "Traceback" not in error


@pytest.mark.parametrize(("flags", "passed_on"), [([], []), (["-O"], ["-O"]), (["-OO"], ["-OO"])])
def test_web_processes_get_the_interpreters_optimization(flags, passed_on):
    """A service started with python -OO (or PYTHONOPTIMIZE=2, as the Docker image) starts its
    web processes so too."""
    code = "import json; from backend.processes import optimize_flags; print(json.dumps(optimize_flags()))"
    done = subprocess.run([sys.executable, *flags, "-c", code], cwd=Path(backend.__file__).parent.parent,
                          capture_output=True, text=True, check=True, env={"PATH": "/usr/bin:/bin"})
    assert json.loads(done.stdout) == passed_on
