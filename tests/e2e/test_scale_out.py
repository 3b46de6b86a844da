"""The distributed mode end to end, as docker-compose.scale.yml runs it but on loopback: web
replicas (`serve --no-worker`) and training workers (`worker`), each its own process with a
MODEL_DIR of its own, sharing one PostgreSQL database (DATABASE_URL), one Redis (REDIS_URL) and
one models folder (MODELS_DIR), behind a real HAProxy (tests/engines.py), for the topics sample.

What it proves: a burst of webhooks spread over two replicas stores every annotation once and
trains once or twice; every replica serves the version the shared state says, a new or rolled
back one within about a second of its commit; a web replica killed under load loses no request
(HAProxy replays the ones it refused or dropped); a worker killed mid-training has its training
run again by the other worker; triggers coalesce into one scheduled training on Redis, which
starts only after the debounce. No process keeps state of its own (no SQLite file anywhere).
"""

from __future__ import annotations

import copy
import csv
import io
import json
import math
import os
import shutil
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
import yaml
from backend.registry import SERVED_VERSION_SECONDS  # how stale a replica's served version may be
from engines import balancer, drop_database, fresh_database, haproxy_command, require
from helpers import PAYLOADS, SAMPLES
from mlgen import render_backend
from procs import Service, Worker, wait_for

pytestmark = pytest.mark.e2e
PROJECT = 5
LS_PROJECT = f"{PROJECT}.1700000000"  # the form Label Studio sends to /setup and /predict
BURST = 200
LEASE_SECONDS = "3"  # TRAINING_LEASE_SECONDS on every process: a dead worker's training moves in seconds
SPEC = yaml.safe_load((SAMPLES / "topics" / "backend.yaml").read_text())
CONFIG = (SAMPLES / "topics" / "labeling_config.xml").read_text()


def payload(name: str) -> dict[str, Any]:
    return json.loads((PAYLOADS / f"{name}.json").read_text())["body"]


def topics_tasks() -> list[dict[str, Any]]:
    """The sample's 337 tasks, ids 1.., each with its true topic (heldout_labels.json)."""
    tasks = json.loads((SAMPLES / "topics" / "tasks.json").read_text())
    labels = json.loads((SAMPLES / "topics" / "heldout_labels.json").read_text())
    return [{"id": i, "data": task["data"], "label": label} for i, (task, label) in enumerate(zip(tasks, labels), 1)]


TASKS = topics_tasks()


def webhook(task: dict[str, Any], annotation_id: int) -> dict[str, Any]:
    """Label Studio's ANNOTATION_CREATED (tests/fixtures/ls-payloads) for `task`, answered with its topic."""
    event = payload("webhook-ANNOTATION_CREATED")
    result = [{"from_name": "topic", "to_name": "text", "type": "choices", "value": {"choices": [task["label"]]}}]
    event["annotation"].update(id=annotation_id, task=task["id"], project=PROJECT, result=result)
    event["task"] = {**event["task"], "id": task["id"], "data": task["data"], "project": PROJECT}
    event["project"] = {**event["project"], "id": PROJECT, "label_config": CONFIG}
    return event


def predict_body(tasks: list[dict[str, Any]]) -> dict[str, Any]:
    base = payload("predict")
    template = base["tasks"][0]
    return {**base, "project": LS_PROJECT, "label_config": CONFIG,
            "tasks": [{**copy.deepcopy(template), "id": t["id"], "inner_id": t["id"], "data": t["data"],
                       "project": PROJECT} for t in tasks]}


SETUP = {**payload("setup"), "project": LS_PROJECT, "schema": CONFIG,
         "hostname": "http://127.0.0.1:9"}  # no Label Studio there: a trained project contacts none


def post(url: str, path: str, body: Any, session: Any = requests, timeout: float = 30) -> Any:
    response = session.post(url + path, json=body, timeout=timeout)
    assert response.status_code in (200, 201), f"POST {path}: {response.status_code} {response.text[:300]}"
    return response.json()


def served(url: str) -> str:
    """The model_version /setup answers at `url` (a replica, or the balancer)."""
    return post(url, "/setup", SETUP)["model_version"]


# -- the shared state, read straight from PostgreSQL and Redis --------------------------------


def rows(database: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(database, autocommit=True) as connection:
        return connection.execute(sql, params).fetchall()


def project_state(database: str) -> dict[str, Any]:
    found = rows(database, "SELECT pending, running, version, holder FROM projects WHERE project = %s", (str(PROJECT),))
    pending, running, version, holder = found[0] if found else (0, 0, None, None)
    return {"pending": pending, "running": running, "version": version, "holder": holder}


def idle(database: str) -> bool:
    """A version is served and no training is queued or running."""
    state = project_state(database)
    return bool(state["version"]) and not state["pending"] and not state["running"]


def runs(database: str) -> list[dict[str, Any]]:
    names = ("id", "trigger", "status", "started_at", "n_annotations", "version")
    return [dict(zip(names, row)) for row in
            rows(database, f"SELECT {', '.join(names)} FROM runs WHERE project = %s ORDER BY id", (str(PROJECT),))]


def redis_database(server: str, index: int) -> str:
    """Database `index` of the session's Redis server, emptied: each cluster its own queue."""
    import redis

    url = urlunsplit(urlsplit(server)._replace(path=f"/{index}"))
    with redis.Redis.from_url(url) as client:
        client.flushdb()
    return url


def huey_queue(url: str) -> dict[str, int]:
    """What Huey holds on Redis for the topics backend: tasks ready to run and tasks scheduled."""
    import redis

    with redis.Redis.from_url(url) as client:
        return {"ready": client.llen("huey.redis.topics"), "scheduled": client.zcard("huey.schedule.topics")}


# -- processes ---------------------------------------------------------------------------------


class Cluster:
    """`web` replicas and `workers` of one rendered project sharing the state; each process has
    its own MODEL_DIR under `root` (no SQLite file to share). Started all at once."""

    def __init__(self, python: Path, project: Path, root: Path, database: str, redis_url: str,
                 web: int = 2, workers: int = 2, env: dict[str, str] | None = None) -> None:
        self.python, self.project, self.root, self.database, self.redis_url = python, project, root, database, redis_url
        self.env = {"DATABASE_URL": database, "REDIS_URL": redis_url, "MODELS_DIR": str(root / "models"),
                    "TRAINING_LEASE_SECONDS": LEASE_SECONDS, "PREDICTION_CACHE_SIZE": "0", **(env or {})}
        self.webs: list[Service] = []
        self.workers: list[Worker] = []
        root.mkdir(parents=True, exist_ok=True)
        try:
            for i in range(web):
                self.webs.append(Service(python, project, root / f"web{i}", self.env, args=["--no-worker"], ready=False))
            for i in range(workers):
                self.workers.append(Worker(python, project, root / f"worker{i}", self.env, ready=False))
            for process in [*self.webs, *self.workers]:
                process.wait_ready()
        except BaseException:
            self.stop()
            raise

    @property
    def model_dirs(self) -> list[Path]:
        return [self.root / f"web{i}" for i in range(len(self.webs))] + \
               [self.root / f"worker{i}" for i in range(len(self.workers))]

    def backend(self, *args: str) -> subprocess.Popen[str]:
        """`python -m backend ARGS` started with the cluster's environment and a MODEL_DIR of its own."""
        return subprocess.Popen([str(self.python), "-m", "backend", *args], cwd=self.project, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env={**os.environ, **self.env, "MODEL_DIR": str(self.root / "cli")})

    def stop(self) -> list[int]:
        """Stop every process still running (SIGTERM); their exit codes."""
        return [p.stop() for p in [*self.webs, *self.workers] if p.process.poll() is None]

    def assert_no_sqlite(self) -> None:
        """The state is in PostgreSQL and Redis only: no process made a store or queue file."""
        for folder in [*self.model_dirs, self.root / "cli"]:
            made = [name for name in ("backend.db", "queue.db", "models") if (folder / name).exists()]
            assert not made, f"{folder} holds {made}: a process kept state of its own"


@pytest.fixture(scope="module")
def topics_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render_backend(SAMPLES / "topics" / "backend.yaml", tmp_path_factory.mktemp("topics") / "project")


def slow_topics(root: Path) -> Path:
    """samples/topics whose estimator takes seconds to train (a fixed 5,000 SGD epochs), so that
    a worker can be caught training."""
    folder = root / "topics-slow"
    shutil.copytree(SAMPLES / "topics", folder)
    spec = copy.deepcopy(SPEC)
    spec["model"]["params"].update(max_iter=5000, tol=None)
    (folder / "backend.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return render_backend(folder / "backend.yaml", root / "slow-project")


def send_all(url: str, events: list[dict[str, Any]], threads: int) -> list[dict[str, Any]]:
    """POST every event to /webhook from `threads` client threads at once; their answers."""
    local = threading.local()

    def send(event: dict[str, Any]) -> dict[str, Any]:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        return post(url, "/webhook", event, local.session)

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(send, events))


def handled(service: Service, path: str) -> int:
    """How many `path` requests the service's log shows it answered."""
    return sum(f"POST {path} " in line for line in Path(service.log.name).read_text().splitlines())


def balancer_stats(url: str) -> dict[str, dict[str, str]]:
    """HAProxy's `show stat`, by server name (b0, b1, ..., BACKEND)."""
    text = haproxy_command(url, "show stat").lstrip("# ")
    return {row["svname"]: row for row in csv.DictReader(io.StringIO(text)) if row["pxname"] == "backends"}


def started_at(run: dict[str, Any]) -> float:
    return datetime.fromisoformat(run["started_at"]).timestamp()


# -- one web replica and one worker: coalescing on Redis ---------------------------------------


def test_a_burst_queues_one_training_on_redis_which_waits_for_the_debounce(
        postgres_server, redis_server, scale_out_python, topics_project, tmp_path):
    database, queue = fresh_database(postgres_server), redis_database(redis_server, 1)
    cluster = Cluster(scale_out_python, topics_project, tmp_path, database, queue, web=1, workers=1)
    web = cluster.webs[0]
    try:
        session = requests.Session()
        due_from = None
        for i, task in enumerate(TASKS[:30], 1):
            if i == SPEC["training"]["min_annotations"]:
                due_from = time.time()  # this webhook makes a training due: debounced from here
            answer = post(web.url, "/webhook", webhook(task, 1000 + i), session)
            assert answer["stored"] == 1
        burst_seconds = time.time() - due_from
        debounce = SPEC["training"]["debounce_seconds"]
        assert burst_seconds < debounce - 0.5, f"the burst took {burst_seconds:.1f}s: no time left to look"
        # 21 webhooks found the policy due; they queued one training, scheduled on Redis
        assert huey_queue(queue) == {"ready": 0, "scheduled": 1}
        assert web.get("/metrics")["queue"] == {"pending": 0, "scheduled": 1}
        assert project_state(database)["pending"] == 1
        assert runs(database) == []

        wait_for(lambda: idle(database), timeout=60)
        [run] = runs(database)
        assert run["status"] == "succeeded" and run["n_annotations"] == 30
        assert started_at(run) >= due_from + debounce - 0.05, "the training started before its debounce"
        assert huey_queue(queue) == {"ready": 0, "scheduled": 0}
        assert served(web.url) == run["version"]
        cluster.assert_no_sqlite()
    finally:
        codes = cluster.stop()
        drop_database(database)
    assert codes == [0, 0]  # both stopped cleanly


# -- a worker killed during a training ---------------------------------------------------------


def test_a_worker_killed_mid_training_has_it_run_again_by_the_other(
        postgres_server, redis_server, scale_out_python, tmp_path):
    project = slow_topics(tmp_path)
    database, queue = fresh_database(postgres_server), redis_database(redis_server, 2)
    cluster = Cluster(scale_out_python, project, tmp_path / "cluster", database, queue, web=1, workers=2)
    web = cluster.webs[0]
    try:
        session = requests.Session()
        for i, task in enumerate(TASKS[:40], 1):
            post(web.url, "/webhook", webhook(task, 1000 + i), session)
        # caught training (its run recorded): the holder names its worker, host:pid:...
        holder = wait_for(lambda: [r["status"] for r in runs(database)] == ["running"]
                          and project_state(database)["holder"], timeout=30, interval=0.05)
        pid = int(holder.split(":")[1])
        [victim] = [w for w in cluster.workers if w.pid == pid]
        [survivor] = [w for w in cluster.workers if w is not victim]
        victim.kill()
        killed_at = time.monotonic()
        assert [r["status"] for r in runs(database)] == ["running"], "the training ended before the kill"

        # the lease expires, a reaper queues it again, the other worker takes it
        taken = wait_for(lambda: (s := project_state(database))["running"] and s["holder"] != holder and s["holder"],
                         timeout=30, interval=0.05)
        moved_after = time.monotonic() - killed_at
        assert int(taken.split(":")[1]) == survivor.pid
        wait_for(lambda: idle(database), timeout=60)
        history = runs(database)
        assert [(r["trigger"], r["status"]) for r in history] == [
            ("ANNOTATION_CREATED", "interrupted"), ("recovery", "succeeded")], history
        version = history[-1]["version"]
        survivor_log = cluster.root / f"worker{cluster.workers.index(survivor)}" / "training.log"
        assert version in survivor_log.read_text()  # the survivor trained and published it
        assert rows(database, "SELECT count(*) FROM annotations") == [(40,)]  # nothing lost
        assert served(web.url) == version
        results = post(web.url, "/predict", predict_body(TASKS[300:310]))["results"]
        assert all(r["model_version"] == version and r["result"] for r in results)
        assert (cluster.root / "models" / str(PROJECT) / f"{version}.skops").exists()
        cluster.assert_no_sqlite()
        lease = float(LEASE_SECONDS)
        # expected: the lease's end (at most `lease` after the kill), the reaper's next pass (every
        # lease / 2) and the consumer's next poll (0.5 s); the rest is slack for a loaded machine
        assert moved_after < lease + 7, f"the training moved {moved_after:.1f}s after its worker died"
        print(f"\ntraining taken over by the other worker {moved_after:.1f}s after kill -9 (lease {lease:.0f}s)")
    finally:
        codes = cluster.stop()
        drop_database(database)
    assert codes == [0, 0]  # the web replica and the surviving worker stopped cleanly


# -- two web replicas and two workers behind HAProxy -------------------------------------------


@pytest.fixture(scope="module")
def cluster(postgres_server, redis_server, scale_out_python, topics_project,
            tmp_path_factory) -> Iterator[tuple[Cluster, str]]:
    require("haproxy")
    database, queue = fresh_database(postgres_server), redis_database(redis_server, 3)
    started = Cluster(scale_out_python, topics_project, tmp_path_factory.mktemp("cluster"), database, queue)
    try:
        with balancer([("127.0.0.1", web.port) for web in started.webs]) as url:
            yield started, url
            wait_for(lambda: idle(database), timeout=60)  # stop no worker mid-training
    finally:
        codes = started.stop()
        drop_database(database)
    assert set(codes) == {0}, codes  # every process left (the killed replica aside) stopped cleanly


@pytest.fixture(scope="module")
def burst(cluster) -> dict[str, Any]:
    """200 ANNOTATION_CREATED webhooks (tasks 1-200, annotation ids 10001-10200) through the
    balancer from 4 client threads, then until the trainings they started are done."""
    nodes, url = cluster
    events = [webhook(task, 10_000 + task["id"]) for task in TASKS[:BURST]]
    started = time.perf_counter()
    answers = send_all(url, events, threads=4)
    seconds = time.perf_counter() - started
    wait_for(lambda: idle(nodes.database), timeout=60)
    return {"answers": answers, "seconds": seconds, "stats": balancer_stats(url)}


def test_a_burst_through_two_replicas_stores_each_annotation_once_and_trains_once_or_twice(cluster, burst):
    nodes, url = cluster
    assert all(a["status"] == "ok" and a["stored"] == 1 for a in burst["answers"])
    # both replicas took part: HAProxy's counts and the replicas' own logs agree
    stats = burst["stats"]
    per_replica = [handled(web, "/webhook") for web in nodes.webs]
    assert all(n > 0 for n in per_replica) and sum(per_replica) == BURST, per_replica
    assert [int(stats[f"b{i}"]["hrsp_2xx"]) >= n for i, n in enumerate(per_replica)] == [True, True], stats
    # every annotation stored exactly once, in PostgreSQL
    assert rows(nodes.database, "SELECT count(*), count(DISTINCT id), min(id), max(id) FROM annotations") == [
        (BURST, BURST, 10_001, 10_000 + BURST)]
    history = runs(nodes.database)
    assert 1 <= len(history) <= 2 and all(r["status"] == "succeeded" for r in history), history
    version = project_state(nodes.database)["version"]
    assert version in [r["version"] for r in history]
    # every replica serves that version, and /predict through the balancer answers with it
    assert [served(web.url) for web in nodes.webs] == [version, version]
    held_out = TASKS[BURST:BURST + 100]
    results = post(url, "/predict", predict_body(held_out))["results"]
    assert len(results) == 100 and all(r["model_version"] == version and r["result"] for r in results)
    right = sum(r["result"][0]["value"]["choices"] == [t["label"]] for r, t in zip(results, held_out))
    assert right >= 70, f"{right}/100 held-out tasks right"  # a real model, not one answer for all
    nodes.assert_no_sqlite()
    assert (nodes.root / "models" / str(PROJECT) / f"{version}.skops").exists()
    print(f"\n{BURST} webhooks in {burst['seconds']:.2f}s through HAProxy (replicas {per_replica}); "
          f"{len(history)} training(s); {right}/100 held-out right")


def test_every_replica_serves_a_new_or_rolled_back_version_at_once(cluster, burst):
    """A version published by a worker, then one activated by `python -m backend rollback` in
    another process, reaches every replica within a second or so (each reads the served version
    from PostgreSQL at most SERVED_VERSION_SECONDS after its last read): measured under steady
    /setup traffic on each replica, from the commit as PostgreSQL shows it."""
    nodes, url = cluster
    before = project_state(nodes.database)["version"]

    def propagation(serves: Callable[[str | None], bool]) -> tuple[str, list[float]]:
        """Poll PostgreSQL and every replica's /setup, every 20 ms, until all serve a version
        `serves` accepts: that version, and the seconds each replica took after the commit."""
        committed, seen = None, {}
        deadline = time.monotonic() + 60
        while len(seen) < len(nodes.webs) and time.monotonic() < deadline:
            if committed is None and serves(project_state(nodes.database)["version"]):
                committed = time.monotonic()
            for i, web in enumerate(nodes.webs):
                if i not in seen and serves(served(web.url)):
                    seen[i] = time.monotonic()
            time.sleep(0.02)
        assert len(seen) == len(nodes.webs), f"replicas {set(range(len(nodes.webs))) - set(seen)} serve another"
        committed = min([committed or math.inf, *seen.values()])  # a replica may answer before our next look
        return project_state(nodes.database)["version"], [round(seen[i] - committed, 3) for i in sorted(seen)]

    assert post(url, "/webhook", {**payload("webhook-START_TRAINING"), "project": {"id": PROJECT}})["status"] == "ok"
    trained, after_training = propagation(lambda version: version not in (before, None))
    wait_for(lambda: idle(nodes.database), timeout=60)

    rollback = nodes.backend("rollback", str(PROJECT))  # another process, as an operator runs it
    rolled_back, after_rollback = propagation(lambda version: version == before)
    out, err = rollback.communicate(timeout=120)
    assert rollback.returncode == 0 and f"now serves {before}" in out, out + err
    assert served(url) == rolled_back == before != trained
    results = post(url, "/predict", predict_body(TASKS[BURST:BURST + 10]))["results"]
    assert all(r["model_version"] == before and r["result"] for r in results)
    assert max(after_training + after_rollback) < SERVED_VERSION_SECONDS + 1
    nodes.assert_no_sqlite()
    print(f"\nseconds until each replica served the new version: {after_training}; the rolled back one: "
          f"{after_rollback}")


def test_a_replica_killed_under_load_loses_no_request(cluster, burst):
    """kill -9 of a replica while a client sends /predict and webhooks through HAProxy: every
    request is answered 2xx (HAProxy replays those the dead replica refused or dropped), and
    every webhook's annotation is stored once."""
    nodes, url = cluster
    version = project_state(nodes.database)["version"]
    before = balancer_stats(url)
    stop = threading.Event()
    outcomes: dict[str, list[Any]] = {"/predict": [], "/webhook": []}
    sent_ids: list[int] = []
    held_out = TASKS[BURST:]

    def client(path: str) -> None:
        session = requests.Session()
        k = 0
        while not stop.is_set():
            k += 1
            task = held_out[k % len(held_out)]
            if path == "/webhook":
                body = webhook(task, 50_000 + k)
                sent_ids.append(50_000 + k)
            else:
                body = predict_body([task])
            try:
                response = session.post(url + path, json=body, timeout=30)
                answer = response.json() if response.status_code in (200, 201) else response.text[:200]
                ok = response.status_code == 200 and (path == "/webhook" or (
                    answer["results"][0]["result"] and answer["results"][0]["model_version"]))
                outcomes[path].append(response.status_code if ok else (response.status_code, answer))
            except requests.RequestException as exc:
                outcomes[path].append(repr(exc))

    clients = [threading.Thread(target=client, args=(path,)) for path in ("/predict", "/predict", "/webhook")]
    for thread in clients:
        thread.start()
    time.sleep(1.5)
    victim = nodes.webs[0]
    victim.kill()
    killed = time.monotonic()
    wait_for(lambda: balancer_stats(url)["b0"]["status"].startswith("DOWN"), timeout=10, interval=0.02)
    down_after = time.monotonic() - killed
    time.sleep(1.5)  # load on the survivor alone
    stop.set()
    for thread in clients:
        thread.join(timeout=60)

    failed = {path: [o for o in got if o != 200] for path, got in outcomes.items()}
    after = balancer_stats(url)

    def change(server: str, key: str) -> int:
        return int(after[server][key] or 0) - int(before[server][key] or 0)

    print(f"\nkill -9 of a replica under load: {Counter(outcomes['/predict'])} /predict, "
          f"{Counter(outcomes['/webhook'])} /webhook answers; marked down {down_after:.2f}s after the kill; "
          f"HAProxy moved {change('b0', 'wredis')} requests from the dead replica to the other "
          f"(redispatches), {change('b0', 'eresp')} of them dropped by it mid-request and replayed "
          f"({change('BACKEND', 'wretr')} retries)")
    assert failed == {"/predict": [], "/webhook": []}, failed
    assert all(len(got) > 10 for got in outcomes.values()), outcomes
    wait_for(lambda: idle(nodes.database), timeout=60)
    expected = BURST + len(sent_ids)
    assert rows(nodes.database, "SELECT count(*), count(DISTINCT id) FROM annotations") == [(expected, expected)]
    stored = {row[0] for row in rows(nodes.database, "SELECT id FROM annotations WHERE id >= 50000")}
    assert stored == set(sent_ids)
    assert served(nodes.webs[1].url) == project_state(nodes.database)["version"]
    assert version  # the run started trained
