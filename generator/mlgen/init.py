"""Write a starter backend.yaml from a Label Studio labeling config (and, for tabular data,
a sample of tasks to infer the fields' types from)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from .errors import MlgenError
from .resources import schema_path
from .runtime import runtime_module

TEXT_OBJECTS = {"Text", "HyperText", "Paragraphs", "Markdown"}
SAMPLE_SIZE = 500


def starter_spec(config_path: Path, output: Path, tasks_path: Path | None = None) -> str:
    """The text of a valid starter spec for the config at `config_path`, to be written at `output`."""
    labelconfig = runtime_module("labelconfig")
    try:
        config = labelconfig.parse_label_config(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise MlgenError(f"cannot read {config_path}: {exc}") from None
    except labelconfig.LabelConfigError as exc:
        raise MlgenError(f"{config_path}:{exc.line}:{exc.column}: {exc}") from None
    targets = runtime_module("targets")
    candidates = [c for c in config.controls.values() if targets.kind_of(c) is not None]
    if not candidates:
        tags = sorted({tag for kind in targets.KINDS for tag in kind.tags})
        raise MlgenError(f"{config_path} has no control tag mlgen predicts ({', '.join(f'<{t}>' for t in tags)})")
    target = targets.make_target(candidates[0])
    obj = config.objects.get(target.to_names[0]) if target.to_names else None
    if obj is None or obj.field is None:
        raise MlgenError(f"<{target.control.tag} name=\"{target.name}\"> does not point at an object tag that shows a $field")
    if target.kind == "spans":
        features = [{"field": obj.field, "type": "tokens"}]
    elif obj.tag in TEXT_OBJECTS:
        features = [{"field": obj.field, "type": "text"}]
    elif obj.tag == "Image":
        features = [{"field": obj.field, "type": "image"}]
    elif tasks_path is None:
        raise MlgenError(f"'{obj.field}' is shown by a <{obj.tag}>: give --tasks tasks.json so mlgen can "
                         "read which keys it holds and their types")
    else:
        features = infer_features(obj.field, _load_tasks(tasks_path))
    return _render(config_path, output, target, features)


def infer_features(field: str, tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Features for the keys of an object-valued field, typed from the values seen in tasks."""
    values: dict[str, list[Any]] = {}
    for task in tasks[:SAMPLE_SIZE]:
        data = task.get("data", task) if isinstance(task, dict) else None
        item = data.get(field) if isinstance(data, dict) else None
        if isinstance(item, dict):
            for key, value in item.items():
                values.setdefault(key, []).append(value)
    if not values:
        raise MlgenError(f"no task in the sample has an object in '{field}'")
    features = []
    for key, seen in values.items():
        present = [v for v in seen if v is not None and v != ""]
        if not present or any(isinstance(v, (dict, list)) for v in present):
            continue
        kind = "number" if all(_is_number(v) for v in present) else (
            "category" if len(set(map(str, present))) <= max(20, len(present) // 10) else "text")
        features.append({"field": f"{field}.{key}", "type": kind})
    if not features:
        raise MlgenError(f"no key of '{field}' holds numbers or strings")
    return features


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _load_tasks(path: Path) -> list[dict[str, Any]]:
    try:
        tasks = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise MlgenError(f"cannot read tasks from {path}: {exc}") from None
    if not isinstance(tasks, list):
        raise MlgenError(f"{path} is not a list of tasks (Label Studio's JSON import format)")
    return tasks


def _q(value: str) -> str:
    """A YAML scalar for any string: JSON's double-quoted form is valid YAML."""
    return json.dumps(value, ensure_ascii=False)


def _describe(target: Any) -> str:
    if target.estimator_type == "regressor":
        low, high = target.bounds(target.control)
        span = f" from {low:g}" if low is not None else ""
        span += f" to {high:g}" if high is not None else ""
        return f"Predicts {target.name}, a {target.kind}{span}."
    if target.kind == "spans":
        return f"Finds {', '.join(target.labels)} spans ({target.name}) in the text."
    several = "any of" if target.kind == "multiple_choice" else "one of"
    return f"Predicts {target.name}: {several} {', '.join(target.labels)}."


def _render(config_path: Path, output: Path, target: Any, features: list[dict[str, Any]]) -> str:
    base = output.resolve().parent
    text = all(f["type"] in ("text", "tokens") for f in features)
    multiple = target.kind == "multiple_choice"
    name = "".join(c if c.isalnum() else "-" for c in target.name.lower()).strip("-")[:40] or "backend"
    if not name[0].isalpha():
        name = "b-" + name
    lines = [
        f"# yaml-language-server: $schema={os.path.relpath(schema_path(), base)}",
        "version: 1",
        f"name: {_q(name)}",
        f"description: {_q(_describe(target))}",
        f"labeling_config: {_q(os.path.relpath(config_path.resolve(), base))}",
        f"target: {_q(target.name)}",
        "",
        "features:",
    ]
    for feature in features:
        lines.append(f"  - field: {_q(feature['field'])}")
        lines.append(f"    type: {feature['type']}")
        if feature["type"] == "text" and multiple:
            lines += ["    analyzer: word          # word unigrams and bigrams: measured best for label sets",
                      "    ngram_range: [1, 2]", "    sublinear_tf: true"]
        elif feature["type"] == "text":
            lines += ["    analyzer: char_wb       # character 4-grams: learn from few annotations, and",
                      "    ngram_range: [4, 4]     # train 3-4x faster than 2-5-grams on long documents",
                      "    sublinear_tf: true"]
        elif feature["type"] == "tokens":
            lines += ["    window: 2               # the features of 2 tokens on each side count too",
                      "    affixes: 3              # prefixes and suffixes of up to 3 characters",
                      "    shape: true             # Xxxx, dd, ...: capitals and digits",
                      "    # gazetteers: {PER: people.txt}   # lists of known names, one a line"]
        elif feature["type"] == "number":
            lines += ["    impute: median", "    scale: standard"]
        elif feature["type"] == "image":
            lines += ["    representation: pixels  # the resized pixels; hog (shapes and edges) needs scikit-image",
                      "    size: [32, 32]          # width and height the image is resized to",
                      "    grey: true"]
    lines += ["", "model:"]
    if target.estimator_type == "regressor":
        lines += ["  class: Ridge                # linear least squares: steady from few annotations",
                  "  params:", "    alpha: 10.0"]
    elif text:
        lines += ["  class: SGDClassifier        # logistic regression fitted by SGD: fast to retrain",
                  "  params:", "    loss: log_loss", "    alpha: 0.0001"]
    else:
        lines += ["  class: LogisticRegression", "  params:", "    max_iter: 1000"]
    if multiple:
        lines += ["", "prediction:", "  threshold: 0.5             # or tuned: one threshold per choice, tuned at each training"]
    lines += [
        "", "training:", "  min_annotations: 10", "  retrain_every: 5", "  debounce_seconds: 2",
        "", "evaluation:", f"  metric: {target.default_metric}",
        "", "active_learning:", "  strategy: least_confidence",
        "", "server:", "  port: 9090", "",
    ]
    return "\n".join(lines)
