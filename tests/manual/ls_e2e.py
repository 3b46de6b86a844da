"""Manual end-to-end check of a generated backend against a real Label Studio (PROTOCOL.md R28).

Not part of pytest. Start a rendered text-classification backend (for example the sentiment
sample) and a Label Studio 1.23.x that allows local backends and has a legacy API token:

    ML_BLOCK_LOCAL_IP=false SSRF_PROTECTION_ENABLED=false LATEST_VERSION_CHECK=false SENTRY_DSN= COLLECT_ANALYTICS=false \
      label-studio start --no-browser --internal-host 127.0.0.1 --port 8080 \
      --username admin@example.com --password admin12345 \
      --user-token abcdef0123456789 --enable-legacy-api-token

then run

    python tests/manual/ls_e2e.py --spec /tmp/lsbackend/spec.json [--ls-log /tmp/ls.log]
        [--basic-auth USER:PASS   # when the backend runs with BASIC_AUTH_USER/BASIC_AUTH_PASS]

Each run creates a new project, so the script can be run again against the same instances.
It prints every step with PASS or FAIL and exits 1 when any step failed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import requests

POSITIVE = [
    "I love this product, it is wonderful",
    "Great service and friendly staff, great experience",
    "Absolutely fantastic, would buy again",
    "The movie was brilliant and moving",
    "What a lovely day, I am so happy",
    "Excellent quality, great value",
    "Superb food, wonderful atmosphere",
    "Best purchase this year, love it",
    "Delightful read, really enjoyed it",
    "Amazing support team, very helpful",
]
NEGATIVE = [
    "I hate this product, it is terrible",
    "Awful service and rude staff, bad experience",
    "Completely useless, never buying again",
    "The movie was boring and dull",
    "What a miserable day, I am so sad",
    "Poor quality, waste of money",
    "Disgusting food, horrible atmosphere",
    "Worst purchase this year, hate it",
    "Tedious read, really disliked it",
    "Terrible support team, not helpful at all",
]
CONNECTED = "CO"


class Check:
    def __init__(self) -> None:
        self.failures: list[str] = []

    def step(self, title: str) -> None:
        print(f"\n== {title}", flush=True)

    def info(self, message: str) -> None:
        print(f"   {message}", flush=True)

    def __call__(self, ok: bool, what: str, detail: Any = "") -> bool:
        print(f"   {'PASS' if ok else 'FAIL'}  {what}" + (f"  [{detail}]" if detail != "" else ""), flush=True)
        if not ok:
            self.failures.append(what)
        return ok


class Client:
    def __init__(self, base: str, token: str | None = None) -> None:
        self.base = base.rstrip("/")
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Token {token}"

    def call(self, method: str, path: str, expect: tuple[int, ...] = (200, 201), **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", 120)
        response = self.session.request(method, self.base + path, **kwargs)
        if response.status_code not in expect:
            raise RuntimeError(f"{method} {path} -> {response.status_code} {response.reason}: {response.text[:800]}")
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return response.text


def wait_for(predicate: Any, timeout: float, interval: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def project_predictions(ls: Client, project_id: int, task_ids: list[int]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for task_id in task_ids:
        out.extend(ls.call("GET", f"/api/predictions?task={task_id}"))
    return out


def retrieve_predictions(ls: Client, project_id: int) -> Any:
    return ls.call(
        "POST",
        f"/api/dm/actions?id=retrieve_tasks_predictions&project={project_id}",
        json={"selectedItems": {"all": True, "excluded": []}},
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ls-url", default="http://127.0.0.1:8080")
    parser.add_argument("--token", default="abcdef0123456789", help="legacy API token (Authorization: Token …)")
    parser.add_argument("--backend-url", default="http://127.0.0.1:9090")
    parser.add_argument("--spec", default="/tmp/lsbackend/spec.json", help="the backend's spec.json")
    parser.add_argument("--tasks", type=int, default=20, help="number of tasks to import (≤ 20)")
    parser.add_argument("--annotate", type=int, default=8, help="tasks to annotate, half of each class")
    parser.add_argument("--train-timeout", type=float, default=60.0)
    parser.add_argument("--basic-auth", metavar="USER:PASS",
                        help="the backend's BASIC_AUTH_USER:BASIC_AUTH_PASS; given to LS with the backend")
    parser.add_argument("--ls-log", help="Label Studio's log file, scanned for errors of this run")
    args = parser.parse_args()

    check = Check()
    ls = Client(args.ls_url, args.token)
    backend = Client(args.backend_url)
    ml_auth: dict[str, Any] = {}
    if args.basic_auth:
        user, _, password = args.basic_auth.partition(":")
        backend.session.auth = (user, password)
        ml_auth = {"auth_method": "BASIC_AUTH", "basic_auth_user": user, "basic_auth_pass": password}
    spec = json.loads(Path(args.spec).read_text())
    config = spec["labeling_config"]
    target = spec["target"]
    to_name = next(f["field"] for f in spec["features"])  # the sample's object tag is named after the field
    log_start = Path(args.ls_log).stat().st_size if args.ls_log else 0
    log_probe = None  # where the deliberate bad-prediction probe starts in the log

    try:
        check.step("0. services answer")
        check(bool(ls.call("GET", "/health")), "Label Studio /health")
        me = ls.call("GET", "/api/current-user/whoami")
        check(bool(me.get("id")), "legacy token accepted", me.get("email"))
        check(backend.call("GET", "/health").get("status") == "UP", "backend /health")
        if args.basic_auth:
            bare = requests.get(args.backend_url.rstrip("/") + "/health", timeout=5)
            check(bare.status_code == 401, "backend /health without credentials is refused", bare.status_code)

        check.step("1. project, tasks")
        project = ls.call("POST", "/api/projects", json={"title": f"mlgen e2e {time.strftime('%H:%M:%S')}",
                                                          "label_config": config})
        pid = project["id"]
        check.info(f"project {pid}: show_collab_predictions={project.get('show_collab_predictions')} "
                   f"evaluate_predictions_automatically={project.get('evaluate_predictions_automatically')} "
                   f"model_version={project.get('model_version')!r}")
        n = min(args.tasks, len(POSITIVE) + len(NEGATIVE))
        texts = [t for pair in zip(POSITIVE, NEGATIVE) for t in pair][:n]
        imported = ls.call("POST", f"/api/projects/{pid}/import", json=[{"text": t} for t in texts])
        check(imported.get("task_count") == n, f"imported {n} tasks", imported.get("task_count"))
        tasks = ls.call("GET", f"/api/tasks?project={pid}&page_size=1000")
        tasks = tasks["tasks"] if isinstance(tasks, dict) else tasks
        task_ids = sorted(t["id"] for t in tasks)
        text_of = {t["id"]: t["data"]["text"] for t in tasks}
        check(len(task_ids) == n, "tasks listed", len(task_ids))

        check.step("2. add the ML backend")
        ml = ls.call("POST", "/api/ml", json={"url": args.backend_url, "project": pid, "title": "mlgen", **ml_auth})
        ml_id = ml["id"]
        ml = ls.call("GET", f"/api/ml/{ml_id}")
        check(ml["state"] == CONNECTED, "state Connected", f"state={ml['state']} error={ml.get('error_message')!r}")
        setup = backend.call("POST", "/setup", json={"project": f"{pid}.0", "schema": config})
        v0 = setup.get("model_version")
        check(isinstance(v0, str) and bool(v0), "backend /setup returns a model_version", v0)
        check(ml.get("model_version") == v0, "LS shows the /setup version", ml.get("model_version"))
        hooks = ls.call("GET", f"/api/webhooks?project={pid}")
        urls = [h.get("url") for h in hooks]
        check(args.backend_url.rstrip("/") + "/webhook" in urls, "automatic project webhook created", urls)
        project = ls.call("GET", f"/api/projects/{pid}")
        check.info(f"after adding: project.model_version={project.get('model_version')!r}")

        check.step("3. Send Test Request")
        test = ls.call("POST", f"/api/ml/{ml_id}/predict/test?random=true")
        resp = (test or {}).get("response")
        ok = isinstance(resp, list) and len(resp) == 1 and isinstance(resp[0], dict)
        check(ok and isinstance(resp[0].get("result"), list), "test request returns one prediction",
              json.dumps(resp)[:300])
        if ok:
            check(resp[0].get("model_version") == v0, "test prediction carries the /setup version",
                  resp[0].get("model_version"))
            if resp[0]["result"]:
                region = resp[0]["result"][0]
                check(region.get("from_name") == target and region.get("type") == "choices",
                      "region names the target control", region)
            else:
                check.info("the untrained model answers an empty result (nothing to pre-label yet)")

        check.step("4. Retrieve Predictions (all tasks)")
        answer = retrieve_predictions(ls, pid)
        check.info(f"action answered {answer}")
        preds = project_predictions(ls, pid, task_ids)
        by_task = Counter(p["task"] for p in preds)
        check(len(preds) == n and set(by_task) == set(task_ids), f"{n} predictions stored, one per task", len(preds))
        check(all(p["model_version"] == v0 for p in preds), "all carry the /setup version",
              Counter(p["model_version"] for p in preds))
        check(all(isinstance(p.get("score"), (int, float)) and 0 <= p["score"] <= 1 for p in preds),
              "scores in [0, 1]")
        retrieve_predictions(ls, pid)
        again = project_predictions(ls, pid, task_ids)
        check(len(again) == len(preds), "retrieving again adds nothing (same version)", len(again))

        check.step("5. annotate (webhooks) and train")
        metrics0 = backend.call("GET", "/metrics")
        half = args.annotate // 2
        pos_ids = [t for t in task_ids if text_of[t] in POSITIVE][:half]
        neg_ids = [t for t in task_ids if text_of[t] in NEGATIVE][: args.annotate - half]
        for task_id in pos_ids + neg_ids:
            label = "Positive" if task_id in pos_ids else "Negative"
            result = [{"from_name": target, "to_name": to_name, "type": "choices", "value": {"choices": [label]}}]
            ls.call("POST", f"/api/tasks/{task_id}/annotations?project={pid}", json={"result": result, "lead_time": 1.0})
        annotated = len(pos_ids) + len(neg_ids)
        check.info(f"created {annotated} annotations ({len(pos_ids)} Positive, {len(neg_ids)} Negative)")

        def stored() -> int:
            rows = [p for p in backend.call("GET", "/metrics")["projects"] if str(p["project"]) == str(pid)]
            return rows[0]["annotations"] if rows else 0

        got = wait_for(lambda: stored() >= annotated, 10)
        check(bool(got), "backend stored every annotation from the webhook", stored())
        check.info(f"backend metrics before: {json.dumps([p for p in metrics0['projects'] if str(p['project']) == str(pid)])}")
        train = ls.call("POST", f"/api/ml/{ml_id}/train", json={})
        check.info(f"/api/ml/{ml_id}/train answered {train}")
        ml = ls.call("GET", f"/api/ml/{ml_id}")
        check.info(f"right after train: state={ml['state']} error={ml.get('error_message')!r}")

        def trained() -> str | None:
            version = backend.call("POST", "/setup", json={"project": f"{pid}.0", "schema": config})["model_version"]
            rows = [p for p in backend.call("GET", "/metrics")["projects"] if str(p["project"]) == str(pid)]
            idle = rows and not rows[0]["training_queued"] and not rows[0]["training_running"]
            return version if version != v0 and idle else None

        v1 = wait_for(trained, args.train_timeout)
        check(bool(v1), "backend /setup reports a new model version", v1)
        row = [p for p in backend.call("GET", "/metrics")["projects"] if str(p["project"]) == str(pid)]
        check.info(f"backend metrics after: {json.dumps(row)}")
        ml = ls.call("GET", f"/api/ml/{ml_id}")
        check(ml["state"] == CONNECTED and ml.get("model_version") == v1, "LS shows the new version, Connected",
              f"state={ml['state']} version={ml.get('model_version')!r}")

        check.step("6. predictions after training")
        before = project_predictions(ls, pid, task_ids)
        retrieve_predictions(ls, pid)
        after = project_predictions(ls, pid, task_ids)
        new = [p for p in after if p["model_version"] == v1]
        per = Counter((p["task"], p["model_version"]) for p in after)
        check(len(new) == n and {p["task"] for p in new} == set(task_ids), f"{n} new predictions with {v1}", len(new))
        check(all(c == 1 for c in per.values()), "no duplicate (task, version) pairs",
              {k: c for k, c in per.items() if c > 1})
        check(len(after) == len(before) + n, "old predictions kept, new ones added", f"{len(before)} -> {len(after)}")
        unsure = [p for p in new if p["task"] not in pos_ids + neg_ids]
        right = sum(1 for p in new if p["result"] and
                    p["result"][0]["value"]["choices"][0] == ("Positive" if text_of[p["task"]] in POSITIVE else "Negative"))
        check.info(f"new model gets {right}/{len(new)} right ({len(unsure)} unannotated)")
        retrieve_predictions(ls, pid)
        check(len(project_predictions(ls, pid, task_ids)) == len(after), "retrieving again adds nothing")

        check.step("7. Start Training with nothing new, then the labeling stream")
        ls.call("POST", f"/api/ml/{ml_id}/train", json={})
        v2 = wait_for(lambda: (lambda v: v if v not in (v0, v1) else None)(
            backend.call("POST", "/setup", json={"project": f"{pid}.0", "schema": config})["model_version"]),
            args.train_timeout)
        check(bool(v2), "Start Training alone (START_TRAINING) publishes another version", v2)
        project = ls.call("GET", f"/api/projects/{pid}")
        check.info(f"project.model_version={project.get('model_version')!r} (the stream re-predicts only "
                   f"when it equals the backend title)")
        if v2:
            seen: list[int] = []
            for _ in range(2):
                nxt = ls.call("GET", f"/api/projects/{pid}/next")
                seen.append(nxt["id"])
                shown = [p.get("model_version") for p in nxt.get("predictions", [])]
                check.info(f"/next gave task {nxt['id']} showing predictions {shown}")
            stream_task = seen[0]
            mine = ls.call("GET", f"/api/predictions?task={stream_task}")
            per = Counter(p["model_version"] for p in mine)
            check(per.get(v2) == 1, "the stream stored exactly one prediction with the newest version",
                  dict(per))
            check(all(c == 1 for c in per.values()), "no duplicate versions on the streamed task", dict(per))
            other = next(t for t in task_ids if t not in seen and t not in pos_ids + neg_ids)
            ls.call("GET", f"/api/tasks/{other}")
            versions = [p["model_version"] for p in ls.call("GET", f"/api/predictions?task={other}")]
            check.info(f"GET /api/tasks/{other} (already predicted) leaves predictions {versions} "
                       f"(LS re-predicts on open only tasks without any prediction)")

        check.step("8. opening a task without predictions")
        # GET /api/tasks/{id} predicts only for a task without any prediction (LS 1.23.2 tasks/api.py).
        fresh = ls.call("POST", f"/api/projects/{pid}/import", json=[{"text": "Nice and pleasant, I like it"}])
        fresh_id = max(fresh.get("task_ids") or [0]) or max(
            t["id"] for t in ls.call("GET", f"/api/tasks?project={pid}&page_size=1000")["tasks"])
        project = ls.call("GET", f"/api/projects/{pid}")
        check.info(f"show_collab_predictions={project.get('show_collab_predictions')} "
                   f"evaluate_predictions_automatically={project.get('evaluate_predictions_automatically')}")
        ls.call("GET", f"/api/tasks/{fresh_id}")
        opened = ls.call("GET", f"/api/predictions?task={fresh_id}")
        if project.get("show_collab_predictions") or project.get("evaluate_predictions_automatically"):
            check(len(opened) == 1 and opened[0]["model_version"] == (v2 or v1),
                  "opening an unpredicted task stores one prediction with the new version",
                  [(p["model_version"]) for p in opened])
            ls.call("GET", f"/api/tasks/{fresh_id}")
            check(len(ls.call("GET", f"/api/predictions?task={fresh_id}")) == 1, "opening it again adds nothing")
        else:
            check.info(f"task open does not predict with these project settings ({len(opened)} predictions)")
        # Is LS validating predictions (fflag_feat_utc_210_prediction_validation_15082025)?
        log_probe = Path(args.ls_log).stat().st_size if args.ls_log else 0
        probe = ls.session.post(ls.base + "/api/predictions", timeout=30, json={
            "task": task_ids[0], "model_version": "probe", "score": 0.5,
            "result": [{"from_name": target, "to_name": to_name, "type": "choices",
                        "value": {"choices": ["NoSuchLabel"]}}]})
        if probe.status_code < 300:
            ls.call("DELETE", f"/api/predictions/{probe.json()['id']}", expect=(200, 204))
        check.info(f"LS prediction validation is {'ON' if probe.status_code == 400 else 'OFF'} "
                   f"(a bad label gets {probe.status_code}: {probe.text[:160]})")
        ml = ls.call("GET", f"/api/ml/{ml_id}")
        check(ml["state"] == CONNECTED, "backend still Connected at the end", f"state={ml['state']} error={ml.get('error_message')!r}")
    except (requests.RequestException, RuntimeError, KeyError, TypeError, ValueError) as exc:
        check(False, "unexpected error", f"{type(exc).__name__}: {exc}")

    if args.ls_log:
        check.step("9. Label Studio log")
        with open(args.ls_log, "rb") as fh:
            fh.seek(log_start)
            raw = fh.read() if log_probe is None else fh.read(log_probe - log_start)
            text = raw.decode("utf-8", "replace")
        bad = [line for line in text.splitlines()
               if any(k in line for k in ("[ERROR]", "Traceback", "Error validating prediction", "ValidationError"))

               or ("[WARNING]" in line and ("ml" in line.lower() or "predict" in line.lower()))]
        check(not bad, "no errors or ML warnings in LS's log", "\n      ".join([""] + bad[:20]) if bad else "")

    print(f"\n{'FAIL' if check.failures else 'PASS'}: {len(check.failures)} failed check(s)"
          + (": " + "; ".join(check.failures) if check.failures else ""))
    return 1 if check.failures else 0


if __name__ == "__main__":
    sys.exit(main())
