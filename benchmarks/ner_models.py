"""Named-entity taggers on samples/ner: strict entity F1, training time, model file size and
skops save+load time, by number of training texts.

Every recipe is the runtime's own code, imported from the cookiecutter template: TokenFeatures
(backend/tokens.py) then a tagger of backend/sequence.py:

* sgd-dict: SequenceTagger's defaults, a DictVectorizer (one column per feature seen in training)
  + SGDClassifier(log_loss, alpha=1e-4), constrained Viterbi;
* sgd-hash: the same with a FeatureHasher of 2**18 columns instead (no vectorizer state, but a
  dense coef_ of 9 tags x 2**18);
* sgd-hash16: the same with 2**16 columns;
* logreg-dict: sgd-dict with LogisticRegression(C=10) (lbfgs) instead of SGD;
* crf: CrfTagger, python-crfsuite (c1=0.1, c2=0.1, 100 iterations), if pycrfsuite is installed.

For each seed, the sample's 300 texts are shuffled (random.Random(seed)); the first --test (100)
are the held-out set and the training texts are the first n of the rest, for n in --sizes
(20 50 100 200), labelled from heldout_labels.json (every task's true entities). F1 is
entity-level micro F1, strict: a predicted entity counts only if its start, end and label all
equal a true one's. Fit time is featurization + fit of the training texts (what a training
does); predict is featurization + predict_spans of the held-out texts, per 100 texts, and of
one text at a time (median of 20: what Label Studio asks for when a task is opened); save+load
is skops.io.dumps then get_untrusted_types and loads (which must list only backend.* types,
and the loaded model must predict exactly what the fitted one did). Figures are means over
seeds (F1 with its standard deviation), times medians; BLAS thread pools are limited to 1.

    /work/main/.venv/bin/python benchmarks/ner_models.py [--seeds 5] [--sizes 20 50 100 200]
    /work/main/.venv/bin/python benchmarks/ner_models.py --window 1 --affixes 2   # other token features

About 1 minute with the defaults on 2 shared cores.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import skops.io
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "samples" / "ner"
RUNTIME = REPO / "cookiecutter-template" / "{{cookiecutter.project_slug}}"
sys.path.insert(0, str(RUNTIME))
sys.dont_write_bytecode = True  # leave no __pycache__ in the template

from backend.sequence import CrfTagger, SequenceTagger  # noqa: E402
from backend.tokens import TokenFeatures  # noqa: E402

LABELS = ("PER", "ORG", "LOC", "DATE")  # as in samples/ner/labeling_config.xml


def recipes(crf: bool) -> dict[str, Callable[[], Any]]:
    found = {
        "sgd-dict": lambda: SequenceTagger(labels=LABELS, vectorizer="dict"),
        "sgd-hash": lambda: SequenceTagger(labels=LABELS, vectorizer="hashing"),
        "sgd-hash16": lambda: SequenceTagger(labels=LABELS, vectorizer="hashing", n_features=2**16),
        "logreg-dict": lambda: SequenceTagger(LogisticRegression(C=10, max_iter=1000), LABELS, vectorizer="dict"),
    }
    if crf:
        found["crf"] = lambda: CrfTagger(labels=LABELS)
    return found


def strict_f1(truth: list[list], predictions: list) -> float:
    hits = n_true = n_predicted = 0
    for spans, (entities, _) in zip(truth, predictions):
        true = {(start, end, label) for start, end, label, *_ in spans}
        guess = {(e.start, e.end, e.label) for e in entities}
        hits, n_true, n_predicted = hits + len(true & guess), n_true + len(true), n_predicted + len(guess)
    precision = hits / n_predicted if n_predicted else 0.0
    recall = hits / n_true if n_true else 0.0
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def save_and_load(model: Any) -> tuple[Any, int, float]:
    start = time.perf_counter()
    data = skops.io.dumps(model)
    untrusted = skops.io.get_untrusted_types(data=data)
    loaded = skops.io.loads(data, trusted=untrusted)
    seconds = time.perf_counter() - start
    foreign = [name for name in untrusted if not name.startswith("backend.")]
    if foreign:
        raise AssertionError(f"untrusted types beyond backend.*: {foreign}")
    return loaded, len(data), seconds


def run_one(make: Callable[[], Any], features: TokenFeatures, train: list[tuple[str, list]],
            test: list[tuple[str, list]]) -> dict[str, float]:
    start = time.perf_counter()
    tagger = make().fit(features.transform([text for text, _ in train]), [spans for _, spans in train])
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    predictions = tagger.predict_spans(features.transform([text for text, _ in test]))
    predict_s = (time.perf_counter() - start) * 100 / len(test)
    singles = []
    for text, _ in test[:20]:
        start = time.perf_counter()
        tagger.predict_spans(features.transform([text]))
        singles.append(time.perf_counter() - start)
    loaded, size, io_s = save_and_load(tagger)
    if loaded.predict_spans(features.transform([text for text, _ in test])) != predictions:
        raise AssertionError("the loaded model predicts otherwise")
    return {"f1": strict_f1([spans for _, spans in test], predictions), "fit": fit_s, "predict": predict_s,
            "one": statistics.median(singles) * 1000, "io": io_s, "size": size}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 50, 100, 200])
    parser.add_argument("--test", type=int, default=100, help="held-out texts per seed")
    parser.add_argument("--window", type=int, default=2)
    parser.add_argument("--affixes", type=int, default=3)
    parser.add_argument("--only", nargs="+", help="run only these recipes")
    args = parser.parse_args()
    texts = [task["data"]["text"] for task in json.loads((SAMPLE / "tasks.json").read_text(encoding="utf-8"))]
    truth = json.loads((SAMPLE / "heldout_labels.json").read_text(encoding="utf-8"))
    items = list(zip(texts, truth))
    if max(args.sizes) + args.test > len(items):
        raise SystemExit(f"the sample has {len(items)} texts: sizes + --test must not exceed that")
    try:
        import pycrfsuite  # noqa: F401
        crf = True
    except ImportError:
        print("pycrfsuite is not installed: no crf row (pip install python-crfsuite==0.9.12)")
        crf = False
    chosen = {k: v for k, v in recipes(crf).items() if not args.only or k in args.only}
    features = TokenFeatures(window=args.window, affixes=args.affixes)
    results: dict[tuple[str, int], list[dict[str, float]]] = {}
    with threadpool_limits(1):
        for seed in range(args.seeds):
            shuffled = items[:]
            random.Random(seed).shuffle(shuffled)
            test, pool = shuffled[: args.test], shuffled[args.test :]
            for n in args.sizes:
                for name, make in chosen.items():
                    results.setdefault((name, n), []).append(run_one(make, features, pool[:n], test))
    print_table(results, args, chosen)
    return 0


def print_table(results: dict[tuple[str, int], list[dict[str, float]]], args: argparse.Namespace,
                chosen: dict[str, Any]) -> None:
    print(f"samples/ner, {args.seeds} seeds, {args.test} held-out texts per seed, "
          f"TokenFeatures(window={args.window}, affixes={args.affixes})")
    print(f"{'recipe':12} {'n':>4} {'F1 (strict)':>14} {'fit s':>7} {'predict s/100':>14} {'1 text ms':>10} "
          f"{'save+load s':>12} {'file KB':>8}")
    for name in chosen:
        for n in args.sizes:
            runs = results[(name, n)]
            f1 = [r["f1"] for r in runs]
            spread = statistics.stdev(f1) if len(f1) > 1 else 0.0
            print(f"{name:12} {n:4d} {statistics.mean(f1):8.3f} ±{spread:.3f} "
                  f"{statistics.median(r['fit'] for r in runs):7.2f} "
                  f"{statistics.median(r['predict'] for r in runs):14.3f} "
                  f"{statistics.median(r['one'] for r in runs):10.2f} "
                  f"{statistics.median(r['io'] for r in runs):12.3f} "
                  f"{statistics.median(r['size'] for r in runs) / 1000:8.0f}")


if __name__ == "__main__":
    sys.exit(main())
