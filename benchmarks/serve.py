"""Serving benchmark of a generated backend, against a trivial Bottle+Waitress floor.

Renders samples/topics into a temporary directory, starts the service as a user does
(`python -m backend serve`, with the runtime venv's python), trains it on a few hundred
ANNOTATION_CREATED webhooks, and then measures in the same run:

* single-task /predict throughput and latency, sequential (one keep-alive requests.Session)
  and with several concurrent client threads, against the HTTP floor: a Bottle app on Waitress
  with the service's thread count whose POST /predict only json.loads the same body and answers
  {"results": []};
* 100-task /predict latency, service against floor;
* idle RSS of the service process after training (and after the predict load);
* /webhook ANNOTATION_CREATED response time once the store holds 10,000 annotations (the
  service is restarted with training.retrain_every set very high for this phase, so that
  trainings do not run meanwhile; an extra row, off with --no-webhook-with-training, restarts
  it with the spec's own retrain_every, sends webhooks at a steady pace for a while and reports
  those answered while a training ran, per the store's runs table).

Service and floor are measured in alternating rounds so that the machine's noise hits both;
the table shows medians over rounds, percentiles over all requests, and the median of the
per-round service/floor ratios. Only 127.0.0.1 is used. Every process started here is stopped
at the end, on error too.

    /work/main/.venv/bin/python benchmarks/serve.py [--rounds 7] [--fill webhook|store] [--keep]
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "samples" / "topics"
PAYLOADS = REPO / "tests" / "fixtures" / "ls-payloads"
TEMPLATE_PROJECT = REPO / "cookiecutter-template" / "{{cookiecutter.project_slug}}"
PROJECT_ID = 5
LS_PROJECT = f"{PROJECT_ID}.1700000000"  # the form Label Studio sends to /predict and /setup
FAR_AWAY = 10**9  # retrain_every for the webhook phase: no training is ever due

FLOOR_APP = r'''
"""The HTTP floor: Bottle on Waitress, parsing the body and answering an empty prediction."""
import json
import signal
import sys

import bottle
from waitress.server import create_server

threads, port, max_body = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
app = bottle.Bottle(catchall=True)
bottle.BaseRequest.MEMFILE_MAX = max_body  # as the service sets it


@app.route("/health", "GET")
def health():
    return {"status": "UP"}


@app.route("/predict", "POST")
def predict():
    json.loads(bottle.request.body.read())
    return {"results": []}


def stop(signum, frame):
    raise SystemExit(0)


server = create_server(app, host="127.0.0.1", port=port, threads=threads,
                       max_request_body_size=max_body + 1024 * 1024, ident="floor")
signal.signal(signal.SIGTERM, stop)
try:
    server.run()
except (KeyboardInterrupt, SystemExit):
    pass
finally:
    server.close()
'''

FILL_STORE = r'''
"""Insert annotations straight into the service's store, through the runtime's Store class."""
import json
import sys
from pathlib import Path

from backend.store import Store

path, project, source = sys.argv[1], sys.argv[2], sys.argv[3]
records = json.load(open(source))
store = Store(Path(path))
for start in range(0, len(records), 500):
    store.save_annotations(project, records[start:start + 500], [])
print(store.count_annotations())
'''


# processes ------------------------------------------------------------------------------------

STARTED: list[Proc] = []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proc:
    """A server process started here, on a free 127.0.0.1 port, stopped by its own pid."""

    def __init__(self, name: str, args: list[str], cwd: Path, env: dict[str, str], log: Path,
                 port: int, start_timeout: float = 60) -> None:
        self.name, self.port, self.url, self.log_path = name, port, f"http://127.0.0.1:{port}", log
        self.log = log.open("w")
        self.process = subprocess.Popen(args, cwd=cwd, stdout=self.log, stderr=subprocess.STDOUT,
                                        env={**os.environ, **env})
        STARTED.append(self)
        deadline = time.monotonic() + start_timeout
        while True:
            try:
                if requests.get(self.url + "/health", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start; log:\n{self.tail()}")
            time.sleep(0.2)

    @property
    def pid(self) -> int:
        return self.process.pid

    def tail(self, n: int = 40) -> str:
        self.log.flush()
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 60) -> int | None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self in STARTED:
            STARTED.remove(self)
        self.log.close()
        return self.process.returncode


def stop_all() -> None:
    for proc in list(STARTED):
        try:
            proc.stop(timeout=30)
        except Exception as exc:  # keep stopping the others
            print(f"warning: could not stop {proc.name} (pid {proc.pid}): {exc}", file=sys.stderr)


def runtime_python() -> Path:
    """The venv the e2e tests use for generated projects (built here when missing)."""
    sys.path.insert(0, str(REPO / "tests"))
    from helpers import runtime_python as build

    return build()


# payloads --------------------------------------------------------------------------------------

def payload(name: str) -> dict[str, Any]:
    return json.loads((PAYLOADS / f"{name}.json").read_text())["body"]


class Payloads:
    """Label Studio-shaped request bodies built from the captured ones and the sample's tasks."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        tasks = json.loads((SAMPLE / "tasks.json").read_text())
        labels = json.loads((SAMPLE / "heldout_labels.json").read_text())
        example = next(t for t in tasks if t.get("annotations"))["annotations"][0]["result"]
        self.region = next(r for r in example if r.get("from_name") == spec["target"])
        self.items = [(t["data"], label) for t, label in zip(tasks, labels)]
        self.predict_template = payload("predict")
        self.task_template = self.predict_template["tasks"][0]
        self.webhook_template = payload("webhook-ANNOTATION_CREATED")
        self.webhook_template["project"].update(id=PROJECT_ID, label_config=spec["labeling_config"])

    def task(self, i: int) -> dict[str, Any]:
        data, _ = self.items[i % len(self.items)]
        return {**copy.deepcopy(self.task_template), "id": i + 1, "inner_id": i + 1, "data": data,
                "project": PROJECT_ID}

    def predict(self, first: int, n: int) -> bytes:
        body = {**self.predict_template, "tasks": [self.task(first + k) for k in range(n)],
                "project": LS_PROJECT, "label_config": self.spec["labeling_config"]}
        return json.dumps(body).encode()

    def result(self, label: str) -> list[dict[str, Any]]:
        region = copy.deepcopy(self.region)
        region["value"]["choices"] = [label]
        return [region]

    def webhook(self, annotation_id: int, item: int) -> bytes:
        """ANNOTATION_CREATED for a new annotation (id annotation_id) of the sample's item-th task
        (modulo their count: beyond it, tasks repeat as new tasks with distinct ids)."""
        data, label = self.items[item % len(self.items)]
        task_id = item + 1
        event = copy.deepcopy(self.webhook_template)
        event["annotation"].update(id=annotation_id, task=task_id, project=PROJECT_ID, result=self.result(label))
        event["task"].update(id=task_id, data=data, project=PROJECT_ID)
        return json.dumps(event).encode()

    def record(self, annotation_id: int, item: int) -> dict[str, Any]:
        data, label = self.items[item % len(self.items)]
        return {"id": annotation_id, "task": item + 1, "data": data, "label": label}


# measuring -------------------------------------------------------------------------------------

HEADERS = {"Content-Type": "application/json"}


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile, q in [0, 100]."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def post_all(session: requests.Session, url: str, bodies: list[bytes], deadline: float,
             check: Callable[[requests.Response], None] | None = None) -> list[float]:
    """POST each body in turn on one keep-alive session; the latency of each, in seconds."""
    latencies = []
    for body in bodies:
        if time.monotonic() > deadline:
            raise TimeoutError(f"time budget exhausted while posting to {url}")
        started = time.perf_counter()
        response = session.post(url, data=body, headers=HEADERS, timeout=30)
        latencies.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise RuntimeError(f"POST {url}: {response.status_code} {response.text[:300]}")
        if check is not None:
            check(response)
    return latencies


def concurrent_block(sessions: list[requests.Session], url: str, bodies: list[bytes],
                     deadline: float) -> tuple[float, list[float]]:
    """Split bodies over one thread per session, start them together; (wall seconds, latencies)."""
    n = len(sessions)
    shares = [bodies[i::n] for i in range(n)]
    results: list[list[float]] = [[] for _ in range(n)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(n + 1)

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = post_all(sessions[i], url, shares[i], deadline)
        except BaseException as exc:  # reported by the caller
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n)]
    for thread in threads:
        thread.start()
    barrier.wait(timeout=30)
    started = time.perf_counter()
    for thread in threads:
        thread.join(timeout=max(1.0, deadline - time.monotonic()))
    wall = time.perf_counter() - started
    if errors:
        raise errors[0]
    if any(thread.is_alive() for thread in threads):
        raise TimeoutError("concurrent clients did not finish in the time budget")
    return wall, [x for part in results for x in part]


def rss_kb(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields


def wait_until(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


def trained_and_idle(url: str) -> dict[str, Any] | None:
    """The project's /metrics entry once no training is queued or running and a version is served."""
    projects = requests.get(url + "/metrics", timeout=10).json()["projects"]
    if not projects or any(p["training_queued"] or p["training_running"] for p in projects):
        return None
    versions = requests.get(url + "/versions", timeout=10).json()["versions"]
    if len(versions) < 2:  # only the untrained version
        return None
    return next((p for p in projects if p["project"] == str(PROJECT_ID)), None)


def training_runs(db_path: Path, since: float, until: float) -> list[tuple[float, float, float, int]]:
    """(start, end, duration s, annotations) of the trainings that overlapped [since, until],
    read from the service's store (read-only) after the service stopped."""
    import sqlite3

    def epoch(stamp: str) -> float:
        return dt.datetime.fromisoformat(stamp).timestamp()

    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT started_at, finished_at, duration_s, n_annotations FROM runs"
                            " WHERE status = 'succeeded' AND finished_at IS NOT NULL").fetchall()
    runs = [(epoch(a), epoch(b), d, n) for a, b, d, n in rows]
    return [r for r in runs if r[1] >= since and r[0] <= until]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


# the benchmark ---------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train-annotations", type=int, default=300,
                        help="ANNOTATION_CREATED webhooks to train on (tasks repeat with distinct ids beyond the sample's count)")
    parser.add_argument("--debounce", type=float, default=0.2, help="training.debounce_seconds for the run")
    parser.add_argument("--rounds", type=int, default=7, help="alternating service/floor rounds per measurement")
    parser.add_argument("--single", type=int, default=300, help="single-task requests per target per round, sequential")
    parser.add_argument("--concurrent", type=int, default=600, help="single-task requests per target per round, concurrent")
    parser.add_argument("--clients", type=int, default=4, help="concurrent client threads")
    parser.add_argument("--batch", type=int, default=100, help="tasks per request in the batch measurement")
    parser.add_argument("--batch-requests", type=int, default=30, help="batch requests per target per round")
    parser.add_argument("--store-size", type=int, default=10_000, help="annotations in the store before timing webhooks")
    parser.add_argument("--fill", choices=("webhook", "store"), default="webhook",
                        help="how to reach --store-size: ANNOTATION_CREATED webhooks (default) or Store.save_annotations")
    parser.add_argument("--fill-clients", type=int, default=4, help="client threads sending the fill webhooks")
    parser.add_argument("--webhooks", type=int, default=500, help="timed ANNOTATION_CREATED webhooks")
    parser.add_argument("--webhook-with-training", action=argparse.BooleanOptionalAction, default=True,
                        help="also time webhooks with the spec's own retrain_every, trainings running meanwhile "
                             "(an extra row; the target row never has trainings)")
    parser.add_argument("--training-seconds", type=float, default=10,
                        help="how long to send webhooks in the trainings-running phase")
    parser.add_argument("--training-pace", type=float, default=0.01,
                        help="pause between webhooks in the trainings-running phase, seconds")
    parser.add_argument("--budget", type=float, default=900, help="abort after this many seconds")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, store)")
    args = parser.parse_args(argv)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    deadline = time.monotonic() + args.budget
    workdir = Path(tempfile.mkdtemp(prefix="mlgen-bench-serve-"))
    try:
        return run(args, workdir, deadline)
    except Exception:
        for proc in STARTED:
            print(f"--- last lines of the {proc.name} log ({proc.log_path}):\n{proc.tail()}", file=sys.stderr)
        raise
    finally:
        stop_all()
        if args.keep:
            print(f"(kept {workdir})")
        else:
            import shutil
            shutil.rmtree(workdir, ignore_errors=True)


def run(args: argparse.Namespace, workdir: Path, deadline: float) -> int:
    from mlgen import render_backend

    python = runtime_python()
    project = render_backend(SAMPLE / "backend.yaml", workdir / "project")
    spec_path = project / "spec.json"
    spec = json.loads(spec_path.read_text())
    spec_retrain_every = spec["training"]["retrain_every"]
    spec["training"]["debounce_seconds"] = args.debounce
    spec_path.write_text(json.dumps(spec, indent=2))
    threads = int(spec["server"].get("threads", 8))
    max_body = int(float(spec["server"].get("max_body_mb", 100)) * 1024 * 1024)
    state = workdir / "state"
    env = {"MODEL_DIR": str(state)}
    bodies = Payloads(spec)
    versions_info = subprocess.run(
        [str(python), "-c", "import sys; from importlib.metadata import version as v; "
         "print(sys.version.split()[0], *(v(p) for p in ('bottle', 'waitress', 'scikit-learn', 'numpy')))"],
        capture_output=True, text=True, timeout=60).stdout.split()
    lines: list[str] = []

    def out(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    def start_service(tag: str) -> Proc:
        port = free_port()
        return Proc(f"service ({tag})", [str(python), "-m", "backend", "serve", "--host", "127.0.0.1",
                                         "--port", str(port)],
                    cwd=project, env=env, log=workdir / f"service-{tag}.log", port=port)

    # 1. train ------------------------------------------------------------------------------
    service = start_service("train")
    time.sleep(1)
    rss_start = rss_kb(service.pid)
    session = requests.Session()
    started = time.perf_counter()
    post_all(session, service.url + "/webhook",
             [bodies.webhook(annotation_id=1 + i, item=i) for i in range(args.train_annotations)], deadline)
    sent = time.perf_counter() - started
    entry = wait_until(lambda: trained_and_idle(service.url), 300, "training to finish")
    trained_after = time.perf_counter() - started
    versions = requests.get(service.url + "/versions", timeout=10).json()["versions"]
    last_run = entry["last_run"] or {}
    time.sleep(2)
    rss_trained = rss_kb(service.pid)

    # 2. predict: service vs floor ------------------------------------------------------------
    floor_port = free_port()
    floor_script = workdir / "floor_app.py"
    floor_script.write_text(FLOOR_APP)
    floor = Proc("floor", [str(python), str(floor_script), str(threads), str(floor_port), str(max_body)],
                 cwd=workdir, env={}, log=workdir / "floor.log", port=floor_port)
    targets = {"service": service.url + "/predict", "floor": floor.url + "/predict"}

    def check_service_prediction(response: requests.Response) -> None:
        results = response.json()["results"]
        if not results or not results[0]["result"]:
            raise RuntimeError(f"the service answered an empty prediction: {results[:1]}")

    # Warm up both (the service loads its model at the first prediction) and check the answers.
    warm = {name: requests.Session() for name in targets}
    for name, url in targets.items():
        post_all(warm[name], url, [bodies.predict(i, 1) for i in range(20)] + [bodies.predict(0, args.batch)] * 3,
                 deadline, check_service_prediction if name == "service" else None)
    rss_loaded = rss_kb(service.pid)

    single_bodies = [bodies.predict(i, 1) for i in range(max(args.single, args.concurrent))]
    batch_bodies = [bodies.predict((i * args.batch) % len(bodies.items), args.batch) for i in range(args.batch_requests)]

    def alternating(measure: Callable[[str], tuple[float, list[float]]]) -> dict[str, Any]:
        """Run `measure` per target in alternating order; per-round throughputs, ratios, all latencies."""
        per_round = {name: [] for name in targets}
        latencies = {name: [] for name in targets}
        ratios = []
        for r in range(args.rounds):
            order = ["floor", "service"] if r % 2 == 0 else ["service", "floor"]
            tput = {}
            for name in order:
                n, lat = measure(name)
                tput[name] = n
                per_round[name].append(n)
                latencies[name].extend(lat)
            ratios.append(tput["service"] / tput["floor"])
        return {"tput": {k: statistics.median(v) for k, v in per_round.items()},
                "ratio": statistics.median(ratios), "ratios": ratios, "lat": latencies}

    seq_sessions = {name: requests.Session() for name in targets}

    def sequential(name: str) -> tuple[float, list[float]]:
        started = time.perf_counter()
        lat = post_all(seq_sessions[name], targets[name], single_bodies[: args.single], deadline)
        return args.single / (time.perf_counter() - started), lat

    conc_sessions = {name: [requests.Session() for _ in range(args.clients)] for name in targets}
    for name, group in conc_sessions.items():  # open their connections before timing
        for s in group:
            post_all(s, targets[name], single_bodies[:2], deadline)

    def concurrent(name: str) -> tuple[float, list[float]]:
        wall, lat = concurrent_block(conc_sessions[name], targets[name], single_bodies[: args.concurrent], deadline)
        return args.concurrent / wall, lat

    def batch(name: str) -> tuple[float, list[float]]:
        started = time.perf_counter()
        lat = post_all(seq_sessions[name], targets[name], batch_bodies, deadline)
        return len(batch_bodies) / (time.perf_counter() - started), lat

    seq = alternating(sequential)
    conc = alternating(concurrent)
    big = alternating(batch)
    time.sleep(2)
    rss_after = rss_kb(service.pid)
    floor_rss = rss_kb(floor.pid)
    floor.stop()
    service.stop()

    # 3. webhooks on a 10,000-annotation store ---------------------------------------------------
    spec["training"]["retrain_every"] = FAR_AWAY
    spec_path.write_text(json.dumps(spec, indent=2))
    service = start_service("webhooks")
    have = requests.get(service.url + "/metrics", timeout=10).json()["annotations"]
    missing = max(0, args.store_size - have)
    base_id = 1_000_000
    started = time.perf_counter()
    if args.fill == "webhook":
        fill_sessions = [requests.Session() for _ in range(args.fill_clients)]
        fill = [bodies.webhook(annotation_id=base_id + i, item=args.train_annotations + i) for i in range(missing)]
        concurrent_block(fill_sessions, service.url + "/webhook", fill, deadline)
        fill_how = f"{missing} ANNOTATION_CREATED webhooks from {args.fill_clients} client threads"
    else:
        source = workdir / "fill.json"
        source.write_text(json.dumps([bodies.record(base_id + i, args.train_annotations + i) for i in range(missing)]))
        script = workdir / "fill_store.py"
        script.write_text(FILL_STORE)
        done = subprocess.run([str(python), str(script), str(state / "backend.db"), str(PROJECT_ID), str(source)],
                              cwd=project, env={**os.environ, "PYTHONPATH": str(project)},
                              capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"filling the store failed:\n{done.stderr[-2000:]}")
        fill_how = f"{missing} rows through the runtime's Store.save_annotations (batches of 500, service running)"
    fill_seconds = time.perf_counter() - started
    metrics = requests.get(service.url + "/metrics", timeout=10).json()
    store_before = metrics["annotations"]
    if store_before < args.store_size:
        raise RuntimeError(f"the store holds {store_before} annotations, wanted {args.store_size}")
    if any(p["training_queued"] or p["training_running"] for p in metrics["projects"]):
        raise RuntimeError("a training was queued during the webhook phase")
    hook_session = requests.Session()
    post_all(hook_session, service.url + "/webhook", [bodies.webhook(2_000_000 + i, i) for i in range(5)], deadline)
    hook_bodies = [bodies.webhook(annotation_id=3_000_000 + i, item=i) for i in range(args.webhooks)]
    hook_lat = post_all(hook_session, service.url + "/webhook", hook_bodies, deadline)
    metrics = requests.get(service.url + "/metrics", timeout=10).json()
    trained_meanwhile = any(p["training_queued"] or p["training_running"] for p in metrics["projects"])
    store_after = metrics["annotations"]
    service.stop()

    hook_train_lat = None
    if args.webhook_with_training:
        # The spec's own policy, trainings on 10,000+ annotations taking seconds: webhooks are sent
        # for a while at a steady pace, and those answered while a training ran (per the store's
        # runs table) are reported apart.
        spec["training"]["retrain_every"] = spec_retrain_every
        spec_path.write_text(json.dumps(spec, indent=2))
        service = start_service("webhooks-training")
        session = requests.Session()
        store_training = requests.get(service.url + "/metrics", timeout=10).json()["annotations"]
        window_start = time.time()
        sent_at, latencies = [], []
        stop_at = time.monotonic() + args.training_seconds
        i = 0
        while time.monotonic() < stop_at and i < 20 * args.webhooks:
            sent_at.append(time.time())
            latencies += post_all(session, service.url + "/webhook", [bodies.webhook(4_000_000 + i, i)], deadline)
            i += 1
            time.sleep(args.training_pace)
        window_end = time.time()
        wait_until(lambda: trained_and_idle(service.url), 300, "the trainings to finish")
        service.stop()
        runs = training_runs(state / "backend.db", window_start, window_end)
        during = [lat for t, lat in zip(sent_at, latencies)
                  if any(start <= t <= end for start, end, _, _ in runs)]
        hook_train_lat = {"all": latencies, "during": during}

    # report ---------------------------------------------------------------------------------
    mb = lambda kb: kb / 1024  # noqa: E731
    out(f"mlgen serve benchmark, {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}, "
        f"{os.cpu_count()} CPUs, {platform.machine()}")
    if len(versions_info) >= 5:
        out(f"runtime: python {versions_info[0]}, bottle {versions_info[1]}, scikit-learn {versions_info[3]}, "
            f"numpy {versions_info[4]}, waitress {versions_info[2]} with threads={threads} (service and floor)")
    recipe = ", ".join(f"{f['field']}: {f['type']}" + (f" {f.get('vectorizer')} {f.get('analyzer')} "
                                                         f"{tuple(f.get('ngram_range', (1, 1)))}"
                                                         if f["type"] == "text" else "") for f in spec["features"])
    out(f"sample: topics ({recipe} -> {spec['model']['class'].rsplit('.', 1)[-1]}), project {PROJECT_ID}; "
        f"{args.rounds} alternating rounds per measurement, requests.Session keep-alive clients")
    out()
    out(f"training: {args.train_annotations} ANNOTATION_CREATED webhooks sent in {sent:.1f}s "
        f"(debounce {args.debounce}s, retrain_every {spec_retrain_every}); idle after {trained_after:.1f}s; "
        f"{len(versions) - 1} trainings; served model: {last_run.get('n_annotations')} annotations, "
        f"last training {last_run.get('duration_s')}s")
    out()
    header = f"{'measurement':<52}{'service':>10}{'floor':>10}{'svc/floor':>10}   target"
    out(header)
    out("-" * len(header))

    def row(label: str, service_value: str, floor_value: str, ratio: str, target: str) -> None:
        out(f"{label:<52}{service_value:>10}{floor_value:>10}{ratio:>10}   {target}")

    def verdict(ok: bool) -> str:
        return "PASS" if ok else "MISS"

    for title, result, n in (("1 task, sequential", seq, args.single),
                             (f"1 task, {args.clients} client threads", conc, args.concurrent)):
        ok = result["ratio"] >= 0.60
        row(f"{title}: req/s (median of rounds)", f"{result['tput']['service']:.0f}",
            f"{result['tput']['floor']:.0f}", f"{result['ratio']:.2f}", f">= 0.60 of floor: {verdict(ok)}")
        for q in (50, 95):
            s, f = percentile(result["lat"]["service"], q), percentile(result["lat"]["floor"], q)
            row(f"{title}: p{q} ms ({args.rounds}x{n} req)", ms(s), ms(f), f"{s / f:.2f}", "")
    for q in (50, 95):
        s, f = percentile(big["lat"]["service"], q), percentile(big["lat"]["floor"], q)
        target = f"p50 < 50 ms: {verdict(s < 0.050)}" if q == 50 else ""
        row(f"{args.batch} tasks: p{q} ms ({args.rounds}x{args.batch_requests} req)", ms(s), ms(f), f"{s / f:.2f}", target)
    for q in (50, 95):
        s = percentile(hook_lat, q)
        target = f"p50 < 20 ms: {verdict(s < 0.020)}" if q == 50 else ""
        row(f"webhook at {store_before} annotations: p{q} ms", ms(s), "", "", target)
    if hook_train_lat is not None and hook_train_lat["during"]:
        for q in (50, 95):
            row(f"webhook at {store_training}+, during a training: p{q} ms",
                ms(percentile(hook_train_lat["during"], q)), "", "", "(not a target row)")
    row("idle RSS after training, MB", f"{mb(rss_trained['VmRSS']):.1f}", "", "",
        f"< 150 MB: {verdict(mb(rss_trained['VmRSS']) < 150)}")
    row("idle RSS after the predict load, MB", f"{mb(rss_after['VmRSS']):.1f}", f"{mb(floor_rss['VmRSS']):.1f}", "",
        f"< 150 MB: {verdict(mb(rss_after['VmRSS']) < 150)}")
    row("peak RSS (VmHWM) over the run, MB", f"{mb(rss_after['VmHWM']):.1f}", f"{mb(floor_rss['VmHWM']):.1f}", "", "")
    out()
    out("per-round service/floor throughput ratios: sequential "
        + " ".join(f"{r:.2f}" for r in seq["ratios"]) + f"; {args.clients} threads "
        + " ".join(f"{r:.2f}" for r in conc["ratios"]))
    out(f"webhooks: store filled from {have} to {store_before} annotations by {fill_how} in {fill_seconds:.1f}s; "
        f"service restarted with training.retrain_every={FAR_AWAY} for this phase (no training queued before or "
        f"during the {args.webhooks} timed webhooks: {'violated' if trained_meanwhile else 'confirmed'}); "
        f"store ended at {store_after}")
    if hook_train_lat is not None:
        durations = ", ".join(f"{d:.2f}s on {n}" for _, _, d, n in runs) or "none"
        out(f"during a training: service restarted with the spec's retrain_every={spec_retrain_every}; "
            f"{len(hook_train_lat['all'])} webhooks sent over {args.training_seconds:.0f}s (one every "
            f"~{args.training_pace * 1000:.0f} ms), {len(hook_train_lat['during'])} of them while a training ran "
            f"(all {len(hook_train_lat['all'])}: p50 {ms(percentile(hook_train_lat['all'], 50))} ms, "
            f"p95 {ms(percentile(hook_train_lat['all'], 95))} ms); trainings in the window: {durations} annotations")
    out(f"service RSS: {mb(rss_start['VmRSS']):.1f} MB at start (untrained, no request yet), "
        f"{mb(rss_trained['VmRSS']):.1f} MB idle after training, {mb(rss_loaded['VmRSS']):.1f} MB after the first "
        f"predictions (model loaded), {mb(rss_after['VmRSS']):.1f} MB idle after the predict load")
    out("client, service and floor share the machine's CPUs; the floor shows what Bottle+Waitress+requests cost here.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
