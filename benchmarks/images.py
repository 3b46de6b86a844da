"""/predict latency of an image backend: images never fetched (cold) against images in its disk cache (warm).

1. samples/digits/backend.yaml is rendered with `mlgen render` into a temporary directory and
   started as a user does, `python -m backend serve --host 127.0.0.1 --port P`, with the runtime
   venv of the e2e tests for its rendered requirements (tests/helpers.py:runtime_python(project),
   Pillow included; built if missing), a fresh MODEL_DIR and PREDICTION_CACHE_SIZE=0 (a repeated
   body is not answered from the prediction cache: every answer reads its images).
2. A stand-in Label Studio, tests/label_studio_files.py's LabelStudioFiles, serves the sample folder at
   /data/local-files/?d=<path> on 127.0.0.1 to `Authorization: Token <t>` only (401 otherwise),
   and counts the files it serves. /setup gets its address and token, as Label Studio sends them.
3. Training: the sample's 100 annotated tasks as ANNOTATION_CREATED webhooks (benchmarks/serve.py's
   train and settle: until /setup reports a trained version and no training is queued or running);
   the training fetches their 100 images. Before timing, a 100-task /predict of those annotated
   tasks must answer the trained version with a non-empty result for every task, and fetch nothing
   (they are in the disk cache).
4. Timed, from one keep-alive connection (requests.Session), every answer checked (status 200, one
   non-empty result per task, the trained model_version) and the stand-in's count of files served
   read around each request:
   * 1 task, cold then warm: each of the first --single unannotated tasks once cold (an image never
     fetched: exactly 1 file served) and at once again warm (from $MODEL_DIR/images: 0 served);
   * 100 tasks, cold and warm, --rounds times: round 1's cold batch is the other 100 unannotated
     tasks (never fetched); later cold batches are the unannotated tasks of round (r mod 2) after
     the disk cache's files are deleted (fetched before, but neither on disk nor in any memory of
     the backend's: the 100 files served prove it); each cold batch is followed by the same body warm.
   Medians and p90s are over the requests; cold/warm is the ratio of the medians. Beside them, the
   stand-in alone: one image GET by urllib from this process (a new connection each, as the
   backend's fetcher opens), the floor of what a cold fetch costs here.
Every process started here is stopped at the end, on errors and SIGTERM too.

    /work/main/.venv/bin/python benchmarks/images.py [--single 100] [--rounds 10] [--keep]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import requests

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SAMPLE = REPO / "samples" / "digits"
BATCH = 100
sys.path[:0] = [str(HERE), str(REPO / "tests"), str(REPO / "tests" / "e2e")]

import serve  # noqa: E402  (benchmarks/serve.py: processes, bodies, training)
from helpers import runtime_python  # noqa: E402
from label_studio_files import LabelStudioFiles, folder  # noqa: E402


class ImageTarget(serve.Target):
    """The digits service; its /setup names the stand-in Label Studio and its token."""

    def __init__(self, *args: Any, label_studio: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.label_studio = label_studio

    def setup_body(self) -> str:
        return serve.dumps({**serve.payload("setup"), "project": serve.LS_PROJECT,
                            "schema": self.spec["labeling_config"], "hostname": self.label_studio.url,
                            "access_token": self.label_studio.token})


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10, method="inclusive")[-1] if len(values) > 1 else values[0]


def out_of_time(signum: int, frame: Any) -> None:
    raise SystemExit(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--single", type=int, default=100, help="one-task requests cold (and as many warm)")
    parser.add_argument("--rounds", type=int, default=10, help="100-task requests cold (and as many warm)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, state)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, out_of_time)
    workdir = Path(tempfile.mkdtemp(prefix="mlgen-images-"))
    label_studio = None
    try:
        label_studio = LabelStudioFiles(folder(SAMPLE), "bench-legacy-token-0123456789")
        return run(args, workdir, label_studio)
    finally:
        serve.stop_all()
        if label_studio is not None:
            label_studio.close()
        if args.keep:
            print(f"(kept {workdir})")
        else:
            subprocess.run(["rm", "-rf", str(workdir)], check=False)


def run(args: argparse.Namespace, workdir: Path, label_studio: Any) -> int:
    started_run = time.monotonic()
    load_before = os.getloadavg()
    started_at = dt.datetime.now().astimezone()
    project = workdir / "project"
    done = subprocess.run([*serve.mlgen_command(), "render", str(SAMPLE / "backend.yaml"), "-o", str(project)],
                          capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"mlgen render failed:\n{done.stdout}\n{done.stderr}")
    python = runtime_python(project)
    spec = json.loads((project / "spec.json").read_text())
    state = workdir / "state"
    port = serve.free_port()
    proc = serve.Proc("digits", [str(python), "-m", "backend", "serve", "--host", "127.0.0.1", "--port", str(port)],
                      cwd=project, env={"MODEL_DIR": str(state), "PREDICTION_CACHE_SIZE": "0"},
                      log=workdir / "digits.log", port=port)
    tasks = serve.sample_tasks(SAMPLE)
    truth = json.loads((SAMPLE / "heldout_labels.json").read_text())
    target = ImageTarget("digits", proc, spec, tasks, label_studio=label_studio)

    t0 = time.perf_counter()
    target.served_version()  # the first /setup queues an import from the stand-in (which lists no task); its
    if not label_studio.listed.wait(60):  # full pass removes annotations written before it began: wait for it
        raise RuntimeError("the import the first /setup queued never listed the project's tasks")
    serve.train(target)
    serve.settle(target)
    trained_in = time.perf_counter() - t0
    fetched_training = label_studio.served
    session = requests.Session()

    def predict(batch: list[dict[str, Any]]) -> tuple[float, list[dict[str, Any]], int]:
        """(seconds, results, files the stand-in served meanwhile), every answer checked."""
        body = target.predict_body(batch)
        before = label_studio.served
        started = time.perf_counter()
        response = session.post(target.url + "/predict", data=body, headers={"Content-Type": "application/json"},
                                timeout=120)
        seconds = time.perf_counter() - started
        served = label_studio.served - before
        if response.status_code != 200:
            raise RuntimeError(f"/predict answered {response.status_code}: {response.text[:300]}")
        results = response.json()["results"]
        if len(results) != len(batch):
            raise RuntimeError(f"/predict answered {len(results)} results for {len(batch)} tasks")
        for result in results:
            if result.get("model_version") != target.version or len(result.get("result") or []) != 1:
                raise RuntimeError(f"/predict answered {result!r:.300} (trained version {target.version})")
        return seconds, results, served

    annotated = [t for t in tasks if t.get("annotations")]
    unannotated = [t for t in tasks if not t.get("annotations")]
    _, results, served = predict(annotated[:BATCH])
    if served:
        raise RuntimeError(f"predicting the annotated tasks fetched {served} images (expected all in the disk cache)")
    if len(unannotated) < BATCH + min(args.single, BATCH) or args.single > BATCH:
        raise RuntimeError(f"{len(unannotated)} unannotated tasks: need --single <= {BATCH} and {BATCH} more")

    def digit(result: dict[str, Any]) -> str:
        return result["result"][0]["value"]["choices"][0]

    answers: dict[int, str] = {}
    single = {"cold": [], "warm": []}
    for task in unannotated[:args.single]:
        for kind, fetches in (("cold", 1), ("warm", 0)):
            seconds, results, served = predict([task])
            if served != fetches:
                raise RuntimeError(f"{kind} one-task /predict of task {task['id']}: {served} files served, "
                                   f"expected {fetches}")
            single[kind].append(seconds)
            answers[task["id"]] = digit(results[0])
    fetched_single = label_studio.served - fetched_training

    cache_dir = state / "images"
    halves = [unannotated[args.single:args.single + BATCH], unannotated[:BATCH]]
    batch = {"cold": [], "warm": []}
    cleared = 0
    for round_ in range(args.rounds):
        window = halves[round_ % 2]
        if round_ > 0:  # round 1's images were never fetched; later ones: delete the disk cache's files
            for path in cache_dir.glob("*.img"):
                path.unlink()
                cleared += 1
        for kind, fetches in (("cold", BATCH), ("warm", 0)):
            seconds, results, served = predict(window)
            if served != fetches:
                raise RuntimeError(f"{kind} 100-task /predict (round {round_ + 1}): {served} files served, "
                                   f"expected {fetches}")
            batch[kind].append(seconds)
            answers.update((t["id"], digit(r)) for t, r in zip(window, results))
    fetched_total = label_studio.served

    # the stand-in alone: one image per GET, a new connection each, from this process
    url = label_studio.url + unannotated[0]["data"]["image"]
    floor = []
    for _ in range(50):
        request = urllib.request.Request(url, headers={"Authorization": f"Token {label_studio.token}"})
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
        floor.append(time.perf_counter() - started)
    denied = urllib.request.Request(url)
    try:
        urllib.request.urlopen(denied, timeout=10)
        raise RuntimeError("the stand-in served an image without the token")
    except urllib.error.HTTPError as exc:
        if exc.code != 401:
            raise

    accuracy = statistics.mean(answers[t["id"]] == truth[t["id"] - 1] for t in unannotated if t["id"] in answers)
    versions = subprocess.run(
        [str(python), "-c", "import sys; from importlib.metadata import version as v; "
         "print(sys.version.split()[0], *(v(p) for p in ('pillow', 'scikit-learn', 'waitress')))"],
        capture_output=True, text=True, timeout=60).stdout.split()
    training = target.training
    print(f"mlgen image /predict benchmark, started {started_at:%Y-%m-%d %H:%M %Z}, {os.cpu_count()} CPUs, "
          f"{platform.machine()}; runtime: " + ", ".join(
              f"{name} {v}" for name, v in zip(("python", "pillow", "scikit-learn", "waitress"), versions)))
    print(f"service: samples/digits rendered ({serve.recipe(spec)}), PREDICTION_CACHE_SIZE=0, fresh MODEL_DIR; "
          f"stand-in Label Studio (tests/label_studio_files.py, token required, 401 without) on {label_studio.url}")
    print(f"trained by {len(annotated)} ANNOTATION_CREATED webhooks in {trained_in:.1f}s: serving {target.version} "
          f"({training['served_on']} annotations, {training['duration_s']}s); the training fetched "
          f"{fetched_training} images; a 100-task /predict of the annotated tasks: 100 non-empty, 0 fetched")
    print(f"client: one keep-alive requests.Session in this process; every answer checked "
          f"(200, one non-empty result per task, {target.version})")
    print()
    header = f"  {'row':<34}{'requests':>9}{'median ms':>11}{'p90 ms':>9}{'min ms':>9}{'fetched':>9}{'cold/warm':>11}"
    print(header)
    print("  " + "-" * (len(header) - 2))
    rows = [("1 task, cold (never fetched)", single["cold"], fetched_single, single),
            ("1 task, warm (disk cache)", single["warm"], 0, None),
            ("100 tasks, cold (1st: never fetched)", batch["cold"], BATCH * args.rounds, batch),
            ("100 tasks, warm (disk cache)", batch["warm"], 0, None)]
    for name, times, fetched, pair in rows:
        ratio = f"{statistics.median(pair['cold']) / statistics.median(pair['warm']):.2f}" if pair else ""
        print(f"  {name:<34}{len(times):>9}{statistics.median(times) * 1000:>11.2f}{p90(times) * 1000:>9.2f}"
              f"{min(times) * 1000:>9.2f}{fetched:>9}{ratio:>11}")
    print(f"  {'100 tasks, cold, round 1 alone':<34}{1:>9}{batch['cold'][0] * 1000:>11.2f}")
    print(f"  {'stand-in alone: 1 image GET':<34}{len(floor):>9}{statistics.median(floor) * 1000:>11.2f}"
          f"{p90(floor) * 1000:>9.2f}{min(floor) * 1000:>9.2f}")
    print()
    print(f"files the stand-in served: {fetched_training} for the training, {fetched_single} for the "
          f"{args.single} cold one-task requests (1 each), {BATCH * args.rounds} for the {args.rounds} cold batches "
          f"({BATCH} each; every cached file deleted before rounds 2..{args.rounds}, {cleared} deletions), "
          f"none for any warm one; "
          f"{fetched_total} in all, plus {len(floor)} for the stand-in row")
    print(f"accuracy of the served answers on the {len(answers)} unannotated tasks: {accuracy:.3f}")
    load_after = os.getloadavg()
    print(f"\n(run took {time.monotonic() - started_run:.0f}s; 1-minute load average {load_before[0]:.2f} before, "
          f"{load_after[0]:.2f} at the end, on {os.cpu_count()} CPUs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
