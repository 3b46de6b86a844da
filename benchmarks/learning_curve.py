"""Learning curves of each sample's recipe, beside plain baselines, for every target kind.

For every sample under samples/ that has tasks.json and heldout_labels.json (the true answer of
every task: a choice, a list of choices or a number), this fits the sample's model exactly as
the generated service does: the normalized spec from mlgen.load_spec, the target kind from the
labeling config and the spec's `prediction` options (make_target), rows from the runtime's
read_row, and the runtime's fit_model (imported from the cookiecutter template), then measures
it with the kind's own `scores` on the held-out tasks. Beside it, on the same draws:

* single choice with a text feature, "reference": TfidfVectorizer(ngram_range=(1, 3),
  token_pattern=r"(?u)\\b\\w\\w+\\b") then LogisticRegression(C=10), on the same text;
* multiple choice with a text feature, "reference": the same TF-IDF, then
  OneVsRestClassifier(LogisticRegression(C=10)), a choice predicted at probability >= 0.5;
* number or rating, "ridge": StandardScaler then Ridge(alpha=1.0) on the numeric task fields the
  spec's features read (a category feature whose values are all numbers included, as numbers);
* always "constant": the training draw's majority class, or the label set with the best value
  of the spec's metric on the training draw, or the training draw's median
  (DummyRegressor(strategy="median")).
* spans (`<Labels>` on a `<Text>`), "gazetteer": every entity string of the training draw, each
  labelled with its most frequent label there, found again in a held-out text (str.find, longest
  first, no overlaps), as tests/e2e/test_samples.py's span_quality does; no constant (a text
  given no entity scores 0);
* an image feature (samples/digits), "centroid": NearestCentroid on the same pixels (the
  runtime's ImageVectorizer of the same prepared images); the constant as for single choice.
  The images are read from the sample folder (the file a `/data/local-files/?d=...` URL names),
  decoded by the runtime's fetch.decode_image and prepared by its ImageLoader, as a training does
  with the images Label Studio serves: no HTTP;
Every recipe is scored by the same kind's `scores`, made without the spec's `prediction`
options: a multiple-choice output is chosen at 0.5, which is what the service serves (with
`threshold: tuned`, the kind's scores would re-tune the thresholds on halves of the held-out
tasks, as the service's evaluation does on its training annotations).

Before any figure counts, it checks that the figures are what users get: after every fit of
"ours", the runtime's predict_tasks (the /predict code path, on a stand-in service holding the
fitted model) predicts the held-out tasks; every prediction must read back through the kind's
`answer` (only a multiple-choice prediction may be empty: no choice reached its threshold, and
the share of those is shown), with a finite score in [0, 1], and the metric recomputed from
those answers must equal the kind's score of the outputs. The annotations in tasks.json must
agree with heldout_labels.json.

Training sets of 20, 50, 100, 200 and 800 annotations are drawn from all the sample's tasks,
labelled from heldout_labels.json (each sample's tasks.json annotates only 100 of them):
train_test_split with random_state = seed, seeds 0..4, stratified by class for single choice,
shuffled otherwise (a set of choices or a number cannot be stratified on); the held-out set is
every task not drawn. A size that would leave less than --min-heldout of the tasks held out is
replaced by the largest size that does not (noted in the output), and 800 rows made by
repeating the sample's tasks are then timed too (timing only, clearly labelled). Spans and
images are measured at 20, 50, 100 and 200 only (300 tasks each; no 800-row timing).

Metrics are means over seeds (± standard deviation); training time is the median of every timed
fit (seeds x --repeats, the recipes alternating), a fit being fit_model (rows_to_matrix, encode,
Pipeline.fit) for ours and Pipeline.fit for a baseline; the constant is not timed. BLAS/OpenMP
thread pools are limited to --blas-threads (default 1) during the fits: on a shared 2-core
machine, OpenBLAS's default of 2 threads made LogisticRegression's fits up to 10x slower and
erratic. The generated service's own training also measures the model out of sample first
(k-fold or holdout: more fits) and saves it; only the final fit is timed here (with
`prediction.threshold: tuned`, the evaluation that tunes the thresholds is part of the fit).

    /work/main/.venv/bin/python benchmarks/learning_curve.py [--seeds 5] [--repeats 5] [--blas-threads 1]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import itertools
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
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import sklearn
from sklearn.dummy import DummyRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error
from sklearn.model_selection import train_test_split
from sklearn.multiclass import OneVsRestClassifier
from sklearn.neighbors import NearestCentroid
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_info, threadpool_limits

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples"
RUNTIME = REPO / "cookiecutter-template" / "{{cookiecutter.project_slug}}"
sys.path.insert(0, str(RUNTIME))
sys.dont_write_bytecode = True  # leave no __pycache__ in the template

from backend.config import Config  # noqa: E402
from backend.evaluation import evaluate  # noqa: E402
from backend.fastpath import compile_model  # noqa: E402
from backend.features import BadTaskError, read_field, read_row, rows_to_matrix  # noqa: E402
from backend.fetch import decode_image  # noqa: E402
from backend.images import ImageLoader  # noqa: E402
from backend.labelconfig import find_target, parse_label_config  # noqa: E402
from backend.model import fit_model  # noqa: E402
from backend.predictor import predict_tasks  # noqa: E402
from backend.targets import Target, UnreadableAnswer, answer_key, make_target  # noqa: E402
from backend.targets.number import RESIDUAL_FOLDS  # noqa: E402
from mlgen import load_spec  # noqa: E402

SIZES = (20, 50, 100, 200, 800)
SHORT_SIZES = (20, 50, 100, 200)  # spans and images: 300 tasks each, no 800-row timing
# The metrics shown besides the spec's evaluation.metric, per kind (the spec's one comes first).
SHOWN = {
    "single_choice": ("accuracy", "f1_macro"),
    "multiple_choice": ("f1_samples", "f1_micro"),
    "number": ("mae", "r2"),
    "rating": ("mae", "r2"),
    "spans": ("f1_micro", "precision_micro", "recall_micro"),
}
MULTI = "multiple_choice"
SPANS = "spans"


def is_regression(target: Target) -> bool:
    return target.estimator_type == "regressor"


# recipes -------------------------------------------------------------------------------------


def tfidf_1_3() -> TfidfVectorizer:
    return TfidfVectorizer(ngram_range=(1, 3), token_pattern=r"(?u)\b\w\w+\b")


def describe(spec: dict[str, Any], target: Target) -> str:
    parts = []
    for f in spec["features"]:
        if f["type"] == "text":
            sub = ", sublinear" if f.get("sublinear_tf") else ""
            parts.append(f"{f.get('vectorizer', 'tfidf')} {f.get('analyzer', 'word')} "
                         f"{tuple(f.get('ngram_range', (1, 1)))}{sub}")
        elif f["type"] == "tokens":
            parts.append(f"tokens window {f.get('window', 2)}, affixes {f.get('affixes', 3)}"
                         f"{', shape' if f.get('shape', True) else ''}")
        elif f["type"] == "image":
            parts.append(f"image {f.get('representation', 'pixels')} {'x'.join(map(str, f.get('size', (32, 32))))}"
                         f"{' grey' if f.get('grey', True) else ' RGB'}")
    kinds = Counter(f["type"] for f in spec["features"] if f["type"] not in ("text", "tokens", "image"))
    parts += [f"{n} {kind}" for kind, n in sorted(kinds.items())]
    params = ", ".join(f"{k}={v}" for k, v in sorted((spec["model"].get("params") or {}).items()))
    text = f"{' + '.join(parts)} -> {spec['model']['class'].rsplit('.', 1)[-1]}({params})"
    if target.kind == MULTI:
        text += f", one-vs-rest, threshold {target.threshold}"
    elif target.kind == SPANS:
        text += ", SequenceTagger (B-/I- tags, Viterbi)"
    elif is_regression(target):
        text += f" (the {target.kind} kind adds a residual model: 1 + {RESIDUAL_FOLDS} + 1 fits, see targets/number.py)"
    return text


def service_fit(spec: dict[str, Any], target: Target, rows: list[list[Any]], answers: list[Any]) -> Any:
    """The model as the service's full training leaves it: fit_model, then, for a kind with tuned
    thresholds, the thresholds tuned on the evaluation's out-of-sample outputs."""
    model = fit_model(Config.from_spec(spec), target, rows, answers)
    if getattr(target, "tuned", False):
        _, _, measured = evaluate(Config.from_spec(spec), target, rows, answers)
        if measured is not None:
            indexes, outputs = measured
            target.tune(model, [answers[i] for i in indexes], outputs)
    return model


class Recipe:
    """A way to train on some of a sample's tasks: fit(indices) -> (fitted, seconds), and
    outputs(fitted, indices) in the target kind's layout, for the kind's scores."""

    def __init__(self, name: str, label: str, fit: Callable[[np.ndarray], Any],
                 outputs: Callable[[Any, np.ndarray], np.ndarray], timed: bool = True):
        self.name, self.label, self._fit, self.outputs, self.timed = name, label, fit, outputs, timed

    def fit(self, idx: np.ndarray) -> tuple[Any, float]:
        started = time.perf_counter()
        model = self._fit(idx)
        return model, time.perf_counter() - started


def one_hot(target: Target, labels: list[str]) -> np.ndarray:
    out = np.zeros((len(labels), len(target.labels)))
    out[np.arange(len(labels)), [target.index[label] for label in labels]] = 1.0
    return out


def class_outputs(target: Target, model: Any, X: Any) -> np.ndarray:
    """A single-choice classifier's probabilities in the target's column order."""
    proba = model.predict_proba(X)
    out = np.zeros((proba.shape[0], len(target.labels)))
    out[:, [target.index[str(c)] for c in model.classes_]] = proba
    return out


def best_constant_set(target: Target, answers: list[list[str]], metric: str) -> list[str]:
    """The label set that, answered for every task, scores best on these answers."""
    labels = list(target.labels)
    if len(labels) <= 10:
        candidates = [list(c) for r in range(1, len(labels) + 1) for c in itertools.combinations(labels, r)]
    else:
        candidates = [list(s) for s in {tuple(a) for a in answers}]
    sign = 1 if target.metrics[metric] else -1

    def value(labelset: list[str]) -> float:
        outputs = np.repeat(target.encode([labelset]).astype(float), len(answers), axis=0)
        return sign * target.scores(answers, outputs)[metric]

    return max(candidates, key=value)


def numeric_columns(spec: dict[str, Any], tasks: list[dict[str, Any]], usable: list[int]) -> list[str]:
    """The fields of the spec's features whose values are all numbers (or missing)."""
    fields = []
    for f in spec["features"]:
        values = [read_field(tasks[i].get("data"), f["field"]) for i in usable]
        if all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in values) \
                and any(v is not None for v in values):
            fields.append(f["field"])
    return fields


class FolderFetcher:
    """ImageFetcher.load_image from a sample folder: the file a /data/local-files/?d=<path> URL names."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def load_image(self, url: str, credentials: Any = None, *, task_id: Any = None, project: Any = None) -> Any:
        name = parse_qs(urlsplit(url).query).get("d", [""])[0]
        return decode_image((self.folder / name).read_bytes())


def image_loader(spec: dict[str, Any], folder: Path) -> ImageLoader | None:
    """The runtime's ImageLoader, reading the sample's files instead of Label Studio's."""
    if not any(f["type"] == "image" for f in spec["features"]):
        return None
    return ImageLoader(spec["features"], None, lambda project: None, fetcher=FolderFetcher(folder))


def find_all(text: str, gazetteer: list[tuple[str, str]]) -> list[tuple[int, int, str, str, float]]:
    """The gazetteer's strings in the text, longest first, none overlapping an earlier one."""
    found, taken = [], [False] * len(text)
    for name, label in gazetteer:
        at = text.find(name)
        while at != -1:
            if not any(taken[at:at + len(name)]):
                found.append((at, at + len(name), label, name, 1.0))
                taken[at:at + len(name)] = [True] * len(name)
            at = text.find(name, at + 1)
    return sorted(found)


def fit_gazetteer(answers: list[list[Any]]) -> list[tuple[str, str]]:
    known: dict[str, Counter] = {}
    for spans in answers:
        for _, _, label, text in spans:
            if text:
                known.setdefault(text, Counter())[label] += 1
    return [(name, known[name].most_common(1)[0][0]) for name in sorted(known, key=len, reverse=True)]


def objects(values: list[Any]) -> np.ndarray:
    array = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        array[i] = value
    return array


def recipes_for(spec: dict[str, Any], target: Target, plain: Target, tasks: list[dict[str, Any]],
                answers: list[Any], loader: ImageLoader | None = None) -> tuple[list[Recipe], list[int]]:
    """The recipes that apply to a sample, and the indices of the tasks they can read."""
    rows, usable = [], []
    for i, task in enumerate(tasks):
        try:
            rows.append(read_row(task.get("data"), spec["features"]))
            usable.append(i)
        except BadTaskError:
            pass
    if loader is not None:  # every image read and prepared once, as a training's ImageLoader.load does
        unread = loader.load("benchmark", rows, [None] * len(rows), loader.training_seconds)
        rows = [row for k, row in enumerate(rows) if k not in unread]
        usable = [i for k, i in enumerate(usable) if k not in unread]
    by_task = dict(zip(usable, rows))
    ans = lambda idx: [answers[i] for i in idx]  # noqa: E731
    recipes = [Recipe("ours", f"ours: {describe(spec, target)}",
                      lambda idx: service_fit(spec, target, [by_task[i] for i in idx], ans(idx)),
                      lambda m, idx: target.outputs(m, rows_to_matrix([by_task[i] for i in idx])))]
    text = next((f for f in spec["features"] if f["type"] == "text"), None)
    metric = spec["evaluation"].get("metric", target.default_metric)

    if target.kind == SPANS:
        field = next(f["field"] for f in spec["features"] if f["type"] == "tokens")
        texts = {i: str(read_field(tasks[i].get("data"), field) or "") for i in usable}
        recipes.append(Recipe(
            "gazetteer", "gazetteer: the training draw's entity strings, longest first, each with its most "
                         "frequent label, found by str.find",
            lambda idx: fit_gazetteer(ans(idx)),
            lambda g, idx: objects([(find_all(texts[i], g), 1.0) for i in idx])))
        return recipes, usable
    if loader is not None:
        column, vectorizer = next(iter(loader.vectorizers.items()))
        pixels = dict(zip(usable, vectorizer.transform([row[column] for row in rows])))
        image_matrix = lambda idx: np.array([pixels[i] for i in idx])  # noqa: E731
        recipes.append(Recipe(
            "centroid", f"centroid: NearestCentroid() on the same {vectorizer.n_features_out} pixels "
                        "(ImageVectorizer of the same prepared images, outside the timed fit)",
            lambda idx: NearestCentroid().fit(image_matrix(idx), ans(idx)),
            lambda m, idx: one_hot(plain, [str(c) for c in m.predict(image_matrix(idx))])))

    if not is_regression(target) and text is not None:
        texts = {i: "" if (v := read_field(tasks[i].get("data"), text["field"])) is None else str(v)
                 for i in usable}
        docs = lambda idx: [texts[i] for i in idx]  # noqa: E731
        if target.kind == MULTI:
            def fit_reference(idx: np.ndarray) -> Any:
                with warnings.catch_warnings():  # a choice absent from a small draw: never chosen
                    warnings.filterwarnings("ignore", "Label not .* is present in all training examples")
                    return Pipeline([("tfidf", tfidf_1_3()),
                                     ("model", OneVsRestClassifier(LogisticRegression(C=10)))]).fit(
                        docs(idx), plain.encode(ans(idx)))
            recipes.append(Recipe(
                "reference", "reference: tfidf word (1, 3) -> OneVsRestClassifier(LogisticRegression(C=10)), "
                             "threshold 0.5",
                fit_reference, lambda m, idx: m.predict_proba(docs(idx))))
        else:
            recipes.append(Recipe(
                "reference", "reference: tfidf word (1, 3) -> LogisticRegression(C=10)",
                lambda idx: Pipeline([("tfidf", tfidf_1_3()), ("model", LogisticRegression(C=10))]).fit(
                    docs(idx), ans(idx)),
                lambda m, idx: class_outputs(plain, m, docs(idx))))

    if is_regression(target):
        fields = numeric_columns(spec, tasks, usable)
        if fields:
            matrix = {i: [math.nan if (v := read_field(tasks[i].get("data"), f)) is None else float(v)
                          for f in fields] for i in usable}
            table = lambda idx: np.array([matrix[i] for i in idx], dtype=float)  # noqa: E731
            missing = any(math.isnan(v) for row in matrix.values() for v in row)
            steps = ([SimpleImputer(strategy="median")] if missing else []) + [StandardScaler()]
            recipes.append(Recipe(
                "ridge", f"ridge: {len(fields)} numeric fields -> "
                         f"{'SimpleImputer(median) + ' if missing else ''}StandardScaler -> Ridge(alpha=1.0)",
                lambda idx: make_pipeline(*steps, Ridge(alpha=1.0)).fit(table(idx), plain.encode(ans(idx))),
                lambda m, idx: np.column_stack([m.predict(table(idx)), np.zeros(len(idx))])))
        recipes.append(Recipe(
            "constant", "constant: the training draw's median, DummyRegressor(strategy=\"median\")",
            lambda idx: DummyRegressor(strategy="median").fit(np.zeros((len(idx), 1)), plain.encode(ans(idx))),
            lambda m, idx: np.column_stack([m.predict(np.zeros((len(idx), 1))), np.zeros(len(idx))]),
            timed=False))
    elif target.kind == MULTI:
        recipes.append(Recipe(
            "constant", f"constant: the label set with the best {metric} on the training draw, for every task",
            lambda idx: best_constant_set(plain, ans(idx), metric),
            lambda labelset, idx: np.repeat(plain.encode([labelset]).astype(float), len(idx), axis=0),
            timed=False))
    else:
        order = {label: k for k, label in enumerate(target.labels)}
        recipes.append(Recipe(
            "constant", "constant: the training draw's majority class, for every task",
            lambda idx: min(Counter(ans(idx)).items(), key=lambda kv: (-kv[1], order[kv[0]]))[0],
            lambda label, idx: one_hot(plain, [label] * len(idx)),
            timed=False))
    return recipes, usable


# what users get ------------------------------------------------------------------------------


def check_served(spec: dict[str, Any], target: Target, model: Any, tasks: list[dict[str, Any]],
                 truth: list[Any], scored: dict[str, float], loader: ImageLoader | None = None) -> int:
    """Predict the tasks through the runtime's predict_tasks, as /predict does, and check that
    every task gets a real prediction whose answers score what the kind's scores said.
    Returns how many predictions were empty (allowed for multiple choice only)."""
    loaded = SimpleNamespace(model=model, version="benchmark", fast=compile_model(model))  # as registry.load
    service = SimpleNamespace(config=Config.from_spec(spec), target=target, predictions=None, images=loader,
                              registry=SimpleNamespace(
        current=lambda project: loaded, served_version=lambda project: "benchmark"))
    results = predict_tasks(service, "benchmark", tasks)
    assert len(results) == len(tasks), f"{len(results)} predictions for {len(tasks)} tasks"
    answers, empty = [], 0
    for result in results:
        score = result["score"]
        assert result["model_version"] == "benchmark", result
        assert isinstance(score, float) and math.isfinite(score) and 0.0 <= score <= 1.0, result
        if not result["result"]:
            assert target.kind in (MULTI, SPANS), f"an empty prediction (a failed task?): {result}"
            answers.append([])
            empty += 1
            continue
        try:
            answers.append(target.answer(result["result"]))
        except UnreadableAnswer as exc:
            raise AssertionError(f"a prediction that does not read back as an answer ({exc}): {result}") from None
    if target.kind == SPANS:
        name = "f1_micro"
        true = {(k, tuple(s[:3])) for k, spans in enumerate(truth) for s in spans}
        found = {(k, tuple(s[:3])) for k, spans in enumerate(answers) for s in spans}
        served = 2 * len(true & found) / (len(true) + len(found)) if true or found else 1.0
    elif target.kind == MULTI:
        name = "f1_samples"
        served = f1_score(target.encode(truth), target.encode(answers), average="samples", zero_division=0)
    elif is_regression(target):
        name, served = "mae", mean_absolute_error(target.encode(truth), np.asarray(answers, dtype=float))
    else:
        name, served = "accuracy", accuracy_score(truth, answers)
    assert abs(served - scored[name]) < 1e-3, \
        f"{name} of the served predictions {served:.4f} != the kind's score of the outputs {scored[name]}"
    return empty


def check_annotations(target: Target, tasks: list[dict[str, Any]], truth: list[Any]) -> int:
    """The tasks' own annotations, read by the kind's `answer`, agree with heldout_labels.json."""
    n = 0
    for i, task in enumerate(tasks):
        for annotation in task.get("annotations") or []:
            given = target.answer(annotation.get("result"))
            if answer_key(given) != answer_key(truth[i]):
                raise ValueError(f"task {i}: annotated {given!r}, heldout_labels.json says {truth[i]!r}")
            n += 1
    return n


# the run -------------------------------------------------------------------------------------


def run_sample(folder: Path, args: argparse.Namespace, out: Callable[[str], None]) -> None:
    spec = load_spec(folder / "backend.yaml")
    tasks = json.loads((folder / "tasks.json").read_text())
    raw_truth = json.loads((folder / "heldout_labels.json").read_text())
    if len(raw_truth) != len(tasks):
        raise ValueError(f"{folder.name}: {len(tasks)} tasks but {len(raw_truth)} labels")
    control = find_target(parse_label_config(spec["labeling_config"]), spec["target"])
    target = make_target(control, spec.get("prediction"))
    plain = make_target(control)  # the baselines: no prediction options, a 0.5 threshold
    # every true label read back as the service reads an annotation (checks it, orders choices)
    truth = [target.answer(target.result(a)) for a in raw_truth]
    annotated = check_annotations(target, tasks, truth)
    loader = image_loader(spec, folder)
    recipes, usable = recipes_for(spec, target, plain, tasks, truth, loader)
    timed = [r for r in recipes if r.timed]
    idx = np.asarray(usable)
    answers = [truth[i] for i in usable]
    n = len(idx)
    max_train = n - math.ceil(args.min_heldout * n)
    sizes: list[tuple[str, int]] = []
    short_sizes = target.kind == SPANS or loader is not None
    for size in SHORT_SIZES if short_sizes else SIZES:
        if size <= max_train:
            sizes.append((str(size), size))
        elif not sizes or sizes[-1][1] < max_train:
            sizes.append((f"{max_train} (max)", max_train))
    short = max(SIZES) > max_train and not short_sizes
    metric = spec["evaluation"].get("metric", target.default_metric)
    shown = [metric] + [m for m in SHOWN.get(target.kind, (target.default_metric,)) if m != metric]
    stratify = None if target.kind in (MULTI, SPANS) or is_regression(target) else np.asarray(answers)

    if is_regression(target):
        y = np.asarray(answers, dtype=float)
        what = (f"{target.kind} '{target.name}', {y.min():g} to {y.max():g}, median {np.median(y):g}, "
                f"mean {y.mean():.1f}")
    elif target.kind == SPANS:
        counts = Counter(span[2] for a in answers for span in a)
        what = (f"{target.kind} '{target.name}', {sum(counts.values())} entities "
                f"({', '.join(f'{k} {counts[k]}' for k in target.labels)}), "
                f"{sum(not a for a in answers)} texts without any")
    elif target.kind == MULTI:
        counts = Counter(label for a in answers for label in a)
        what = (f"{target.kind} '{target.name}', {len(target.labels)} choices, "
                f"{statistics.mean(len(a) for a in answers):.2f} per task "
                f"({', '.join(f'{k} {counts[k]}' for k in target.labels)}); {len(set(map(tuple, answers)))} label sets")
    else:
        counts = Counter(answers)
        what = (f"{target.kind} '{target.name}', {len(counts)} classes "
                f"({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))}); "
                f"majority class {max(counts.values()) / n:.3f}")
    out(f"== {folder.name}: {n} usable tasks of {len(tasks)}, {what}")
    for recipe in recipes:
        out(f"   {recipe.label}")
    out(f"   metrics: the kind's scores; {metric} is the spec's evaluation.metric (*), "
        + ", ".join(f"{m} {'higher' if target.metrics[m] else 'lower'} is better" for m in shown))
    out(f"   labels: heldout_labels.json for every task, training draws included (tasks.json annotates {annotated} "
        f"task(s), which agree with it); draws {'stratified by class' if stratify is not None else 'shuffled'}")
    if short:
        out(f"   only {n} tasks: the sizes above {max_train} are replaced by the largest that keeps "
            f"{args.min_heldout:.0%} held out ({max_train} train / {n - max_train} held out); 800 rows made by "
            f"repeating the tasks are timed below")
    extra = target.kind == MULTI
    w = max(15, *(len(m) + 3 for m in shown))  # a metric's column
    header = (f"   {'train':>11}  {'recipe':<10}"
              + "".join(f"{(m + '*') if m == metric else m:>{w}}" for m in shown)
              + (f"{'no pred':>9}" if extra else "")
              + f"{'fit ms':>10}{'t/ours':>8}{'held-out':>10}")
    out(header)
    out("   " + "-" * (len(header) - 3))
    converge = Counter()
    served_checks = 0
    for label, size in sizes:
        stats = {r.name: {"scores": {m: [] for m in shown}, "empty": [], "time": []} for r in recipes}
        heldout_sizes = []
        for seed in range(args.seeds):
            train, test = train_test_split(np.arange(n), train_size=size, stratify=stratify, random_state=seed)
            heldout_sizes.append(len(test))
            models = {}
            for rep in range(args.repeats):  # recipes alternate, so the machine's noise hits all
                for recipe in (timed if rep % 2 == 0 else timed[::-1]):
                    with warnings.catch_warnings(record=True) as caught:
                        warnings.simplefilter("always", ConvergenceWarning)
                        models[recipe.name], seconds = recipe.fit(idx[train])
                    converge[recipe.name] += sum(issubclass(w.category, ConvergenceWarning) for w in caught)
                    stats[recipe.name]["time"].append(seconds)
            for recipe in recipes:
                if not recipe.timed:
                    models[recipe.name], _ = recipe.fit(idx[train])
                outputs = recipe.outputs(models[recipe.name], idx[test])
                assert outputs.shape[0] == len(test), recipe.name
                assert (all(o is not None for o in outputs) if outputs.dtype == object
                        else np.isfinite(outputs).all()), recipe.name
                truth_test = [answers[i] for i in test]
                # plain: decisions at 0.5 of the outputs, which is what the service serves (with
                # tuned thresholds, target.scores would re-tune them on halves of the held-out tasks)
                scores = plain.scores(truth_test, outputs)
                for m in shown:
                    stats[recipe.name]["scores"][m].append(scores.get(m, math.nan))
                if recipe.name == "ours":
                    empty = check_served(spec, target, models["ours"], [tasks[i] for i in idx[test]],
                                         truth_test, scores, loader)
                    served_checks += 1
                elif extra:
                    empty = int((~(outputs >= 0.5).any(axis=1)).sum())
                else:
                    empty = 0
                stats[recipe.name]["empty"].append(empty / len(test))
        ours_time = statistics.median(stats["ours"]["time"])
        for recipe in recipes:
            s = stats[recipe.name]
            t = statistics.median(s["time"]) if s["time"] else None
            ms = f"{t * 1000:.1f}" if t is not None else "-"
            ratio = f"{t / ours_time:.2f}" if t is not None and recipe.name != "ours" else ""
            out(f"   {label:>11}  {recipe.name:<10}"
                + "".join(f"{fmt(s['scores'][m], m):>{w}}" for m in shown)
                + (f"{statistics.mean(s['empty']):>9.1%}" if extra else "")
                + f"{ms:>10}{ratio:>8}{statistics.median(heldout_sizes):>10.0f}")
    if short:
        times = {r.name: [] for r in timed}
        for seed in range(args.seeds):
            order = np.random.default_rng(seed).permutation(n)
            rows = np.resize(order, max(SIZES))  # the tasks, shuffled, repeated up to 800 rows
            for rep in range(args.repeats):
                for recipe in (timed if rep % 2 == 0 else timed[::-1]):
                    with warnings.catch_warnings(record=True) as caught:
                        warnings.simplefilter("always", ConvergenceWarning)
                        _, seconds = recipe.fit(idx[rows])
                    converge[recipe.name] += sum(issubclass(w.category, ConvergenceWarning) for w in caught)
                    times[recipe.name].append(seconds)
        ours_time = statistics.median(times["ours"])
        pad = len(shown) * w + (9 if extra else 0)
        for recipe in timed:
            t = statistics.median(times[recipe.name])
            ratio = f"{t / ours_time:.2f}" if recipe.name != "ours" else ""
            out(f"   {'800 (rep.)':>11}  {recipe.name:<10}{'timing only':>15}{'':>{pad - 15}}"
                f"{t * 1000:>10.1f}{ratio:>8}{'-':>10}")
        out(f"   800 (rep.) = the {n} tasks shuffled and repeated to 800 rows (duplicates): "
            f"training time only, no metric")
    out(f"   served: all {served_checks} fits of ours predicted their held-out tasks through predict_tasks: "
        + ("every prediction reads back as an answer, except the empty ones counted in 'no pred' "
           "(no choice reached its threshold)" if extra
           else "every prediction reads back as an answer (a text may get no entity)" if target.kind == SPANS
           else "every prediction non-empty and read back as an answer")
        + f"; the {'f1_samples' if extra else 'f1_micro' if target.kind == SPANS else 'mae' if is_regression(target) else 'accuracy'} "
          "of the served answers equals the kind's score")
    if any(converge.values()):
        out("   ConvergenceWarnings: " + ", ".join(f"{k} {v}" for k, v in converge.items() if v)
            + " (of the fits above; the recipes are run with their defaults)")
    out("")


def fmt(values: list[float], metric: str) -> str:
    if any(math.isnan(v) for v in values):
        return "n/a"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    digits = 2 if metric in ("mae", "rmse") else 3
    return f"{statistics.mean(values):.{digits}f}±{sd:.{digits}f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5, help="draws per training size (seeds 0..N-1)")
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
    print(f"{args.seeds} draws per size (seeds 0..{args.seeds - 1}), held-out = the tasks not drawn; "
          f"metrics as mean±sd over draws; no pred = share of held-out tasks given no choice; "
          f"fit ms = median of {args.seeds}x{args.repeats} fits; t/ours = the recipe's fit time / ours", flush=True)
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
