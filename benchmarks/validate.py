"""How fast `mlgen validate` checks many specs in one call, against check-jsonschema.

Writes N generated specs (varied names, labels, features, estimators and params, with inline
labeling configs; every tenth one broken), then times, in the same run and alternating:

* `mlgen validate DIR/*.yaml --format json` (schema plus every semantic check), and
* `check-jsonschema --schemafile schemas/backend.schema.json DIR/*.yaml` (schema only), the
  tool users would otherwise put in CI.

Both are whole-process wall times, start-up included, median of --rounds. Needs
`pip install check-jsonschema==0.39.0` beside mlgen.

    .venv/bin/python benchmarks/validate.py [--files 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCHEMA = REPO / "schemas" / "backend.schema.json"
BIN = Path(sys.executable).parent
MODELS = [
    {"class": "LogisticRegression", "params": {"C": 2.0, "max_iter": 500}},
    {"class": "SGDClassifier", "params": {"loss": "log_loss", "alpha": 0.0001}},
    {"class": "ComplementNB", "params": {"alpha": 0.3}},
    {"class": "RandomForestClassifier", "params": {"n_estimators": 50, "max_depth": 8}},
    {"class": "sklearn.naive_bayes.MultinomialNB", "params": {}},
]
BROKEN = [
    lambda s: s["model"]["params"].update(max_itr=3),
    lambda s: s["features"][0].update(type="txt"),
    lambda s: s.update(trainig={}),
    lambda s: s.update(target="nope"),
    lambda s: s["model"].update(**{"class": "LinearSVC"}),
]


def make_spec(i: int, rng: random.Random) -> dict:
    labels = [f"label{i}_{k}" for k in range(rng.randint(2, 6))]
    choices = "".join(f'<Choice value="{label}"/>' for label in labels)
    config = f'<View><Text name="text" value="$text"/><Choices name="c{i}" toName="text">{choices}</Choices></View>'
    spec = {
        "version": 1, "name": f"spec-{i}", "labeling_config": config, "target": f"c{i}",
        "features": [{"field": "text", "type": "text", "ngram_range": [1, rng.randint(1, 3)],
                      "analyzer": rng.choice(["word", "char_wb"])}],
        "model": json.loads(json.dumps(rng.choice(MODELS))),
        "training": {"min_annotations": rng.randint(2, 50), "retrain_every": rng.randint(1, 20)},
        "active_learning": {"strategy": rng.choice(["least_confidence", "margin", "entropy"])},
    }
    if i % 10 == 9:
        rng.choice(BROKEN)(spec)
    return spec


def timed(command: list[str]) -> tuple[float, int]:
    started = time.perf_counter()
    result = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started, result.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    for tool in ("mlgen", "check-jsonschema"):
        if not (BIN / tool).exists():
            print(f"{tool} is not installed in {BIN}", file=sys.stderr)
            return 2
    folder = Path(tempfile.mkdtemp(prefix="mlgen-validate-bench-"))
    try:
        rng = random.Random(0)
        files = []
        for i in range(args.files):
            path = folder / f"spec-{i:05d}.yaml"
            path.write_text(json.dumps(make_spec(i, rng), indent=1))  # JSON is YAML
            files.append(str(path))
        commands = {
            "mlgen validate (schema + semantic checks)": [str(BIN / "mlgen"), "validate", "--format", "json", *files],
            "check-jsonschema (schema only)": [str(BIN / "check-jsonschema"), "--schemafile", str(SCHEMA), *files],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        codes = {}
        for _ in range(args.rounds):
            for name, command in commands.items():
                seconds, codes[name] = timed(command)
                times[name].append(seconds)
        print(f"{args.files} specs ({args.files // 10} broken), {args.rounds} rounds, wall time per call")
        print(f"{'tool':45s} {'median s':>9s} {'files/s':>9s} {'exit':>5s}")
        for name in commands:
            median = statistics.median(times[name])
            print(f"{name:45s} {median:9.2f} {args.files / median:9.0f} {codes[name]:5d}")
        names = list(commands)
        ratio = statistics.median(times[names[1]]) / statistics.median(times[names[0]])
        print(f"mlgen speed / check-jsonschema speed: {ratio:.2f}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
