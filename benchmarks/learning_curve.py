"""Learning curves of each sample's recipe, and of the reference backend's text recipe.

For every sample under samples/ that has tasks.json and heldout_labels.json (the true label of
every task), this builds the sample's model exactly as the generated service does: the
normalized spec from mlgen.load_spec, rows from the runtime's read_row/rows_to_matrix, and the
pipeline from the runtime's build_model (imported from the cookiecutter template). For a
sample with a text feature it also builds the reference backend's text recipe:
TfidfVectorizer(ngram_range=(1, 3), token_pattern=r"(?u)\\b\\w\\w+\\b") then
LogisticRegression(C=10), on the same text.

Training sets of 20, 50, 100, 200 and 800 annotations are drawn stratified from all the
sample's tasks (train_test_split with random_state = seed, seeds 0..4); the held-out set is
every task not drawn. A size that would leave less than --min-heldout of the tasks held out is
replaced by the largest size that does not (noted in the output), and 800 rows made by
repeating the sample's tasks are then timed too (timing only, clearly labelled).

Accuracy and macro-F1 are means over seeds (± standard deviation); training time is the median
of every timed fit (seeds x --repeats, the recipes alternating), a fit being rows_to_matrix +
Pipeline.fit for the sample's recipe and Pipeline.fit on the text list for the reference.
BLAS/OpenMP thread pools are limited to --blas-threads (default 1) during the fits: on a shared
2-core machine, OpenBLAS's default of 2 threads made LogisticRegression's fits up to 10x slower
and erratic. The generated service's own training fits twice per run (a holdout fit for its
metrics, then the full fit) and saves the model; only one fit is timed here.

    /work/main/.venv/bin/python benchmarks/learning_curve.py [--seeds 5] [--repeats 5] [--blas-threads 1]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import os
import platform
import statistics
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_info, threadpool_limits

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples"
RUNTIME = REPO / "cookiecutter-template" / "{{cookiecutter.project_slug}}"
sys.path.insert(0, str(RUNTIME))
sys.dont_write_bytecode = True  # leave no __pycache__ in the template

from backend.features import BadTaskError, read_field, read_row, rows_to_matrix  # noqa: E402
from backend.labelconfig import find_target, parse_label_config  # noqa: E402
from backend.model import build_model  # noqa: E402
from backend.targets import make_target  # noqa: E402
from mlgen import load_spec  # noqa: E402

SIZES = (20, 50, 100, 200, 800)


def reference_text_recipe() -> Pipeline:
    return Pipeline([
        ("tfidf", TfidfVectorizer(ngram_range=(1, 3), token_pattern=r"(?u)\b\w\w+\b")),
        ("model", LogisticRegression(C=10)),
    ])


def describe(spec: dict[str, Any]) -> str:
    parts = []
    for f in spec["features"]:
        if f["type"] == "text":
            sub = ", sublinear" if f.get("sublinear_tf") else ""
            parts.append(f"{f.get('vectorizer', 'tfidf')} {f.get('analyzer', 'word')} "
                         f"{tuple(f.get('ngram_range', (1, 1)))}{sub}")
    kinds = Counter(f["type"] for f in spec["features"] if f["type"] != "text")
    parts += [f"{n} {kind}" for kind, n in sorted(kinds.items())]
    params = ", ".join(f"{k}={v}" for k, v in sorted((spec["model"].get("params") or {}).items()))
    return f"{' + '.join(parts)} -> {spec['model']['class'].rsplit('.', 1)[-1]}({params})"


class Recipe:
    """A way to train on a subset of a sample's tasks: fit(indices) -> fitted, predict(fitted, indices)."""

    def __init__(self, name: str, label: str, make: Callable[[], Any], inputs: Callable[[np.ndarray], Any]):
        self.name, self.label, self.make, self.inputs = name, label, make, inputs

    def fit(self, X_idx: np.ndarray, y: np.ndarray) -> tuple[Any, float]:
        started = time.perf_counter()
        model = self.make().fit(self.inputs(X_idx), y)
        return model, time.perf_counter() - started


def recipes_for(spec: dict[str, Any], tasks: list[dict[str, Any]]) -> tuple[list[Recipe], list[int]]:
    """The recipes that apply to a sample, and the indices of the tasks they can read."""
    rows, usable = [], []
    for i, task in enumerate(tasks):
        try:
            rows.append(read_row(task.get("data"), spec["features"]))
            usable.append(i)
        except BadTaskError:
            pass
    by_task = dict(zip(usable, rows))
    target = make_target(find_target(parse_label_config(spec["labeling_config"]), spec["target"]))
    recipes = [Recipe("ours", f"ours: {describe(spec)}", lambda: build_model(spec, target),
                      lambda idx: rows_to_matrix([by_task[i] for i in idx]))]
    text = next((f for f in spec["features"] if f["type"] == "text"), None)
    if text is not None:
        texts = {i: "" if (v := read_field(tasks[i].get("data"), text["field"])) is None else str(v)
                 for i in usable}
        recipes.append(Recipe("reference", "reference: tfidf word (1, 3) -> LogisticRegression(C=10)",
                              reference_text_recipe, lambda idx: [texts[i] for i in idx]))
    return recipes, usable


def run_sample(folder: Path, args: argparse.Namespace, out: Callable[[str], None]) -> None:
    spec = load_spec(folder / "backend.yaml")
    tasks = json.loads((folder / "tasks.json").read_text())
    truth = json.loads((folder / "heldout_labels.json").read_text())
    if len(truth) != len(tasks):
        raise ValueError(f"{folder.name}: {len(tasks)} tasks but {len(truth)} labels")
    recipes, usable = recipes_for(spec, tasks)
    idx = np.asarray(usable)
    y_all = np.asarray(truth, dtype=object)
    y = y_all[idx]
    n = len(idx)
    counts = Counter(y.tolist())
    max_train = n - math.ceil(args.min_heldout * n)
    sizes: list[tuple[str, int]] = []
    for size in SIZES:
        if size <= max_train:
            sizes.append((str(size), size))
        elif not sizes or sizes[-1][1] < max_train:
            sizes.append((f"{max_train} (max)", max_train))
    short = max(SIZES) > max_train

    out(f"== {folder.name}: {n} usable tasks of {len(tasks)}, {len(counts)} classes "
        f"({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))}); majority class {max(counts.values()) / n:.3f}")
    for recipe in recipes:
        out(f"   {recipe.label}")
    if short:
        out(f"   only {n} tasks: no 800-task training set; the largest size keeps {args.min_heldout:.0%} held out "
            f"({max_train} train / {n - max_train} held out); 800 rows made by repeating the tasks are timed below")
    header = (f"   {'train':>11}  {'recipe':<10}{'accuracy':>15}{'macro-F1':>15}{'fit ms':>10}"
              f"{'ref/ours':>10}{'held-out':>10}")
    out(header)
    out("   " + "-" * (len(header) - 3))
    converge = Counter()
    for label, size in sizes:
        stats = {r.name: {"acc": [], "f1": [], "time": []} for r in recipes}
        heldout_sizes = []
        for seed in range(args.seeds):
            train, test = train_test_split(np.arange(n), train_size=size, stratify=y, random_state=seed)
            heldout_sizes.append(len(test))
            models = {}
            for rep in range(args.repeats):  # recipes alternate, so the machine's noise hits both
                for recipe in (recipes if rep % 2 == 0 else recipes[::-1]):
                    with warnings.catch_warnings(record=True) as caught:
                        warnings.simplefilter("always", ConvergenceWarning)
                        models[recipe.name], seconds = recipe.fit(idx[train], y[train])
                    converge[recipe.name] += sum(issubclass(w.category, ConvergenceWarning) for w in caught)
                    stats[recipe.name]["time"].append(seconds)
            for recipe in recipes:
                predicted = models[recipe.name].predict(recipe.inputs(idx[test]))
                stats[recipe.name]["acc"].append(accuracy_score(y[test], predicted))
                stats[recipe.name]["f1"].append(f1_score(y[test], predicted, average="macro"))
        ours_time = statistics.median(stats["ours"]["time"])
        for recipe in recipes:
            s = stats[recipe.name]
            t = statistics.median(s["time"])
            ratio = f"{t / ours_time:.2f}" if recipe.name != "ours" else ""
            out(f"   {label:>11}  {recipe.name:<10}{fmt(s['acc']):>15}{fmt(s['f1']):>15}{t * 1000:>10.1f}"
                f"{ratio:>10}{statistics.median(heldout_sizes):>10.0f}")
    if short:
        times = {r.name: [] for r in recipes}
        for seed in range(args.seeds):
            order = np.random.default_rng(seed).permutation(n)
            rows = np.resize(order, max(SIZES))  # the tasks, shuffled, repeated up to 800 rows
            for rep in range(args.repeats):
                for recipe in (recipes if rep % 2 == 0 else recipes[::-1]):
                    with warnings.catch_warnings(record=True) as caught:
                        warnings.simplefilter("always", ConvergenceWarning)
                        _, seconds = recipe.fit(idx[rows], y[rows])
                    converge[recipe.name] += sum(issubclass(w.category, ConvergenceWarning) for w in caught)
                    times[recipe.name].append(seconds)
        ours_time = statistics.median(times["ours"])
        for recipe in recipes:
            t = statistics.median(times[recipe.name])
            ratio = f"{t / ours_time:.2f}" if recipe.name != "ours" else ""
            out(f"   {'800 (rep.)':>11}  {recipe.name:<10}{'timing only':>15}{'':>15}{t * 1000:>10.1f}{ratio:>10}{'-':>10}")
        out(f"   800 (rep.) = the {n} tasks shuffled and repeated to 800 rows (duplicates): "
            f"training time only, no accuracy")
    if any(converge.values()):
        out("   ConvergenceWarnings: " + ", ".join(f"{k} {v}" for k, v in converge.items() if v)
            + " (of the fits above; the recipes are run with their defaults)")
    out("")


def fmt(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f}±{sd:.3f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5, help="stratified draws per training size (seeds 0..N-1)")
    parser.add_argument("--repeats", type=int, default=5, help="timed fits per draw and recipe")
    parser.add_argument("--min-heldout", type=float, default=0.2,
                        help="smallest fraction of the tasks to keep held out (caps the training size)")
    parser.add_argument("--sample", action="append", help="only this sample (repeatable)")
    parser.add_argument("--blas-threads", type=int, default=1,
                        help="limit BLAS/OpenMP threads during the fits (threadpoolctl); 0 = the libraries' default")
    args = parser.parse_args(argv)

    folders = sorted(p for p in SAMPLES.iterdir()
                     if (p / "backend.yaml").exists() and (p / "tasks.json").exists()
                     and (p / "heldout_labels.json").exists())
    if args.sample:
        folders = [p for p in folders if p.name in args.sample]
    if not folders:
        print("no sample with backend.yaml, tasks.json and heldout_labels.json", file=sys.stderr)
        return 1
    print(f"mlgen learning curves, {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}, {os.cpu_count()} CPUs, "
          f"python {platform.python_version()}, scikit-learn {sklearn.__version__}, numpy {np.__version__}")
    print(f"{args.seeds} stratified draws per size (seeds 0..{args.seeds - 1}), held-out = the tasks not drawn; "
          f"accuracy and macro-F1 as mean±sd over draws; fit ms = median of {args.seeds}x{args.repeats} fits; "
          f"ref/ours = reference fit time / ours", flush=True)
    started = time.perf_counter()
    limits = threadpool_limits(args.blas_threads) if args.blas_threads > 0 else contextlib.nullcontext()
    with limits:
        pools = ", ".join(f"{p['internal_api']} {p['num_threads']}" for p in threadpool_info())
        print(f"thread pools during the fits: {pools}"
              + (" (--blas-threads 0 for the libraries' defaults)" if args.blas_threads > 0 else "") + "\n")
        for folder in folders:
            run_sample(folder, args, lambda line: print(line, flush=True))
    print(f"({time.perf_counter() - started:.0f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
