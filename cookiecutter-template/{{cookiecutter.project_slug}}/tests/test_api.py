"""The HTTP protocol Label Studio speaks, through the WSGI app called in-process (no HTTP server),
with the real SQLite store and model files but Huey in immediate mode: a webhook that makes a
training due runs it inside the request, with no debounce. tests/test_served.py runs the service as
users do, with the real Waitress server and Huey consumer."""

from __future__ import annotations

import json

import pytest
from conftest import PROJECT, annotation_event, example_answers, example_data, learnt, unreadable_results

NO_LABEL_STUDIO = "http://127.0.0.1:9"  # a closed port: the import of existing annotations fails at once


def setup_body(client, schema=None, extra_params=None):
    return {"project": f"{PROJECT}.1700000000", "schema": schema or client.service.spec["labeling_config"],
            "hostname": NO_LABEL_STUDIO, "access_token": "token", "extra_params": extra_params}


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
    """Fails if a bulk webhook reports annotations it did not store (or stored them wrong)."""
    target = client.service.target
    answers = example_answers(target)
    events = [annotation_event(client.service.spec, target, i, i % len(answers)) for i in range(1, 5)]
    body = {"action": "ANNOTATIONS_CREATED", "annotation": [e["annotation"] for e in events],
            "task": [e["task"] for e in events], "project": {"id": PROJECT}}
    assert client.post("/webhook", body).json["stored"] == 4
    store = client.service.store
    assert store.annotation_ids(str(PROJECT)) == {1, 2, 3, 4}
    stored = [(data, answer) for data, answer, _ in store.annotations(str(PROJECT))]  # in the order written
    assert stored == [(e["task"]["data"], answers[i % len(answers)]) for i, e in enumerate(events, start=1)]


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
    first = next(v["version"] for v in mine if v["kept"])  # many labels: the first files are pruned
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
    bad_results = unreadable_results(target, annotation_event(client.service.spec, target, 1, 0))
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


# malformed bodies: a JSON 400 naming the problem, never a 500, and nothing applied ------------

ROUTES = ("/setup", "/predict", "/webhook", "/train", "/versions/activate")


@pytest.mark.parametrize("path", ROUTES)
def test_a_body_nested_too_deep_is_400(client, path):
    for depth in (65, 5000, 200_000):  # the json module itself gives up at about 1000
        raw = ('{"action": "X", "a": ' + "[" * (depth - 1) + "]" * (depth - 1) + "}").encode()
        response = client.call("POST", path, raw=raw)
        assert response.code == 400 and "deeper than 64" in response.json["error"], depth
    ok = ('{"action": "X", "a": ' + "[" * 63 + "]" * 63 + "}").encode()
    assert client.call("POST", "/webhook", raw=ok).code == 200


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999", "9223372036854775808",
                                     "-9223372036854775809", "1" * 5000])
@pytest.mark.parametrize("path", ROUTES)
def test_numbers_json_does_not_have_are_400(client, path, literal):
    response = client.call("POST", path, raw=('{"project": 1, "tasks": [], "x": ' + literal + "}").encode())
    assert response.code == 400 and response.json["status"] == 400
    assert "JSON number" in response.json["error"] or "beyond 64 bits" in response.json["error"] \
        or "too large" in response.json["error"]


def test_a_body_that_is_not_utf8_is_400(client):
    response = client.call("POST", "/predict", raw='{"tasks": []}'.encode("utf-16"))
    assert response.code == 400 and "UTF-8" in response.json["error"]
    assert client.call("POST", "/predict", raw=b'\xef\xbb\xbf{"tasks": []}').code == 200  # a BOM is fine


def wrong(event, dotted, value):
    node = event
    *parents, leaf = dotted.split(".")
    for key in parents:
        node = node[int(key)] if key.isdigit() else node[key]
    node[int(leaf) if leaf.isdigit() else leaf] = value
    return event


@pytest.mark.parametrize(("field", "value"), [
    ("annotation.id", "1"), ("annotation.id", True), ("annotation.id", 1.5), ("annotation.id", None),
    ("annotation.task", [1]), ("annotation.task", {"id": 1}), ("annotation.project", [3]),
    ("annotation.project", True), ("annotation.project", "\ud800"), ("annotation.was_cancelled", "false"),
    ("task.id", [1]), ("task.id", {}), ("task.id", "1"), ("task.project", 1.5),
    ("annotation", 5), ("annotation", "x"), ("task", "x"), ("task", None),
    ("project", []), ("project", {"id": None}), ("project", ""), ("project", "../x"), ("action", ["x"]),
])
def test_an_annotation_webhook_with_a_field_of_the_wrong_type_is_400(client, field, value):
    event = wrong(annotation_event(client.service.spec, client.service.target, 1, 0), field, value)
    response = client.post("/webhook", event)
    assert response.code == 400, response.json
    assert field.split(".")[-1] in response.json["error"] and "bad webhook payload" in response.status
    assert client.service.store.count_annotations() == 0


def test_a_bulk_webhook_with_one_bad_item_stores_none(client):
    target = client.service.target
    events = [annotation_event(client.service.spec, target, i, 0) for i in (1, 2)]
    body = {"action": "ANNOTATIONS_CREATED", "annotation": [events[0]["annotation"], 7],
            "task": [e["task"] for e in events], "project": {"id": PROJECT}}
    response = client.post("/webhook", body)
    assert response.code == 400 and "annotation[1]" in response.json["error"]
    body["annotation"][1] = {**events[1]["annotation"], "id": [2]}
    assert client.post("/webhook", body).code == 400
    body["task"][1] = {**events[1]["task"], "id": {"id": 1}}
    body["annotation"][1] = events[1]["annotation"]
    assert "task[1].id" in client.post("/webhook", body).json["error"]
    assert client.service.store.count_annotations() == 0


def test_label_studio_forms_of_a_project_are_all_accepted(client):
    target = client.service.target
    for i, project in enumerate([PROJECT, str(PROJECT), f"{PROJECT}.1700000000", {"id": PROJECT},
                                 {"id": f"{PROJECT}.1700000000"}, f" {PROJECT} "], start=1):
        event = annotation_event(client.service.spec, target, i, 0)
        for part in (event["annotation"], event["task"]):
            part.pop("project")
        event["project"] = project
        response = client.post("/webhook", event)
        assert response.code == 200 and response.json["stored"] == 1, (project, response.json)
        assert client.post("/setup", {**setup_body(client), "project": project}).code == 200
    assert client.service.store.count_annotations(str(PROJECT)) == 6


def test_deletes_need_integer_ids_and_refuse_the_whole_batch_otherwise(client):
    target = client.service.target
    client.post("/webhook", annotation_event(client.service.spec, target, 1, 0))
    for deleted in ([{"id": 1}, {"id": "2"}], [{"id": 1}, 2], {"id": True}, 5, None):
        body = {"action": "ANNOTATIONS_DELETED", "annotations": deleted, "project": {"id": PROJECT}}
        assert client.post("/webhook", body).code == 400, deleted
    assert client.service.store.count_annotations() == 1
    many = {"action": "ANNOTATIONS_DELETED", "annotations": [{"id": i} for i in range(1, 5001)]}
    response = client.post("/webhook", many)  # more ids than an SQLite query may bind
    assert response.code == 200 and response.json["removed"] == 1


def test_start_training_needs_a_project_of_a_label_studio_form(client):
    for project in (None, [], {"id": [1]}, True, 3.5, "", "a/b"):
        response = client.post("/webhook", {"action": "START_TRAINING", "project": project})
        assert response.code == 400 and "project" in response.json["error"], project
    assert client.post("/webhook", {"project": {"id": PROJECT}}).code == 400  # no action


@pytest.mark.parametrize(("body", "named"), [
    ({"tasks": {}}, "tasks"), ({"tasks": "x"}, "tasks"), ({"tasks": [{"id": [1]}]}, "tasks[0].id"),
    ({"tasks": [{"id": 1, "project": [1]}]}, "tasks[0].project"), ({"tasks": [], "project": 1.5}, "project"),
])
def test_predict_with_a_field_of_the_wrong_type_is_400(client, body, named):
    response = client.post("/predict", body)
    assert response.code == 400 and named in response.json["error"]


def test_predict_takes_any_task_data(client):
    train(client)
    tasks = [{"id": 1, "data": data} for data in (None, 5, "x", [1], {"a": {"b": [None, 1e308]}}, {})]
    results = client.post("/predict", {"tasks": tasks, "project": PROJECT}).json["results"]
    assert len(results) == len(tasks) and all(r["result"] == [] for r in results)


@pytest.mark.parametrize(("body", "named"), [
    ({"project": True}, "project"), ({"schema": 5}, "schema"), ({"schema": ["<View/>"]}, "schema"),
    ({"schema": "<View>\ud800</View>"}, "schema"), ({"extra_params": [1]}, "extra_params"),
    ({"extra_params": 5}, "extra_params"),
])
def test_setup_with_a_field_of_the_wrong_type_is_400(client, body, named):
    response = client.post("/setup", {**setup_body(client), **body})
    assert response.code == 400 and named in response.json["error"]


@pytest.mark.parametrize(("tasks", "named"), [
    ({}, "annotations"), (["x"], "annotations[0]"), ([{"annotations": 5}], "annotations[0].annotations"),
    ([{"annotations": [5]}], "annotations[0].annotations[0]"),
    ([{"annotations": [{"id": "2"}]}], "annotations[0].annotations[0].id"),
    ([{"annotations": [{"id": 2**64}]}], "64 bits"), ([{"id": [1], "annotations": []}], "annotations[0].id"),
])
def test_legacy_train_with_a_field_of_the_wrong_type_is_400(client, tasks, named):
    raw = json.dumps({"annotations": tasks, "project": PROJECT}).encode()
    response = client.call("POST", "/train", raw=raw)
    assert response.code == 400 and named in response.json["error"]
    assert client.service.store.count_annotations() == 0


@pytest.mark.parametrize("body", [{"project": PROJECT}, {"project": PROJECT, "version": 5},
                                  {"project": PROJECT, "version": ""}, {"project": [1], "version": "v"},
                                  {"project": PROJECT, "version": "v\ud800"}])
def test_activate_with_a_field_of_the_wrong_type_is_400(client, body):
    response = client.post("/versions/activate", body)
    assert response.code == 400 and response.json["error"]


def test_repeated_tasks_come_from_the_cache_until_the_version_changes(client):
    train(client)
    task = {"id": 1, "data": example_data(client.service.spec, 0, 1)}
    body = {"tasks": [task], "project": PROJECT}
    first = client.post("/predict", body).json["results"]
    before = client.get("/metrics").json["prediction_cache"]
    assert client.post("/predict", body).json["results"] == first
    after = client.get("/metrics").json["prediction_cache"]
    assert after["hits"] == before["hits"] + 1 and after["misses"] == before["misses"]
    client.post("/webhook", {"action": "START_TRAINING", "project": {"id": PROJECT}})
    third = client.post("/predict", body).json["results"]
    assert third[0]["model_version"] == version_of(client) != first[0]["model_version"]
    assert client.get("/metrics").json["prediction_cache"]["misses"] == after["misses"] + 1


def test_the_cache_is_bounded_and_can_be_turned_off(make_client):
    from backend.cache import PredictionCache, data_key

    cache = PredictionCache(capacity=2)
    for i in range(3):
        assert cache.get("p", "v1", data_key({"i": i})) is None
        cache.put("p", "v1", data_key({"i": i}), {"i": i})
    assert cache.stats()["entries"] == 2 and cache.get("p", "v1", data_key({"i": 0})) is None
    assert data_key({"a": 1, "b": 2}) == data_key({"b": 2, "a": 1})
    off = make_client({"PREDICTION_CACHE_SIZE": "0"})
    assert off.get("/metrics").json["prediction_cache"] is None
    train(off)
    task = {"id": 1, "data": example_data(off.service.spec, 0, 1)}
    assert off.post("/predict", {"tasks": [task], "project": PROJECT}).json["results"][0]["result"]
