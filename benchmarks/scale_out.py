"""Scale-out benchmark: the distributed mode (web replicas and a worker on PostgreSQL and Redis,
behind HAProxy) against the embedded single process, driven by wrk, in one run.

(a) /predict with 100 distinct tasks per request: the embedded process (SQLite), one web replica
    of the distributed mode straight and through HAProxy, and two replicas through HAProxy;
(b) /webhook, ANNOTATION_CREATED with a fresh annotation id per request: the embedded process
    (annotations in SQLite) against one web replica (in PostgreSQL), and two through HAProxy;
(c) what the store does per webhook as it grows (--growth sizes): the runtime's Store imported
    from the template, on SQLite and on PostgreSQL, filled in bulk to each size, then the time of
    save_annotations (one annotation; under the global write lock, so its inverse is the ceiling
    of annotation writes per second, whatever the number of replicas) and of the reads that
    training_due makes after it (the project's annotation count and its row).

Every server is real and on 127.0.0.1: PostgreSQL, Redis and HAProxy as tests/engines.py starts
them (PostgreSQL with fsync and synchronous_commit off, as SQLite's WAL with synchronous=NORMAL
does not flush per commit either), the backend processes as a user starts them, with the e2e
tests' venv for requirements.txt plus requirements-scale.txt (tests/helpers.py:runtime_python).

The project is samples/topics rendered with mlgen, `training.retrain_every` raised to 10^9 so that
after its first training (the sample's 100 annotated tasks as ANNOTATION_CREATED webhooks) no
training runs while timing; PREDICTION_CACHE_SIZE=0 everywhere, so every /predict computes its 100
predictions. Before timing, every target must answer each 100-task body with the trained
model_version and 100 non-empty results, and benchmarks/serve.lua checks EVERY timed response
(status, model_version, 100 results, all non-empty; webhooks: {"status": "ok"}). Each store is
filled to --store-size annotations first (ANNOTATIONS_CREATED, 100 per request). Rows are 5 s wrk
runs (-t2 -c8), all targets once per round, the order reversed every other round; medians of
--rounds rounds. The CPU time every process used during each row is read from /proc, grouped
(the backends, postgres, haproxy, wrk, redis, this script, "other": everything on the machine
that this run did not start, and "idle": what no process used). Other people's work shares the machine: before each row the run
waits (--patience, 60 s at most) for the rest of the machine to use under --quiet (0.2) cores,
and a row during which it used over twice that anyway runs again (--retries, 2 at most), the
least disturbed attempt kept (chosen by that load alone, never by the figures).

    apt-get install -y wrk postgresql redis-server haproxy   # once
    .venv/bin/python benchmarks/scale_out.py [--duration 5] [--rounds 2] [--store-size 10000]
        [--growth 10000,100000,1000000] [--keep]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
import yaml
from serve import (
    BATCH,
    BATCH_BODIES,
    FAR_AWAY,
    SAMPLES_DIR,
    SEQ_TOKEN,
    STARTED,
    Proc,
    Runner,
    Target,
    dumps,
    free_port,
    mlgen_command,
    out_of_time,
    sample_tasks,
    stop_all,
    wait_until,
)

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from engines import balancer, fresh_database, running_postgres, running_redis  # noqa: E402
from helpers import TEMPLATE_PROJECT, runtime_python  # noqa: E402

PREDICT_TARGETS = {
    "embedded": "embedded, 1 process (SQLite)",
    "web-direct": "distributed, 1 web, direct",
    "web-haproxy": "distributed, 1 web via HAProxy",
    "webs-haproxy": "distributed, 2 webs via HAProxy",
}
WEBHOOK_TARGETS = {
    "embedded": "embedded, 1 process (SQLite)",
    "web-direct": "distributed, 1 web (PostgreSQL)",
    "webs-haproxy": "distributed, 2 webs via HAProxy",
}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# CPU used per process during a row ------------------------------------------------------------

def cpu_ticks() -> dict[int, tuple[str, int, int]]:
    """(command name, parent pid, user + system ticks) of every process on the machine, and
    under pid -1 the machine's idle ticks (idle + iowait, all CPUs: /proc/stat)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    ticks = {-1: ("idle", 0, int(fields[4]) + int(fields[5]))}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        ticks[int(entry.name)] = (name, int(fields[1]), int(fields[11]) + int(fields[12]))  # ppid, utime, stime
    return ticks


def cpu_groups(before: dict[int, tuple[str, int, int]], after: dict[int, tuple[str, int, int]],
               ours: dict[int, str], wrk_seconds: float) -> dict[str, float]:
    """CPU seconds per group between two snapshots. Among this run's processes (descendants of
    this one): the backend processes, postgres (its server and connection processes), haproxy,
    redis, and wrk (a waited child: measured by getrusage); everything else on the machine is
    'other' (other users' work, kernel threads); 'idle' is what no process used."""
    children: dict[int, list[int]] = {}
    for pid, (_, parent, _) in after.items():
        children.setdefault(parent, []).append(pid)
    mine, stack = set(), [os.getpid()]
    while stack:
        pid = stack.pop()
        mine.add(pid)
        stack += children.get(pid, [])
    groups: dict[str, float] = {}
    for pid, (name, _, ticks) in after.items():
        used = (ticks - before.get(pid, (name, 0, 0))[2]) / CLOCK_TICKS
        if used <= 0 or name == "wrk":
            continue
        if pid == -1:
            group = "idle"
        elif pid in ours:
            group = "backends"
        elif pid not in mine:
            group = "other"
        elif name.startswith("postgres"):
            group = "postgres"
        elif name in ("haproxy", "redis-server"):
            group = name.replace("-server", "")
        else:
            group = "bench"  # this script's own process
        groups[group] = groups.get(group, 0.0) + used
    groups["wrk"] = wrk_seconds
    return groups


def others_busy(seconds: float = 1.0) -> float:
    """Cores the rest of the machine (not this run) used over `seconds`."""
    before = cpu_ticks()
    time.sleep(seconds)
    return cpu_groups(before, cpu_ticks(), {}, 0.0).get("other", 0.0) / seconds


class Timed:
    """Runner.run with the CPU every process used meanwhile. Each attempt first waits (up to
    `patience` seconds) for the rest of the machine to use under `quiet` cores; a row during
    which it used more than twice that anyway is run again, up to `retries` times, and the
    attempt it disturbed least is kept (chosen by that load, never by the figures)."""

    def __init__(self, runner: Runner, ours: dict[int, str], quiet: float, patience: float, retries: int) -> None:
        self.runner, self.ours, self.quiet, self.patience, self.retries = runner, ours, quiet, patience, retries
        self.attempts = self.rows = 0

    def run(self, what: str, url: str, row: Callable[[], Path], duration: int) -> dict[str, Any]:
        kept = None
        for _ in range(1 + self.retries):
            deadline = time.monotonic() + self.patience
            while others_busy() > self.quiet and time.monotonic() < deadline:
                pass
            result = self.attempt(what, url, row(), duration)
            self.attempts += 1
            if kept is None or result["cpu"].get("other", 0.0) < kept["cpu"].get("other", 0.0):
                kept = result
            if kept["cpu"].get("other", 0.0) / kept["seconds"] <= 2 * self.quiet:
                break
        self.rows += 1
        assert kept is not None
        return kept

    def attempt(self, what: str, url: str, row: Path, duration: int) -> dict[str, Any]:
        before, children = cpu_ticks(), resource.getrusage(resource.RUSAGE_CHILDREN)
        result = self.runner.run(what, url, row, duration)
        after, children_after = cpu_ticks(), resource.getrusage(resource.RUSAGE_CHILDREN)
        wrk = (children_after.ru_utime - children.ru_utime) + (children_after.ru_stime - children.ru_stime)
        result["cpu"] = cpu_groups(before, after, self.ours, wrk)
        result["seconds"] = result["duration_us"] / 1e6
        return result


# the backends ---------------------------------------------------------------------------------

def render(workdir: Path) -> tuple[Path, dict[str, Any]]:
    """samples/topics with retrain_every 10^9: one training, then none while timing."""
    folder = workdir / "spec"
    shutil.copytree(SAMPLES_DIR / "topics", folder)
    spec = yaml.safe_load((folder / "backend.yaml").read_text())
    spec["training"]["retrain_every"] = FAR_AWAY
    (folder / "backend.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    project = workdir / "project"
    done = subprocess.run([*mlgen_command(), "render", str(folder / "backend.yaml"), "-o", str(project)],
                          capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"mlgen render failed:\n{done.stdout}\n{done.stderr}")
    return project, json.loads((project / "spec.json").read_text())


def start(name: str, python: Path, project: Path, workdir: Path, env: dict[str, str], args: list[str],
          http: bool = True) -> Proc:
    port = free_port()
    command = [str(python), "-m", "backend", *args]
    if http:
        command += ["--host", "127.0.0.1", "--port", str(port)]
    env = {"MODEL_DIR": str(workdir / "state" / name), "PREDICTION_CACHE_SIZE": "0", **env}
    if http:
        return Proc(name, command, cwd=project, env=env, log=workdir / f"{name}.log", port=port)
    return Worker(name, command, project, env, workdir / f"{name}.log")


class Worker(Proc):
    """A `python -m backend worker` (no HTTP): started once its consumer logs that it runs."""

    def __init__(self, name: str, command: list[str], cwd: Path, env: dict[str, str], log: Path) -> None:
        self.name, self.port, self.url, self.log_path = name, 0, "", log
        self.log = log.open("w")
        self.process = subprocess.Popen(command, cwd=cwd, stdout=self.log, stderr=subprocess.STDOUT,
                                        env={**os.environ, **env})
        STARTED.append(self)
        wait_until(lambda: "Huey consumer started" in log.read_text() or self.process.poll() is not None, 60,
                   f"{name} to start")
        if self.process.poll() is not None:
            raise RuntimeError(f"{name} exited:\n{self.tail()}")


def train(target: Target) -> None:
    """The sample's 100 annotated tasks as ANNOTATION_CREATED webhooks; until trained and idle."""
    untrained = target.served_version()
    for task in (t for t in target.tasks if t.get("annotations")):
        target.post("/webhook", dumps(target.webhook_event(task, task["id"], task["id"])))
    wait_until(lambda: target.served_version() != untrained, 300, f"{target.name} to train")
    wait_until(target.idle, 300, f"{target.name} to finish training")
    target.version = target.served_version()


def fill(target: Target, size: int) -> int:
    """ANNOTATIONS_CREATED of 100 annotations a request (ids from 10^6) until the store holds `size`."""
    annotated = [t for t in target.tasks if t.get("annotations")]
    count = requests.get(target.url + "/metrics", timeout=30).json()["annotations"]
    next_id = 10**6 + count
    while count < size:
        chunk = [annotated[(next_id + k) % len(annotated)] for k in range(min(100, size - count))]
        events = [target.webhook_event(t, next_id + k, next_id + k) for k, t in enumerate(chunk)]
        body = {**events[0], "action": "ANNOTATIONS_CREATED", "annotation": [e["annotation"] for e in events],
                "task": [e["task"] for e in events]}
        answer = target.post("/webhook", dumps(body))
        if answer.get("stored") != len(chunk):
            raise RuntimeError(f"{target.name}: ANNOTATIONS_CREATED stored {answer}")
        next_id += len(chunk)
        count += len(chunk)
    if not target.idle():
        raise RuntimeError(f"{target.name}: filling the store queued a training (retrain_every is {FAR_AWAY})")
    return count


def batch_bodies(target: Target) -> list[str]:
    """100-task bodies of distinct tasks (unannotated first), each checked: the trained version and
    100 non-empty results. Prints how many of the unannotated ones the model gets right."""
    ordered = target.unannotated_first
    windows = [[ordered[(k * BATCH + j) % len(ordered)] for j in range(BATCH)] for k in range(BATCH_BODIES)]
    bodies = [target.predict_body(w) for w in windows]
    truth = json.loads((SAMPLES_DIR / "topics" / "heldout_labels.json").read_text())
    right = total = 0
    for window, body in zip(windows, bodies):
        results = target.post("/predict", body)["results"]
        if len(results) != BATCH or any(r.get("model_version") != target.version or not r.get("result")
                                        for r in results):
            raise RuntimeError(f"{target.name}: a 100-task /predict answered other than {BATCH} non-empty "
                               f"results of {target.version}")
        for task, result in zip(window, results):
            if not task.get("annotations"):
                total += 1
                right += result["result"][0]["value"]["choices"] == [truth[task["id"] - 1]]
    target.accuracy = right / total
    return bodies


def webhook_bodies(target: Target) -> list[dict[str, Any]]:
    """ANNOTATION_CREATED of the annotated tasks, the annotation and task id a fresh number per
    request (serve.lua's seq_token)."""
    annotated = [t for t in target.tasks if t.get("annotations")]
    return [{"method": "POST", "path": "/webhook",
             "body": dumps(target.webhook_event(t, int(SEQ_TOKEN), int(SEQ_TOKEN)))} for t in annotated]


# (c) the store as it grows ---------------------------------------------------------------------

def growth(sizes: list[int], postgres: str, workdir: Path, calls: int = 100) -> list[dict[str, Any]]:
    """Per size and engine: ms per save_annotations of one annotation, and per training_due's
    reads at most (its projects row, then whether it holds min_annotations: 20), on a store
    filled in bulk."""
    sys.path.insert(0, str(TEMPLATE_PROJECT))
    from backend.store import Store
    from backend.targets.base import answer_key

    texts = [t["data"]["text"] for t in sample_tasks(SAMPLES_DIR / "topics")]
    rows = []
    for engine in ("sqlite", "postgresql"):
        store = Store(fresh_database(postgres) if engine == "postgresql" else workdir / "growth" / "backend.db")
        held = 0
        try:
            for size in sizes:
                bulk = [(i, "5", i, json.dumps({"text": texts[i % len(texts)]}), answer_key("AI"), i, "2026-01-01")
                        for i in range(held + 1, size + 1)]
                columns = "id, project, task, data, answer, seq, updated_at"
                with store.transaction():
                    if engine == "sqlite":
                        store.database.conn.executemany(f"INSERT INTO annotations ({columns}) VALUES (?,?,?,?,?,?,?)",
                                                        bulk)
                    else:
                        with store.database.conn.cursor().copy(f"COPY annotations ({columns}) FROM STDIN") as copy:
                            for row in bulk:
                                copy.write_row(row)
                if engine == "postgresql":
                    store.database.execute("VACUUM ANALYZE annotations")
                held = size
                ids = iter(range(10**9, 10**9 + calls))
                started = time.perf_counter()
                for annotation_id in ids:
                    store.save_annotations("5", [{"id": annotation_id, "task": annotation_id,
                                                  "data": {"text": texts[0]}, "answer": "AI"}], [])
                save_ms = (time.perf_counter() - started) / calls * 1000
                started = time.perf_counter()
                for _ in range(calls):
                    store.project("5")
                    store.has_annotations("5", 20)
                reads_ms = (time.perf_counter() - started) / calls * 1000
                with store.transaction():  # back to `size`: the next size fills from there
                    store.database.execute("DELETE FROM annotations WHERE id >= ?", (10**9,))
                if engine == "sqlite":
                    store.database.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                    on_disk = (workdir / "growth" / "backend.db").stat().st_size
                else:
                    on_disk = store.database.execute("SELECT pg_total_relation_size('annotations')").fetchone()[0]
                rows.append({"engine": engine, "size": size, "save_ms": save_ms, "reads_ms": reads_ms,
                             "mb": on_disk / 2**20})
        finally:
            store.close()
    return rows


# the run --------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk row")
    parser.add_argument("--warmup", type=int, default=1, help="seconds of checked, untimed load per target")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--store-size", type=int, default=10_000, help="annotations in each store before timing")
    parser.add_argument("--growth", default="10000,100000", help="store sizes of (c), comma-separated ('' for none)")
    parser.add_argument("--quiet", type=float, default=0.2,
                        help="before each row, wait for the rest of the machine to use fewer cores than this")
    parser.add_argument("--patience", type=float, default=60, help="... but at most this many seconds per row")
    parser.add_argument("--retries", type=int, default=2,
                        help="run a row again (up to this many times) when the rest of the machine used over "
                             "twice --quiet during it; the least disturbed attempt is kept")
    parser.add_argument("--budget", type=float, default=1800, help="abort after this many seconds")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, row files)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGALRM, out_of_time)
    signal.alarm(int(args.budget))
    workdir = Path(tempfile.mkdtemp(prefix="mlgen-bench-scale-"))
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(lambda: None if args.keep else shutil.rmtree(workdir, ignore_errors=True))
        cleanup.callback(stop_all)  # every process of ours, whatever happens (engines stop with their blocks)
        cleanup.callback(signal.alarm, 0)
        postgres = cleanup.enter_context(running_postgres())
        redis_url = cleanup.enter_context(running_redis())
        try:
            return run(args, workdir, postgres, redis_url)
        except Exception:
            for proc in STARTED:
                print(f"--- {proc.name}'s log ({proc.log_path}) ends:\n{proc.tail(15)}", file=sys.stderr)
            if args.keep:
                print(f"(kept {workdir})", file=sys.stderr)
            raise


def run(args: argparse.Namespace, workdir: Path, postgres: str, redis_url: str) -> int:
    started_run, load_before = time.monotonic(), os.getloadavg()
    database = fresh_database(postgres)
    started_at = dt.datetime.now().astimezone()
    python = runtime_python(scale_out=True)
    project, spec = render(workdir)
    tasks = sample_tasks(SAMPLES_DIR / "topics")
    shared = {"DATABASE_URL": database, "REDIS_URL": urlunsplit(urlsplit(redis_url)._replace(path="/1")),
              "MODELS_DIR": str(workdir / "models")}

    embedded = start("embedded", python, project, workdir, {}, ["serve"])
    webs = [start(f"web{i}", python, project, workdir, shared, ["serve", "--no-worker"]) for i in range(2)]
    worker = start("worker", python, project, workdir, shared, ["worker"], http=False)
    ours = {p.pid: p.name for p in (embedded, *webs, worker)}
    trained = {name: Target(name, proc, spec, tasks) for name, proc in (("embedded", embedded), ("web-direct", webs[0]))}
    for target in trained.values():
        train(target)
    filled = {name: fill(target, args.store_size) for name, target in trained.items()}

    with contextlib.ExitStack() as stack:
        one = stack.enter_context(balancer([("127.0.0.1", webs[0].port)]))
        two = stack.enter_context(balancer([("127.0.0.1", w.port) for w in webs]))
        urls = {"embedded": embedded.url, "web-direct": webs[0].url, "web-haproxy": one, "webs-haproxy": two}
        targets = {name: trained.get(name) or Target(name, SimpleNamespace(url=url), spec, tasks)
                   for name, url in urls.items()}
        for target in targets.values():
            target.version = trained["embedded" if target.name == "embedded" else "web-direct"].version
        distributed_versions = {w.name: Target(w.name, w, spec, tasks).served_version() for w in webs}
        if set(distributed_versions.values()) != {trained["web-direct"].version}:
            raise RuntimeError(f"the web replicas serve different versions: {distributed_versions}")
        runner = Runner(workdir, args)
        timed = Timed(runner, ours, args.quiet, args.patience, args.retries)
        predict_rows, hook_rows = {}, {}
        for name in PREDICT_TARGETS:
            target = targets[name]
            bodies = batch_bodies(target)
            predict_rows[name] = runner.row_file([{"method": "POST", "path": "/predict", "body": b} for b in bodies],
                                                 target.version, BATCH, BATCH)
            runner.run(f"warm-up of {name}", target.url, predict_rows[name], args.warmup)
        hooks = webhook_bodies(targets["embedded"])
        for name in WEBHOOK_TARGETS:  # a row file per attempt: fresh annotation ids every time
            hook_rows[name] = lambda: runner.row_file(hooks, None, 0, 0, seq=True)
        results: dict[str, dict[str, list[dict[str, Any]]]] = {"predict": {}, "webhook": {}}
        for round_ in range(args.rounds):
            for kind, names in (("predict", list(PREDICT_TARGETS)), ("webhook", list(WEBHOOK_TARGETS))):
                for name in names if round_ % 2 == 0 else names[::-1]:
                    row = (lambda name=name: predict_rows[name]) if kind == "predict" else hook_rows[name]
                    result = timed.run(f"{kind} on {name}", targets[name].url, row, args.duration)
                    results[kind].setdefault(name, []).append(result)
        after = {name: requests.get(t.url + "/metrics", timeout=30).json() for name, t in trained.items()}
        for name, metrics in after.items():
            if any(p["training_queued"] or p["training_running"] for p in metrics["projects"]):
                raise RuntimeError(f"{name}: a training was queued while timing")
        versions = {name: t.served_version() for name, t in targets.items()}
        if any(versions[name] != targets[name].version for name in targets):
            raise RuntimeError(f"the served versions changed while timing: {versions}")
    stop_all()  # (c) runs in this process: nothing else of ours uses the CPUs meanwhile
    sizes = [int(n) for n in args.growth.split(",") if n.strip()]
    grown = growth(sizes, postgres, workdir) if sizes else []
    args.attempts = f"{timed.rows} rows timed in {timed.attempts} attempts"
    report(args, started_at, targets, trained, results, filled, {k: m["annotations"] for k, m in after.items()},
           grown, python, runner, time.monotonic() - started_run, (load_before, os.getloadavg()))
    return 0


def median(rows: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def cores(rows: list[dict[str, Any]]) -> str:
    """CPU cores used per group during the rows (median of the rounds)."""
    order = ["backends", "postgres", "haproxy", "wrk", "redis", "bench", "other", "idle"]
    groups = sorted({g for r in rows for g in r["cpu"]}, key=order.index)
    used = {g: statistics.median(r["cpu"].get(g, 0.0) / r["seconds"] for r in rows) for g in groups}
    return ", ".join(f"{g} {v:.2f}" for g, v in used.items() if v >= 0.005)


def table(title: str, names: dict[str, str], results: dict[str, list[dict[str, Any]]], tasks: int | None
          ) -> dict[str, float]:
    """Print one kind's rows (medians of the rounds); req/s by target."""
    print()
    print(title)
    header = f"  {'target':<34}{'req/s':>8}{'tasks/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'checked':>9}   CPU cores used"
    print(header)
    print("  " + "-" * (len(header) + 30))
    rps = {}
    for name, label in names.items():
        rows = results[name]
        rps[name] = median(rows, "rps")
        per_task = f"{rps[name] * tasks:>9.0f}" if tasks else " " * 9
        print(f"  {label:<34}{rps[name]:>8.1f}{per_task}{median(rows, 'p50_us') / 1000:>9.2f}"
              f"{median(rows, 'p99_us') / 1000:>9.2f}{sum(r['checked_ok'] for r in rows):>9}   {cores(rows)}")
    return rps


def report(args: argparse.Namespace, started_at: dt.datetime, targets: dict[str, Target], trained: dict[str, Target],
           results: dict[str, dict[str, list[dict[str, Any]]]], filled: dict[str, int], final: dict[str, int],
           grown: list[dict[str, Any]], python: Path, runner: Runner, elapsed: float, loads: tuple[tuple[float, ...], tuple[float, ...]]) -> None:
    info = subprocess.run([str(python), "-c", "import sys; from importlib.metadata import version as v; "
                           "print(sys.version.split()[0], *(v(p) for p in ('waitress', 'scikit-learn', 'psycopg', "
                           "'redis', 'huey')))"], capture_output=True, text=True, timeout=60).stdout.split()
    engines = {"PostgreSQL": "postgres --version", "HAProxy": "haproxy -v", "Redis": "redis-server --version",
               "wrk": f"{runner.wrk} --version"}
    versions = {}
    for name, command in engines.items():
        out = subprocess.run(command.split(), capture_output=True, text=True).stdout
        found = re.search(r"(?:v=|version |\) |wrk \S*?/?)(\d+\.\d+(?:\.\d+)?)", out)
        versions[name] = found.group(1) if found else "?"
    print(f"mlgen scale-out benchmark, started {started_at:%Y-%m-%d %H:%M %Z}, {os.cpu_count()} CPUs, "
          f"{platform.machine()}")
    print(f"runtime: python {info[0]}, waitress {info[1]} (8 threads per process), scikit-learn {info[2]}, "
          f"psycopg {info[3]}, redis-py {info[4]}, huey {info[5]}")
    print("engines: " + ", ".join(f"{name} {v}" for name, v in versions.items()))
    print(f"load: wrk -t{args.threads} -c{args.connections} -d{args.duration}s, benchmarks/serve.lua checking every "
          f"response; {args.rounds} round(s); everything shares the CPUs ({args.attempts}: a row the rest of the "
          f"machine used over {2 * args.quiet:.1f} cores during runs again, up to {args.retries} times)")
    for name, target in trained.items():
        print(f"  {PREDICT_TARGETS[name]}: serving {target.version} (100 annotations); {target.accuracy:.0%} of the "
              f"unannotated tasks right; store filled to {filled[name]}, {final[name]} at the end")
    rps = table(f"(a) /predict, {BATCH} distinct tasks per request ({BATCH_BODIES} bodies rotated), prediction cache off",
                PREDICT_TARGETS, results["predict"], BATCH)
    print(f"  ratios: 2 webs / 1 web (both via HAProxy) {rps['webs-haproxy'] / rps['web-haproxy']:.2f}; "
          f"2 webs via HAProxy / embedded {rps['webs-haproxy'] / rps['embedded']:.2f}; "
          f"1 web direct / embedded {rps['web-direct'] / rps['embedded']:.2f}; "
          f"HAProxy's cost, 1 web via it / direct {rps['web-haproxy'] / rps['web-direct']:.2f}")
    hooks = table("(b) /webhook, ANNOTATION_CREATED, a fresh annotation id per request", WEBHOOK_TARGETS,
                  results["webhook"], None)
    print(f"  ratios: PostgreSQL / SQLite (1 process each) {hooks['web-direct'] / hooks['embedded']:.2f}; "
          f"2 webs via HAProxy / 1 web {hooks['webs-haproxy'] / hooks['web-direct']:.2f}")
    if grown:
        print()
        print("(c) the store per webhook as it grows (in-process, the runtime's Store; ms per call, mean of 100; "
              "store MB: SQLite's file, PostgreSQL's annotations table with its indexes)")
        print(f"  {'annotations':>12}{'engine':>12}{'save_annotations':>18}{'writes/s ceiling':>18}"
              f"{'project row + has_annotations(20)':>35}{'store MB':>10}")
        for row in grown:
            print(f"  {row['size']:>12}{row['engine']:>12}{row['save_ms']:>18.2f}{1000 / row['save_ms']:>18.0f}"
                  f"{row['reads_ms']:>35.2f}{row['mb']:>10.0f}")
    print(f"\n(run took {elapsed:.0f}s; 1-minute load average {loads[0][0]:.2f} before it, {loads[1][0]:.2f} at the "
          f"end, on {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    sys.exit(main())
