"""The HTTP protocol Label Studio speaks, end to end through the WSGI app, with real SQLite."""

from __future__ import annotations

import pytest
from conftest import PROJECT, annotation_event, example_answers, example_data, learnt


def setup_body(client, schema=None, extra_params=None):
    return {"project": f"{PROJECT}.1700000000", "schema": schema or client.service.spec["labeling_config"],
            "hostname": "http://localhost:8080", "access_token": "token", "extra_params": extra_params}


def version_of(client):
    response = client.post("/setup", setup_body(client))
    assert response.code == 200
    return response.json["model_version"]


def train(client, per_label=3, start_id=1):
    target = client.service.target
    annotation_id = start_id
    for _ in range(per_label):
        for label_index in range(len(example_answers(target))):
            client.post("/webhook", annotation_event(client.service.spec, target, annotation_id, label_index))
            annotation_id += 1
    return annotation_id


def check_prediction(client, prediction, version):
    target = client.service.target
    assert set(prediction) == {"result", "score", "model_version"}
    assert prediction["model_version"] == version
    assert isinstance(prediction["score"], float) and 0.0 <= prediction["score"] <= 1.0
    for region in prediction["result"]:
        assert region["from_name"] == target.name
        assert region["to_name"] == target.to_names[0]
        assert region["type"] == target.type
    if prediction["result"]:
        target.answer(prediction["result"])  # raises if the result is not a valid answer
        if target.kind == "single_choice":
            assert len(prediction["result"][0]["value"]["choices"]) == 1


def test_health_and_root(client):
    for path in ("/health", "/"):
        response = client.get(path)
        assert response.code == 200 and response.json["status"] == "UP"


@pytest.mark.parametrize("extra_params", [None, "some text", '{"a": 1}', {"a": 1}])
def test_setup_accepts_every_form_of_extra_params(client, extra_params):
    response = client.post("/setup", setup_body(client, extra_params=extra_params))
    assert response.code == 200
    assert response.json["model_version"].endswith("untrained")


def test_setup_rejects_a_config_without_the_target(client):
    schema = '<View><Text name="other" value="$other"/><Choices name="x" toName="other"><Choice value="a"/></Choices></View>'
    response = client.post("/setup", setup_body(client, schema=schema))
    assert response.code == 422
    assert "does not fit" in response.status and "does not fit" in response.json["error"]


def test_setup_rejects_broken_xml_with_a_reason(client):
    response = client.post("/setup", setup_body(client, schema="<View><Text"))
    assert response.code == 422 and "XML" in response.json["error"]


def test_predict_before_training_gives_empty_results_with_the_setup_version(client):
    version = version_of(client)
    tasks = [{"id": i, "data": example_data(client.service.spec, 0, i)} for i in range(3)]
    response = client.post("/predict", {"tasks": tasks, "project": f"{PROJECT}.1", "label_config": "",
                                        "params": {"login": None, "password": None, "context": None}})
    assert response.code == 200
    assert response.json["results"] == [{"result": [], "score": 0.0, "model_version": version}] * 3


def test_empty_task_list(client):
    assert client.post("/predict", {"tasks": []}).json == {"results": []}


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b"", b"\xff\xfe"])
def test_bad_bodies_get_json_400(client, raw):
    response = client.call("POST", "/predict", raw=raw)
    assert response.code == 400 and "error" in response.json


def test_predict_without_tasks_is_400(client):
    response = client.post("/predict", {"project": "1"})
    assert response.code == 400 and "tasks" in response.json["error"]


def test_unknown_route_and_method_are_json(client):
    assert client.get("/nope").code == 404
    assert client.get("/nope").json["status"] == 404
    assert client.get("/predict").code == 405


def test_ignored_actions(client):
    for action in ("PROJECT_UPDATED", "TASKS_CREATED", "LABEL_LINK_CREATED", "SOMETHING_NEW"):
        response = client.post("/webhook", {"action": action, "project": {"id": PROJECT}})
        assert response.code == 200 and response.json["status"] == "ignored"


def test_annotations_train_a_model_that_predicts(client):
    before = version_of(client)
    train(client)
    after = version_of(client)
    assert after != before and not after.endswith("untrained")
    target = client.service.target
    answers = example_answers(target)
    tasks = [{"id": i, "data": example_data(client.service.spec, i, 100 + i)} for i in range(len(answers))]
    results = client.post("/predict", {"tasks": tasks, "project": f"{PROJECT}.1"}).json["results"]
    assert len(results) == len(tasks)
    for prediction in results:
        check_prediction(client, prediction, after)
    assert learnt(target, [p["result"] for p in results], answers), (results, answers)


def test_a_bad_task_does_not_fail_the_batch(client):
    train(client)
    version = version_of(client)
    good = {"id": 1, "data": example_data(client.service.spec, 0, 1)}
    tasks = [good, {"id": 2, "data": {}}, {"id": 3}, "not a task", good]
    results = client.post("/predict", {"tasks": tasks, "project": PROJECT}).json["results"]
    assert [bool(r["result"]) for r in results] == [True, False, False, False, True]
    for r in results:
        check_prediction(client, r, version)


def test_cancelled_updated_and_deleted_annotations(client):
    target = client.service.target
    store = client.service.store
    event = annotation_event(client.service.spec, target, 1, 0)
    client.post("/webhook", event)
    assert store.count_annotations(str(PROJECT)) == 1
    event["action"] = "ANNOTATION_UPDATED"
    event["annotation"]["result"] = target.result(example_answers(target)[1])
    client.post("/webhook", event)
    assert store.annotations(str(PROJECT))[0][1] == example_answers(target)[1]
    event["annotation"]["was_cancelled"] = True
    client.post("/webhook", event)
    assert store.count_annotations(str(PROJECT)) == 0
    client.post("/webhook", annotation_event(client.service.spec, target, 2, 0))
    response = client.post("/webhook", {"action": "ANNOTATIONS_DELETED", "annotations": [{"id": 2}],
                                        "project": {"id": PROJECT}})
    assert response.code == 200 and store.count_annotations(str(PROJECT)) == 0


def test_bulk_annotations_created(client):
    target = client.service.target
    events = [annotation_event(client.service.spec, target, i, i % len(example_answers(target))) for i in range(1, 5)]
    body = {"action": "ANNOTATIONS_CREATED", "annotation": [e["annotation"] for e in events],
            "task": [e["task"] for e in events], "project": {"id": PROJECT}}
    assert client.post("/webhook", body).json["stored"] == 4


def test_start_training_answers_201_with_a_job_and_trains(client):
    train(client)
    before = version_of(client)
    response = client.post("/webhook", {"action": "START_TRAINING", "project": {"id": PROJECT}})
    assert response.code == 201 and response.json["status"] == "ok" and response.json["job"]
    assert version_of(client) != before


def test_legacy_train(client):
    target = client.service.target
    tasks = []
    for i in range(6):
        event = annotation_event(client.service.spec, target, i + 1, i % len(example_answers(target)))
        tasks.append({**event["task"], "annotations": [event["annotation"]]})
    response = client.post("/train", {"annotations": tasks, "project": f"{PROJECT}.1"})
    assert response.code == 201 and response.json["job"]
    assert not version_of(client).endswith("untrained")


def test_versions_and_metrics(client):
    train(client)
    current = version_of(client)
    assert current in client.get("/versions").json["versions"]
    metrics = client.get("/metrics").json
    assert metrics["projects"][0]["model_version"] == current
    assert metrics["projects"][0]["last_run"]["status"] == "succeeded"


def test_state_survives_a_restart(make_client):
    first = make_client()
    train(first)
    version = version_of(first)
    second = make_client()
    assert version_of(second) == version
    task = {"id": 1, "data": example_data(second.service.spec, 0, 1)}
    assert second.post("/predict", {"tasks": [task], "project": PROJECT}).json["results"][0]["result"]


def test_trailing_slash(client):
    assert client.get("/health/").code == 200
    assert client.post("/predict/", {"tasks": []}).code == 200


def test_basic_auth(make_client):
    client = make_client({"BASIC_AUTH_USER": "ls", "BASIC_AUTH_PASS": "s3cret"})
    for method, path in (("GET", "/health"), ("POST", "/setup"), ("POST", "/predict"),
                         ("GET", "/versions"), ("GET", "/metrics")):
        response = client.call(method, path, {"tasks": []})
        assert response.code == 401, path
        assert response.headers["www-authenticate"].startswith("Basic")
    assert client.get("/health", auth=("ls", "wrong")).code == 401
    assert client.get("/health", auth=("ls", "s3cret")).code == 200
    # Label Studio's automatic webhook carries no credentials: /webhook stays open.
    assert client.post("/webhook", {"action": "PROJECT_UPDATED"}).code == 200


def test_webhook_secret(make_client):
    client = make_client({"WEBHOOK_SECRET": "hush", "BASIC_AUTH_USER": "ls", "BASIC_AUTH_PASS": "pw"})
    body = {"action": "PROJECT_UPDATED"}
    assert client.post("/webhook", body).code == 401
    assert client.post("/webhook", body, headers={"X-Webhook-Secret": "wrong"}).code == 401
    assert client.post("/webhook", body, headers={"X-Webhook-Secret": "hush"}).code == 200
    assert client.post("/webhook", body, auth=("ls", "pw")).code == 200


def test_projects_keep_their_own_annotations_and_versions(client):
    target = client.service.target
    train(client)
    trained = version_of(client)
    other = {**setup_body(client), "project": "8.1700000000"}
    assert client.post("/setup", other).json["model_version"].endswith("untrained")
    event = annotation_event(client.service.spec, target, 999, 0, project=8)
    client.post("/webhook", event)
    assert client.service.store.count_annotations("8") == 1
    assert client.service.store.count_annotations(str(PROJECT)) == 3 * len(example_answers(target))
    assert version_of(client) == trained
    task = {"id": 1, "data": example_data(client.service.spec, 0, 1)}
    assert client.post("/predict", {"tasks": [task], "project": "8.1"}).json["results"][0]["result"] == []


def test_a_body_over_the_limit_gets_json_413(spec, tmp_path):
    from backend.app import StripTrailingSlash, create_app
    from backend.settings import load_settings
    from backend.wiring import create_service
    from conftest import Client

    spec["server"]["max_body_mb"] = 0.001  # about 1 kB
    service = create_service(spec, load_settings(spec, {"MODEL_DIR": str(tmp_path / "small")}), immediate=True)
    client = Client(StripTrailingSlash(create_app(service)), service)
    response = client.post("/predict", {"tasks": [{"data": {"text": "x" * 5000}}]})
    assert response.code == 413 and "max_body_mb" in response.json["error"]


def test_rollback_over_http(make_client):
    client = make_client({"BASIC_AUTH_USER": "ls", "BASIC_AUTH_PASS": "pw"})
    auth = ("ls", "pw")
    next_id = train(client)
    train(client, start_id=next_id)
    versions = client.get("/versions", auth=auth).json
    mine = [v for v in versions["details"] if v["project"] == str(PROJECT)]
    assert len(mine) >= 2 and all(v["version"] in versions["versions"] for v in mine)
    first = mine[0]["version"]
    body = {"project": str(PROJECT), "version": first}
    assert client.post("/versions/activate", body).code == 401
    response = client.post("/versions/activate", body, auth=auth)
    assert response.code == 200 and response.json["model_version"] == first
    setup = client.post("/setup", setup_body(client), auth=auth).json
    assert setup["model_version"] == first
    missing = client.post("/versions/activate", {"project": str(PROJECT), "version": "nope"}, auth=auth)
    assert missing.code == 404 and missing.json["error"]


def test_status_page(client):
    train(client)
    response = client.get("/status")
    assert response.code == 200 and response.headers["content-type"].startswith("text/html")
    assert "<svg" in response.text and client.service.registry.served_version(str(PROJECT)) in response.text


def test_unreadable_annotations_are_skipped_with_a_counted_reason(client):
    target = client.service.target
    event = annotation_event(client.service.spec, target, 1, 0)
    bad_results = {
        "no-answer": [],
        "unknown-choice" if target.kind.endswith("choice") else "not-a-number": (
            [{**event["annotation"]["result"][0], "value": {"choices": ["no such choice"]}}]
            if target.kind.endswith("choice") else
            [{**event["annotation"]["result"][0], "value": {target.type: "12"}}]),
    }
    for i, (reason, result) in enumerate(bad_results.items(), start=1):
        bad = annotation_event(client.service.spec, target, 100 + i, 0)
        bad["annotation"]["result"] = result
        response = client.post("/webhook", bad)
        assert response.code == 200 and response.json["stored"] == 0, reason
    cancelled = annotation_event(client.service.spec, target, 200, 0)
    cancelled["annotation"]["was_cancelled"] = True
    client.post("/webhook", cancelled)
    project = next(p for p in client.get("/metrics").json["projects"] if p["project"] == str(PROJECT))
    assert project["annotations_skipped"] == {**{reason: 1 for reason in bad_results}, "cancelled": 1}
    assert client.service.store.count_annotations(str(PROJECT)) == 0
    train(client)  # and training is not disturbed by them
    assert not version_of(client).endswith("untrained")


def test_a_task_the_features_cannot_read_gets_an_empty_prediction(client):
    train(client)
    good = {"id": 1, "data": example_data(client.service.spec, 0, 1)}
    first = client.service.spec["features"][0]["field"].split(".")[0]
    bad = {"id": 2, "data": {first: {"nested": ["not", "a", "value"]}}}
    results = client.post("/predict", {"tasks": [bad, good], "project": PROJECT}).json["results"]
    assert results[0]["result"] == [] and results[0]["score"] == 0.0
    assert results[1]["result"]
