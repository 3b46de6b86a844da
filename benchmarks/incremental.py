"""Time from new annotations to a fresh served model: incremental update against full refit.

In-process, with the runtime imported from the template, a real SQLite store and Huey in
immediate mode (no debounce): a project's store is filled to 1k, 10k and 100k annotations
(questions from samples/topics, varied), a first full training is served, then 10 new
annotations arrive and the time until the served version changes is measured, for a spec with
`training.incremental: true` (a partial_fit update) and for the same spec without it (a full
refit with its evaluation). Both use hashed character n-grams and SGDClassifier(log_loss).

    .venv/bin/python benchmarks/incremental.py [--sizes 1000 10000 100000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "cookiecutter-template" / "{{cookiecutter.project_slug}}"))

from backend.queue import request_training  # noqa: E402
from backend.settings import load_settings  # noqa: E402
from backend.wiring import create_service  # noqa: E402
from mlgen import load_spec  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

SAMPLE = REPO / "samples" / "topics"


def make_spec(folder: Path, incremental: bool) -> dict:
    spec = {
        "version": 1, "name": "bench", "labeling_config": str(SAMPLE / "labeling_config.xml"),
        "features": [{"field": "text", "type": "text", "vectorizer": "hashing", "analyzer": "char_wb",
                      "ngram_range": [2, 4], "n_features": 2**18}],
        "model": {"class": "SGDClassifier", "params": {"loss": "log_loss", "alpha": 0.0001}},
        "training": {"debounce_seconds": 0, "min_annotations": 10, "retrain_every": 10,
                     "incremental": incremental, "full_refit_every": 1000},
        "promotion": {"policy": "always", "keep_versions": 2},
    }
    path = folder / "backend.yaml"
    path.write_text(json.dumps(spec))
    return load_spec(path)


def texts() -> list[tuple[str, str]]:
    tasks = json.loads((SAMPLE / "tasks.json").read_text())
    labels = json.loads((SAMPLE / "heldout_labels.json").read_text())
    return [(t["data"]["text"], label) for t, label in zip(tasks, labels)]


def fill(service, start: int, count: int, pool: list[tuple[str, str]], rng: random.Random) -> None:
    for first in range(start, start + count, 2000):
        batch = []
        for i in range(first, min(first + 2000, start + count)):
            text, label = pool[rng.randrange(len(pool))]
            batch.append({"id": i, "task": i, "data": {"text": f"{text} #{rng.randrange(1000)}"}, "label": label})
        service.store.save_annotations("1", batch, [])


def time_to_fresh_model(service, start: int, pool, rng) -> float:
    before = service.registry.served_version("1")
    started = time.perf_counter()
    fill(service, start, 10, pool, rng)
    request_training(service, "1", "ANNOTATION_CREATED")
    elapsed = time.perf_counter() - started
    assert service.registry.served_version("1") != before, service.store.runs("1", 1)
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    pool = texts()
    print(f"time from 10 new annotations to a fresh served model (median of {args.repeats}), 1 BLAS thread")
    print(f"{'stored':>8} {'incremental s':>14} {'full refit s':>13} {'full/incremental':>17}")
    with threadpool_limits(1):
        for size in args.sizes:
            results = {}
            for incremental in (True, False):
                with tempfile.TemporaryDirectory() as folder:
                    spec = make_spec(Path(folder), incremental)
                    service = create_service(spec, load_settings(spec, {"MODEL_DIR": folder}), immediate=True)
                    rng = random.Random(size)
                    fill(service, 1, size, pool, rng)
                    request_training(service, "1", "START_TRAINING", force=True)  # the first, full model
                    times = [time_to_fresh_model(service, size + 1 + 10 * k, pool, rng) for k in range(args.repeats)]
                    kinds = {v["kind"] for v in service.store.versions("1")[1:]}
                    assert kinds == {"incremental" if incremental else "full"}, kinds
                    results[incremental] = statistics.median(times)
            print(f"{size:>8} {results[True]:>14.3f} {results[False]:>13.3f} {results[False] / results[True]:>17.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
