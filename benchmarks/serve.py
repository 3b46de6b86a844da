"""Serving benchmark: every sample's trained backend, driven by wrk, against a Bottle+Waitress floor.

What a user gets from /predict, measured from outside the service's process. In one run:

* the HTTP floor: a bare Bottle app on Waitress (the service's thread count, otherwise Waitress's
  defaults) whose /predict json.loads the same body and answers a fixed one-prediction JSON,
  /setup the same with a fixed model_version, /health {"status": "UP"}; and the same app on
  Waitress as the service runs it ("floor, tuned": its send_bytes, and its loop thread serving
  the short requests, backend/dispatch.py), so that the ratio to it isolates our code;
* every sample (samples/*/backend.yaml) rendered with mlgen, started as its Docker image starts
  it (`python -m backend serve` under PYTHONOPTIMIZE=2, that is -OO, with the runtime venv and
  its bytecode of that level; --optimize 0 for a plain `python`; the floors get the same),
  trained through real ANNOTATION_CREATED webhooks on the sample's annotated tasks (as
  tests/e2e/test_samples.py sends them), waited for until /setup reports a trained version and
  no training is queued or running, and checked to answer non-empty results for the bodies
  before timing (multitopic: most of them, an empty set of choices being a valid answer there;
  its timed 1-task bodies are tasks it answers);
* the reference recipe served the same way: a copy of samples/topics whose spec has TF-IDF word
  1-3 grams and LogisticRegression(C=10, max_iter=1000), so that topics' ratio to it isolates
  the recipe and the reference's ratio to the floor isolates our code.

Rows, each a wrk run (benchmarks/serve.lua: 2 threads, 4 connections, --latency) of 5 s, twice:

* 1 task per /predict, 32 distinct 1-task bodies (the sample's unannotated tasks) in rotation, so
  that a result cache would not flatter the figures;
* 100 distinct tasks per /predict, 3 such bodies in rotation;
* what Label Studio sends per task it opens: GET /health, POST /setup, POST /predict (1 task,
  rotated), cycled.

Bodies are Label Studio's own (tests/fixtures/ls-payloads/predict.json and setup.json) with the
sample's tasks, "project" set to the trained project ("5.1700000000") and its labeling config.
EVERY timed response is checked in wrk's Lua (status 200; the trained model_version; the number
of results; results non-empty); a non-200, socket error or wrong answer aborts the run, and
empty results print a warning and no ratio. Per kind of row, both floors are measured before
and after the services, and the ratios are to the median of each one's runs (the targets, to
the floor's). Idle RSS (VmRSS) of every
trained service after the warm-up, and its peak (VmHWM) at the end.

--processes N adds, for every sample, "NAME xN": the same trained state (a copy) served by N
processes (server.processes), against the same one-process floor. --repeated adds "NAME cached":
the same with the prediction cache on, so that after the warm-up every rotated body is a repeat
(Label Studio asks for a task again: Retrieve Predictions, then the labeling stream); the targets
are about distinct tasks, the plain rows.

--webhooks adds a row for /webhook (one connection) once the topics store holds 10,000
annotations, trainings switched off for that phase (retrain_every set very high).

Only 127.0.0.1 is used; every process started here is stopped at the end, on error too.

    apt-get install -y wrk   # once
    /work/main/.venv/bin/python benchmarks/serve.py [--duration 5] [--rounds 2] [--processes 2] [--repeated]
        [--webhooks] [--keep]
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
import yaml

REPO = Path(__file__).resolve().parent.parent
SAMPLES_DIR = REPO / "samples"
SAMPLES = ["topics", "penguins", "multitopic", "diabetes"]
REFERENCE = "topics-reference"
LUA = Path(__file__).resolve().parent / "serve.lua"
PAYLOADS = REPO / "tests" / "fixtures" / "ls-payloads"
PROJECT_ID = 5
LS_PROJECT = f"{PROJECT_ID}.1700000000"  # the form Label Studio sends to /predict and /setup
FAR_AWAY = 10**9  # retrain_every for the webhook phase: no training is ever due
SEQ_TOKEN = "987654321987"  # in webhook bodies: replaced by a fresh id per request (serve.lua)
SINGLE_BODIES = 32
BATCH = 100
BATCH_BODIES = 3
TUNED = "floor, tuned"  # the floor's app on Waitress as the service runs it
MULTI_NONEMPTY = 0.75  # multiple-choice samples: share of non-empty answers required before timing

FLOOR_APP = r'''
"""The HTTP floor: Bottle on Waitress, parsing the body and answering a fixed small JSON. With a
project's folder, Waitress as that service runs it: its send_bytes, and its loop thread serving
the short requests (backend/dispatch.py), those of the service's quick kinds."""
import json
import signal
import sys
import warnings

import bottle
from waitress.server import create_server

threads, port, max_body, send_bytes = (int(arg) for arg in sys.argv[1:5])
project = sys.argv[5] if len(sys.argv) > 5 else None
app = bottle.Bottle(catchall=True)
bottle.BaseRequest.MEMFILE_MAX = max_body  # as the service sets it
PREDICTION = {"results": [{"result": [{"from_name": "topic", "to_name": "text", "type": "choices",
                                       "value": {"choices": ["AI"]}}],
                           "score": 0.5, "model_version": "floor"}]}


@app.route("/health", "GET")
def health():
    return {"status": "UP"}


@app.route("/setup", "POST")
def setup():
    json.loads(bottle.request.body.read())
    return {"model_version": "floor"}


@app.route("/predict", "POST")
def predict():
    json.loads(bottle.request.body.read())
    return PREDICTION


def stop(signum, frame):
    raise SystemExit(0)


tuning, dispatcher = {}, None
if project is not None:
    sys.path.insert(0, project)
    from types import SimpleNamespace

    from backend.dispatch import LoopDispatcher, QuickRequests, serve_in_loop

    # the service's rule, for models on the fast path and tasks without images
    on_the_fast_path = SimpleNamespace(images=None, registry=SimpleNamespace(all_compiled=lambda: True))
    dispatcher = LoopDispatcher(QuickRequests(on_the_fast_path), threads)
    tuning = {"send_bytes": send_bytes, "_dispatcher": dispatcher}
with warnings.catch_warnings():  # as the service passes send_bytes
    warnings.simplefilter("ignore", DeprecationWarning)
    server = create_server(app, host="127.0.0.1", port=port, threads=threads,
                           max_request_body_size=max_body + 1024 * 1024, ident="floor", **tuning)
if dispatcher is not None:
    serve_in_loop(server, dispatcher)
signal.signal(signal.SIGTERM, stop)
try:
    server.run()
except (KeyboardInterrupt, SystemExit):
    pass
finally:
    server.close()
'''


# processes ------------------------------------------------------------------------------------

STARTED: list[Proc] = []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proc:
    """A server process started here, on a free 127.0.0.1 port, stopped by its own pid; under
    PYTHONOPTIMIZE=`optimize` (--optimize: 2 by default, as the Docker image runs the service)."""

    optimize = 2

    def __init__(self, name: str, args: list[str], cwd: Path, env: dict[str, str], log: Path,
                 port: int, start_timeout: float = 60) -> None:
        self.name, self.port, self.url, self.log_path = name, port, f"http://127.0.0.1:{port}", log
        self.log = log.open("w")
        environment = {key: value for key, value in os.environ.items() if key != "PYTHONOPTIMIZE"}
        if self.optimize:
            environment["PYTHONOPTIMIZE"] = str(self.optimize)
        self.process = subprocess.Popen(args, cwd=cwd, stdout=self.log, stderr=subprocess.STDOUT,
                                        env={**environment, **env})
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


def mlgen_command() -> list[str]:
    beside = Path(sys.executable).parent / "mlgen"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("mlgen")
    if found:
        return [found]
    return [sys.executable, "-m", "mlgen"]


def rss_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process and its children (the web processes of server.processes)."""
    fields = {"VmRSS": 0, "VmHWM": 0}
    for member in [pid, *children_of(pid)]:
        for line in Path(f"/proc/{member}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in fields:
                fields[key] += int(value.split()[0])
    return fields


def children_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    return found


def wait_until(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


# payloads --------------------------------------------------------------------------------------

def payload(name: str) -> dict[str, Any]:
    return json.loads((PAYLOADS / f"{name}.json").read_text())["body"]


def dumps(body: Any) -> str:
    return json.dumps(body)  # ASCII only (ensure_ascii): its length in Lua is its length in bytes


class Target:
    """A served thing to time: the floor, or a rendered sample's service."""

    def __init__(self, name: str, proc: Proc, spec: dict[str, Any] | None = None,
                 tasks: list[dict[str, Any]] | None = None) -> None:
        self.name, self.proc, self.spec = name, proc, spec
        self.tasks = tasks or []  # the sample's tasks, ids 1.., annotations kept
        self.version: str | None = None  # the trained model_version every answer must name
        self.untrained: str | None = None
        self.single: list[str] = []
        self.batch: list[str] = []
        self.sequence: list[dict[str, Any]] = []
        self.single_nonempty = self.batch_nonempty = 1
        self.warnings: list[str] = []
        self.nonempty_share = 1.0
        self.training: dict[str, Any] = {}
        self.rss: dict[str, int] = {}
        self.peak: dict[str, int] = {}

    @property
    def url(self) -> str:
        return self.proc.url

    # bodies ---------------------------------------------------------------------------------
    def task_body(self, task: dict[str, Any], template: dict[str, Any]) -> dict[str, Any]:
        return {**copy.deepcopy(template), "id": task["id"], "inner_id": task["id"], "data": task["data"],
                "project": PROJECT_ID}

    def predict_body(self, tasks: list[dict[str, Any]]) -> str:
        base = payload("predict")
        template = base["tasks"][0]
        return dumps({**base, "tasks": [self.task_body(t, template) for t in tasks], "project": LS_PROJECT,
                      "label_config": self.spec["labeling_config"]})

    def setup_body(self) -> str:
        # hostname: a closed port instead of the capture's localhost:8080, where a real Label
        # Studio may run; a trained project has its annotations, so the service contacts neither
        return dumps({**payload("setup"), "project": LS_PROJECT, "schema": self.spec["labeling_config"],
                      "hostname": "http://127.0.0.1:9"})

    def webhook_event(self, task: dict[str, Any], annotation_id: Any, task_id: Any) -> dict[str, Any]:
        event = payload("webhook-ANNOTATION_CREATED")
        event["annotation"].update(id=annotation_id, task=task_id, project=PROJECT_ID,
                                   result=task["annotations"][0]["result"])
        event["task"] = {**event["task"], "id": task_id, "data": task["data"], "project": PROJECT_ID}
        event["project"] = {**event["project"], "id": PROJECT_ID, "label_config": self.spec["labeling_config"]}
        return event

    @property
    def unannotated_first(self) -> list[dict[str, Any]]:
        return [t for t in self.tasks if not t.get("annotations")] + [t for t in self.tasks if t.get("annotations")]

    @property
    def multiple(self) -> bool:
        import re

        name = re.escape(self.spec["target"])
        target = re.search(rf'<Choices\b[^>]*\bname="{name}"[^>]*>', self.spec["labeling_config"])
        return bool(target and re.search(r'\bchoice="multiple"', target.group(0)))

    # service calls -------------------------------------------------------------------------
    def post(self, path: str, body: str, timeout: float = 60) -> Any:
        response = requests.post(self.url + path, data=body, headers={"Content-Type": "application/json"},
                                 timeout=timeout)
        if response.status_code not in (200, 201):
            raise RuntimeError(f"{self.name}: POST {path}: {response.status_code} {response.text[:300]}")
        return response.json()

    def served_version(self) -> str:
        return self.post("/setup", self.setup_body())["model_version"]

    def idle(self) -> bool:
        projects = requests.get(self.url + "/metrics", timeout=10).json()["projects"]
        return bool(projects) and not any(p["training_queued"] or p["training_running"] for p in projects)

    def metrics_entry(self) -> dict[str, Any]:
        projects = requests.get(self.url + "/metrics", timeout=10).json()["projects"]
        return next((p for p in projects if p["project"] == str(PROJECT_ID)), {})


def sample_tasks(folder: Path) -> list[dict[str, Any]]:
    tasks = json.loads((folder / "tasks.json").read_text())
    for i, task in enumerate(tasks, start=1):
        task.update(id=i, project=PROJECT_ID)
    return tasks


def reference_spec(workdir: Path) -> Path:
    """A copy of samples/topics whose spec uses the reference recipe."""
    folder = workdir / "specs" / REFERENCE
    shutil.copytree(SAMPLES_DIR / "topics", folder)
    spec = yaml.safe_load((folder / "backend.yaml").read_text())
    spec["name"] = REFERENCE
    spec["description"] = "samples/topics with the reference recipe: TF-IDF word 1-3 grams, LogisticRegression(C=10)."
    spec["features"] = [{"field": "text", "type": "text", "ngram_range": [1, 3]}]
    spec["model"] = {"class": "LogisticRegression", "params": {"C": 10, "max_iter": 1000}}
    (folder / "backend.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return folder


def recipe(spec: dict[str, Any]) -> str:
    parts = []
    for f in spec["features"]:
        if f["type"] == "text":
            ngrams = tuple(f.get("ngram_range", (1, 1)))
            parts.append(f"{f.get('vectorizer', 'tfidf')} {f.get('analyzer', 'word')} {ngrams}")
        else:
            parts.append(f["type"])
    kinds = {p: parts.count(p) for p in parts}
    features = ", ".join(f"{n} {p}" if n > 1 else p for p, n in kinds.items())
    params = ", ".join(f"{k}={v}" for k, v in (spec["model"].get("params") or {}).items())
    return f"{features} -> {spec['model']['class'].rsplit('.', 1)[-1]}({params})"


# wrk --------------------------------------------------------------------------------------------

def lua_string(text: str) -> str:
    level = 0
    while f"]{'=' * level}]" in text:
        level += 1
    eq = "=" * level
    return f"[{eq}[{text}]{eq}]"


class Runner:
    def __init__(self, workdir: Path, args: argparse.Namespace) -> None:
        self.workdir, self.args, self.count = workdir, args, 0
        self.wrk = shutil.which("wrk")
        if self.wrk is None:
            raise SystemExit("wrk is not installed: apt-get install -y wrk")

    def row_file(self, requests_: list[dict[str, Any]], version: str | None, tasks: int, min_nonempty: int,
                 seq: bool = False) -> Path:
        self.count += 1
        lines = ["return {", "  requests = {"]
        for r in requests_:
            body = f", body = {lua_string(r['body'])}" if r.get("body") is not None else ""
            lines.append(f"    {{ method = {lua_string(r['method'])}, path = {lua_string(r['path'])}{body} }},")
        lines.append("  },")
        lines.append(f"  version = {lua_string(json.dumps(version)) if version else 'nil'},")
        lines.append(f"  tasks = {tasks}, min_nonempty = {min_nonempty},")
        if seq:
            lines.append(f"  seq_token = {lua_string(SEQ_TOKEN)}, seq_base = {self.count * 10**8},")
        lines.append("}")
        path = self.workdir / "rows" / f"row{self.count:03d}.lua"
        path.parent.mkdir(exist_ok=True)
        path.write_text("\n".join(lines) + "\n")
        return path

    def run(self, what: str, url: str, row: Path, duration: int, connections: int | None = None,
            threads: int | None = None, sequence: bool = False) -> dict[str, Any]:
        connections = connections or self.args.connections
        threads = threads or min(self.args.threads, connections)
        command = [self.wrk, f"-t{threads}", f"-c{connections}", f"-d{max(1, int(duration))}s", "--latency",
                   "--timeout", "30s", "-s", str(LUA), url, "--", str(row)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=duration + 120)
        line = next((x for x in done.stdout.splitlines() if x.startswith("MLGEN_WRK ")), None)
        if done.returncode != 0 or line is None:
            raise RuntimeError(f"wrk failed for {what} (exit {done.returncode}):\n"
                               f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
        result = json.loads(line.split(" ", 1)[1])
        result["wrk_output"] = done.stdout
        socket_errors = sum(result[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts"))
        problems = []
        if result["requests"] == 0:
            problems.append("no request completed")
        if socket_errors:
            problems.append(f"socket errors: connect {result['connect_errors']}, read {result['read_errors']}, "
                            f"write {result['write_errors']}, timeouts {result['timeouts']}")
        if result["status_errors"]:
            problems.append(f"{result['status_errors']} non-2xx answers")
        if result["bad"]:
            problems.append(f"{result['bad']} bad answers, first: {result['first_bad']}")
        if result["checked_ok"] + result["bad"] != result["requests"]:
            problems.append(f"{result['checked_ok'] + result['bad']} responses checked of {result['requests']}")
        if sequence:
            kinds = [result["health"], result["setup"], result["predict"]]
            if max(kinds) - min(kinds) > connections + threads:
                problems.append(f"/health, /setup, /predict answers unbalanced: {kinds}")
        if problems:
            raise RuntimeError(f"{what}: " + "; ".join(problems) + f"\nwrk said:\n{done.stdout[-1500:]}")
        result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
        return result


# the benchmark ---------------------------------------------------------------------------------

KINDS = {
    "single": f"1 task per /predict ({SINGLE_BODIES} distinct bodies rotated)",
    "batch": f"{BATCH} tasks per /predict ({BATCH_BODIES} distinct bodies rotated)",
    "sequence": "Label Studio opening a task: GET /health, POST /setup, POST /predict (1 task), cycled",
}


def out_of_time(signum: int, frame: Any) -> None:
    raise TimeoutError("time budget exhausted (--budget)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk row (whole seconds: wrk's -d)")
    parser.add_argument("--warmup", type=int, default=1, help="seconds of checked but untimed wrk load per target")
    parser.add_argument("--rounds", type=int, default=2,
                        help="repeat the rows (services in reverse order every other round); medians are reported")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--samples", default=",".join(SAMPLES + [REFERENCE]),
                        help="comma-separated: samples/ names and/or " + REFERENCE)
    parser.add_argument("--processes", type=int, default=0,
                        help="also time each sample served by this many processes (server.processes), on a copy "
                             "of its trained state")
    parser.add_argument("--repeated", action="store_true",
                        help="also time each trained sample with its prediction cache on ('NAME cached'): "
                             "repeated tasks, as Label Studio asks for them again")
    parser.add_argument("--webhooks", action="store_true",
                        help="also time /webhook once the topics store holds --store-size annotations")
    parser.add_argument("--store-size", type=int, default=10_000)
    parser.add_argument("--optimize", type=int, choices=(0, 1, 2), default=2,
                        help="PYTHONOPTIMIZE of the services and floors: 2 (python -OO) as the Docker image runs them")
    parser.add_argument("--budget", type=float, default=900, help="abort after this many seconds")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, stores, rows)")
    args = parser.parse_args(argv)
    Proc.optimize = args.optimize

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGALRM, out_of_time)
    signal.alarm(int(args.budget))
    workdir = Path(tempfile.mkdtemp(prefix="mlgen-bench-serve-"))
    try:
        return run(args, workdir)
    except Exception:
        for proc in STARTED:
            print(f"--- last lines of the {proc.name} log ({proc.log_path}):\n{proc.tail(15)}", file=sys.stderr)
        raise
    finally:
        signal.alarm(0)
        stop_all()
        if args.keep:
            print(f"(kept {workdir})")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def send_bytes(project: Path) -> int:
    """The service's Waitress send_bytes (SEND_BYTES in backend/server.py), which the floor gets
    too: it decides how many writes an answer takes."""
    found = re.search(r"^SEND_BYTES = ([0-9_]+)\b", (project / "backend" / "server.py").read_text(), re.M)
    if found is None:
        raise RuntimeError(f"no SEND_BYTES = <number> in {project}/backend/server.py")
    return int(found.group(1))


def start_service(name: str, spec_file: Path, python: Path, workdir: Path) -> tuple[Target, Path]:
    project = workdir / "projects" / name
    done = subprocess.run([*mlgen_command(), "render", str(spec_file), "-o", str(project)],
                          capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"mlgen render {spec_file} failed:\n{done.stdout}\n{done.stderr}")
    spec = json.loads((project / "spec.json").read_text())
    port = free_port()
    proc = Proc(name, [str(python), "-m", "backend", "serve", "--host", "127.0.0.1", "--port", str(port)],
                cwd=project, env={"MODEL_DIR": str(workdir / "state" / name), "PREDICTION_CACHE_SIZE": "0"}, log=workdir / f"{name}.log", port=port)
    return Target(name, proc, spec, sample_tasks(spec_file.parent)), project


def variant(trained: Target, project: Path, name: str, env: dict[str, str], python: Path, workdir: Path) -> Target:
    """The trained sample served again with `env` (SERVER_PROCESSES, the prediction cache), on a
    copy of its state: the same model, no training."""
    state = workdir / "state" / name.replace(" ", "-")
    shutil.copytree(workdir / "state" / trained.name, state,
                    ignore=shutil.ignore_patterns("images"))  # idle: its files are consistent
    port = free_port()
    proc = Proc(name, [str(python), "-m", "backend", "serve", "--host", "127.0.0.1", "--port", str(port)],
                cwd=project, env={"MODEL_DIR": str(state), "PREDICTION_CACHE_SIZE": "0", **env},
                log=workdir / f"{name}.log", port=port)
    target = Target(name, proc, trained.spec, trained.tasks)
    target.untrained, target.version, target.training = trained.untrained, trained.version, trained.training
    return target


def train(target: Target) -> None:
    """The sample's annotations, as Label Studio's automatic webhook sends them: a burst."""
    target.untrained = target.served_version()
    session = requests.Session()
    for task in (t for t in target.tasks if t.get("annotations")):
        body = dumps(target.webhook_event(task, task["id"], task["id"]))
        response = session.post(target.url + "/webhook", data=body, headers={"Content-Type": "application/json"},
                                timeout=30)
        if response.status_code != 200 or response.json().get("status") != "ok":
            raise RuntimeError(f"{target.name}: webhook answered {response.status_code} {response.text[:300]}")


def settle(target: Target) -> None:
    """Until /setup reports a trained version and no training is queued or running."""
    wait_until(lambda: target.served_version() != target.untrained, 300, f"{target.name} to train")
    wait_until(target.idle, 300, f"{target.name} to finish training")
    target.version = target.served_version()
    versions = requests.get(target.url + "/versions", timeout=10).json()["versions"]
    if target.version == target.untrained or target.version not in versions:
        raise RuntimeError(f"{target.name}: served version {target.version!r} is not a trained one of {versions}")
    entry = target.metrics_entry()
    run = entry.get("last_run") or {}
    target.training = {"trainings": len(versions) - 1, "annotations": entry.get("annotations"),
                       "served_on": run.get("n_annotations"), "duration_s": run.get("duration_s")}


def nonempty(results: list[dict[str, Any]]) -> int:
    return sum(bool(r.get("result")) for r in results)


def prepare(target: Target) -> None:
    """Check the trained service's answers to the bodies, then fix the timed bodies and checks."""
    ordered = target.unannotated_first
    candidates = ordered[: SINGLE_BODIES * 2]
    answered = []
    for task in candidates:
        results = target.post("/predict", target.predict_body([task]))["results"]
        if len(results) != 1 or results[0].get("model_version") != target.version:
            raise RuntimeError(f"{target.name}: /predict answered {results!r:.300}")
        answered.append((task, bool(results[0].get("result"))))
    windows = [[ordered[(k * BATCH + j) % len(ordered)] for j in range(BATCH)] for k in range(BATCH_BODIES)]
    target.batch = [target.predict_body(w) for w in windows]
    batch_counts = []
    for body in target.batch:
        results = target.post("/predict", body)["results"]
        if len(results) != BATCH or any(r.get("model_version") != target.version for r in results):
            raise RuntimeError(f"{target.name}: 100-task /predict answered {len(results)} results or another version")
        batch_counts.append(nonempty(results))
    share = (sum(ok for _, ok in answered) + sum(batch_counts)) / (len(answered) + BATCH * BATCH_BODIES)
    need = MULTI_NONEMPTY if target.multiple else 1.0
    good = [task for task, ok in answered if ok]
    if share < need or len(good) < SINGLE_BODIES // 2:
        target.warnings.append(f"answers {share:.0%} of the checked tasks with a non-empty result "
                               f"(needs {need:.0%}): no ratio")
        good = [task for task, _ in answered]
        target.single_nonempty = target.batch_nonempty = 0
    else:
        target.batch_nonempty = min(batch_counts)
    target.nonempty_share = share
    target.single = [target.predict_body([t]) for t in good[:SINGLE_BODIES]]
    setup = target.setup_body()
    target.sequence = []
    for body in target.single:
        target.sequence += [{"method": "GET", "path": "/health"}, {"method": "POST", "path": "/setup", "body": setup},
                            {"method": "POST", "path": "/predict", "body": body}]


def row_requests(target: Target, kind: str) -> tuple[list[dict[str, Any]], int, int]:
    """(requests, results per /predict answer, non-empty results required)."""
    floor = target.spec is None
    if kind == "batch":
        reqs = [{"method": "POST", "path": "/predict", "body": b} for b in target.batch]
        return reqs, 1 if floor else BATCH, 1 if floor else target.batch_nonempty
    if kind == "single":
        reqs = [{"method": "POST", "path": "/predict", "body": b} for b in target.single]
        return reqs, 1, 1 if floor else target.single_nonempty
    return target.sequence, 1, 1 if floor else target.single_nonempty


def run(args: argparse.Namespace, workdir: Path) -> int:
    started_run = time.monotonic()
    load_before = os.getloadavg()
    args.started_at = dt.datetime.now().astimezone()
    python = runtime_python()
    runner = Runner(workdir, args)
    names = [n.strip() for n in args.samples.split(",") if n.strip()]
    specs = {n: (reference_spec(workdir) if n == REFERENCE else SAMPLES_DIR / n) / "backend.yaml" for n in names}

    # 1. render, start and train every sample (in parallel: trainings overlap) ----------------
    services: list[Target] = []
    projects: dict[str, Path] = {}
    for name in names:
        target, projects[name] = start_service(name, specs[name], python, workdir)
        services.append(target)
    t0 = time.perf_counter()
    for target in services:
        train(target)
    for target in services:
        settle(target)
    trained_in = time.perf_counter() - t0
    trained = list(services)
    if args.processes > 1:
        services += [variant(t, projects[t.name], f"{t.name} x{args.processes}",
                             {"SERVER_PROCESSES": str(args.processes)}, python, workdir) for t in trained]
    if args.repeated:  # the prediction cache on: after the warm-up every rotated body is a repeat
        services += [variant(t, projects[t.name], f"{t.name} cached", {"PREDICTION_CACHE_SIZE": "20000"},
                             python, workdir) for t in trained]

    threads = {int(t.spec["server"]["threads"]) for t in services}
    max_body = max(int(float(t.spec["server"]["max_body_mb"]) * 1024 * 1024) for t in services)
    if len(threads) != 1:
        raise RuntimeError(f"the samples use different server.threads {threads}: one floor cannot match them")
    thread_count = threads.pop()
    floor_port = free_port()
    floor_script = workdir / "floor_app.py"
    floor_script.write_text(FLOOR_APP)
    a_project = next(iter(projects.values()))
    floor_args = [str(python), str(floor_script), str(thread_count), str(floor_port), str(max_body), "1"]
    floor = Target("floor", Proc("floor", floor_args, cwd=workdir, env={}, log=workdir / "floor.log", port=floor_port))
    tuned_port = free_port()
    tuned_args = [str(python), str(floor_script), str(thread_count), str(tuned_port), str(max_body),
                  str(send_bytes(a_project)), str(a_project)]
    tuned = Target(TUNED, Proc(TUNED, tuned_args, cwd=workdir, env={}, log=workdir / "floor-tuned.log",
                               port=tuned_port))
    floors = [floor, tuned]

    # 2. check the answers, warm up -------------------------------------------------------------
    for target in services:
        prepare(target)
    base = services[0]  # the floors parse the first sample's bodies
    for f in floors:
        f.single, f.batch, f.sequence = base.single, base.batch, base.sequence
        f.version = "floor"
    targets = floors + services
    for target in targets:
        reqs, tasks, need = row_requests(target, "single")
        runner.run(f"warm-up of {target.name}", target.url, runner.row_file(reqs, target.version, tasks, need),
                   args.warmup)
    time.sleep(1)
    for target in targets:
        target.rss = rss_kb(target.proc.pid)

    # 3. timed rows: per kind, the floors, every service, the floors again ----------------------
    results: dict[str, dict[str, list[dict[str, Any]]]] = {k: {} for k in KINDS}
    for round_ in range(args.rounds):
        order = services if round_ % 2 == 0 else services[::-1]  # drift hits both ends alike
        for kind in KINDS:
            for position, target in enumerate(floors + order + floors[::-1]):
                key = target.name if target not in floors else \
                    f"{target.name} ({'before' if position < len(floors) else 'after'})"
                reqs, tasks, need = row_requests(target, kind)
                row = runner.row_file(reqs, target.version, tasks, need)
                result = runner.run(f"{KINDS[kind]} on {key}", target.url, row, args.duration,
                                    sequence=kind == "sequence")
                results[kind].setdefault(key, []).append(result)
                if result["empty"] and target not in floors:
                    target.warnings.append(f"{result['empty']} of {result['predict']} timed /predict answers of "
                                           f"'{kind}' had fewer non-empty results than required: no ratio")
    for target in targets:
        target.peak = rss_kb(target.proc.pid)

    # 4. optional: webhooks on a 10,000-annotation store -------------------------------------------
    hook = None
    if args.webhooks:
        hook = webhook_phase(args, runner, python, next(t for t in services if t.name == "topics"),
                             projects["topics"], workdir)
    versions_info = subprocess.run(
        [str(python), "-c", "import sys; from importlib.metadata import version as v; "
         "print(sys.version.split()[0], *(v(p) for p in ('bottle', 'waitress', 'scikit-learn', 'numpy')))"],
        capture_output=True, text=True, timeout=60).stdout.split()
    wrk_version = subprocess.run([runner.wrk, "--version"], capture_output=True, text=True).stdout.split("[")[0].strip()
    report(args, targets, results, versions_info, wrk_version, thread_count, trained_in, hook,
           time.monotonic() - started_run, (load_before, os.getloadavg()))
    return 0


def webhook_phase(args: argparse.Namespace, runner: Runner, python: Path, topics: Target, project: Path,
                  workdir: Path) -> dict[str, Any]:
    topics.proc.stop()
    spec_path = project / "spec.json"
    spec = json.loads(spec_path.read_text())
    spec["training"]["retrain_every"] = FAR_AWAY
    spec_path.write_text(json.dumps(spec, indent=2))
    port = free_port()
    proc = Proc("topics (webhooks)",
                [str(python), "-m", "backend", "serve", "--host", "127.0.0.1", "--port", str(port)], cwd=project,
                env={"MODEL_DIR": str(workdir / "state" / "topics")}, log=workdir / "topics-webhooks.log", port=port)
    annotated = [t for t in topics.tasks if t.get("annotations")]
    bodies = [{"method": "POST", "path": "/webhook",
               "body": dumps(topics.webhook_event(t, int(SEQ_TOKEN), int(SEQ_TOKEN)))} for t in annotated]

    def count() -> int:
        return requests.get(proc.url + "/metrics", timeout=30).json()["annotations"]

    def training() -> bool:
        projects = requests.get(proc.url + "/metrics", timeout=30).json()["projects"]
        return any(p["training_queued"] or p["training_running"] for p in projects)

    started = time.perf_counter()
    before = count()
    while count() < args.store_size:
        runner.run("filling the store by webhooks", proc.url, runner.row_file(bodies, None, 0, 0, seq=True), 5)
    filled = count()
    fill_s = time.perf_counter() - started
    if training():
        raise RuntimeError("a training was queued while filling the store")
    result = runner.run("/webhook timing", proc.url, runner.row_file(bodies, None, 0, 0, seq=True), args.duration,
                        connections=1, threads=1)
    if training():
        raise RuntimeError("a training was queued during the timed webhooks")
    after = count()
    proc.stop()
    return {"result": result, "before": before, "filled": filled, "after": after, "fill_s": fill_s}


def report(args: argparse.Namespace, targets: list[Target], results: dict[str, dict[str, list[dict[str, Any]]]],
           versions_info: list[str], wrk_version: str, threads: int, trained_in: float,
           hook: dict[str, Any] | None, elapsed: float,
           loads: tuple[tuple[float, ...], tuple[float, ...]]) -> None:
    services = [t for t in targets if t.spec is not None]
    med = statistics.median
    print(f"mlgen serve benchmark, started {args.started_at:%Y-%m-%d %H:%M %Z}, "
          f"{os.cpu_count()} CPUs, {platform.machine()}")
    if len(versions_info) >= 5:
        optimized = f" -{'O' * args.optimize} (PYTHONOPTIMIZE={args.optimize})" if args.optimize else ""
        print(f"runtime: python {versions_info[0]}{optimized}, bottle {versions_info[1]}, waitress {versions_info[2]} "
              f"(threads={threads}, services and floors), scikit-learn {versions_info[3]}, numpy {versions_info[4]}")
    print(f"load: {wrk_version}, -t{args.threads} -c{args.connections} -d{args.duration}s --latency, "
          f"benchmarks/serve.lua checking every response; {args.rounds} round(s); client, services and floor "
          f"share the CPUs")
    print()
    print("served models (trained by the sample's annotated tasks as ANNOTATION_CREATED webhooks, "
          f"all in parallel, settled in {trained_in:.1f}s):")
    for t in services:
        tr = t.training
        print(f"  {t.name:<24} {recipe(t.spec)}; {tr['trainings']} training(s), serving {t.version} "
              f"(trained on {tr['served_on']} annotations in {tr['duration_s']}s); "
              f"non-empty answers before timing: {t.nonempty_share:.0%}")
    figures: dict[tuple[str, str], dict[str, float]] = {}
    for kind, title in KINDS.items():
        print()
        print(f"{title}")
        header = (f"  {'target':<24}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'checked':>9}"
                  f"{'req/s / floor':>15}{'p50 / floor':>13}{'req/s / tuned':>15}")
        print(header)
        print("  " + "-" * (len(header) - 2))
        rows = results[kind]
        floor_runs = rows["floor (before)"] + rows["floor (after)"]
        floor_rps, floor_p50 = med([r["rps"] for r in floor_runs]), med([r["p50_us"] for r in floor_runs])
        tuned_rps = med([r["rps"] for r in rows[f"{TUNED} (before)"] + rows[f"{TUNED} (after)"]])
        keys = ["floor (before)", f"{TUNED} (before)", *(t.name for t in services), f"{TUNED} (after)", "floor (after)"]
        for key in keys:
            rs = rows[key]
            rps, p50, p99 = med([r["rps"] for r in rs]), med([r["p50_us"] for r in rs]), med([r["p99_us"] for r in rs])
            checked = sum(r["checked_ok"] for r in rs)
            target = next((t for t in services if t.name == key), None)
            ratio = p50_ratio = tuned_ratio = ""
            if target is not None:
                if target.warnings:
                    ratio, p50_ratio, tuned_ratio = "WARNING", "-", "-"
                else:
                    ratio, p50_ratio, tuned_ratio = f"{rps / floor_rps:.2f}", f"{p50 / floor_p50:.2f}", f"{rps / tuned_rps:.2f}"
                figures[(key, kind)] = {"ratio": rps / floor_rps, "tuned": rps / tuned_rps}
            print(f"  {key:<24}{rps:>9.0f}{p50 / 1000:>9.2f}{p99 / 1000:>9.2f}{checked:>9}{ratio:>15}{p50_ratio:>13}"
                  f"{tuned_ratio:>15}")
        if kind == "sequence":
            print("  (3 requests per task opened: tasks opened/s = req/s / 3; "
                  "latencies are per request, all three mixed)")
    print()
    print("memory (VmRSS from /proc/PID/status)")
    print(f"  {'target':<24}{'idle after warm-up MB':>23}{'peak (VmHWM) at end MB':>24}")
    for t in targets:
        print(f"  {t.name:<24}{t.rss['VmRSS'] / 1024:>23.1f}{t.peak['VmHWM'] / 1024:>24.1f}")
    sizes = ", ".join(f"{t.name} {len(t.single[0]) / 1024:.1f}/{len(t.batch[0]) / 1024:.0f}" for t in services)
    print()
    print(f"bodies (KiB, 1 task / {BATCH} tasks): {sizes}; the floor gets {services[0].name}'s")
    print()
    print("targets (issue 11: of the floor, bare Bottle on Waitress; in brackets the share of the tuned floor):")
    verdict = lambda ok: "PASS" if ok else "MISS"  # noqa: E731
    for t in services:
        rss = t.rss["VmRSS"] / 1024
        parts = []
        for kind, tasks, share in (("single", 1, 0.6), ("batch", BATCH, 0.3)):
            got = figures.get((t.name, kind))
            parts.append(f"{tasks}-task req/s >= {share} of floor: "
                         + (f"{verdict(got['ratio'] >= share)} ({got['ratio']:.2f}; tuned {got['tuned']:.2f})"
                            if got and not t.warnings else "- (warning)"))
        parts.append(f"idle RSS < 150 MB: {verdict(rss < 150)} ({rss:.1f})")
        print(f"  {t.name:<24}" + "; ".join(parts))
    for t in services:
        for w in t.warnings:
            print(f"WARNING: {t.name} {w}")
    if hook is not None:
        r = hook["result"]
        print()
        print(f"/webhook ANNOTATION_CREATED, 1 connection, store at {hook['filled']} annotations (filled from "
              f"{hook['before']} by webhooks in {hook['fill_s']:.0f}s; retrain_every={FAR_AWAY}, no training "
              f"queued before or after): {r['rps']:.0f} req/s, p50 {r['p50_us'] / 1000:.2f} ms, "
              f"p99 {r['p99_us'] / 1000:.2f} ms, {r['checked_ok']} answers checked; store ended at {hook['after']}; "
              f"target p50 < 20 ms: {'PASS' if r['p50_us'] < 20_000 else 'MISS'}")
    print(f"\n(run took {elapsed:.0f}s; 1-minute load average {loads[0][0]:.2f} before it, "
          f"{loads[1][0]:.2f} at the end (this run's own wrk and services included), on {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    sys.exit(main())
