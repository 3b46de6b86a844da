"""Manual end-to-end check of a generated backend against a real Label Studio (PROTOCOL.md R28).

Not part of pytest, and self-contained (it needs only `requests`). It works for any sample folder
that holds `labeling_config.xml`, `tasks.json` (Label Studio import format; some tasks carry
`annotations`) and `heldout_labels.json` (the true answer of every task, in the same order: a
label for single choice, a list of labels for multiple choice, a number for <Number>, an int for
<Rating>, a list of `[start, end, label, text]` entities for <Labels>). The target control is the
annotations' `from_name`; its tag in the labeling config (<Choices choice="single"> or
"multiple", <Number>, <Rating>, <Labels> on a <Text>) sets how predictions are checked and
scored. The data a target labels may be text, table fields or an <Image> (samples/digits):
image samples whose tasks point at `/data/local-files/?d=PATH` need Label Studio to serve local
files (step 2) and get the image checks below.

1. Render the sample and start its backend on 127.0.0.1 with its state in the render folder
   (each sample on its own port):

       mlgen render samples/topics/backend.yaml -o /tmp/ls-topics
       python3 -m venv /tmp/ls-topics/.venv && /tmp/ls-topics/.venv/bin/pip install -r /tmp/ls-topics/requirements.txt
       cd /tmp/ls-topics && MODEL_DIR=/tmp/ls-topics/data .venv/bin/python -m backend serve \
           --host 127.0.0.1 --port 9091 > backend.log 2>&1 &

   For an image sample, start it without Label Studio credentials (`env -u LABEL_STUDIO_URL
   -u LABEL_STUDIO_API_KEY ...`): it must read the images with the address and token that
   Label Studio's /setup sends, which is what this script checks. Start it with a fresh MODEL_DIR
   to see its image downloads in Label Studio's log (it keeps the images it read in
   $MODEL_DIR/images, and the sample's URLs are the same in every project).

2. Start a Label Studio 1.23.x that allows local backends, validates predictions and has a legacy
   API token, with a fresh data dir:

       LABEL_STUDIO_BASE_DATA_DIR=/tmp/ls-data ML_BLOCK_LOCAL_IP=false SSRF_PROTECTION_ENABLED=false \
         LATEST_VERSION_CHECK=false SENTRY_DSN= COLLECT_ANALYTICS=false \
         fflag_feat_utc_210_prediction_validation_15082025=true \
         label-studio start --no-browser --internal-host 127.0.0.1 --port 8080 \
           --username admin@example.com --password admin12345 \
           --user-token abcdef0123456789 --enable-legacy-api-token > /tmp/ls.log 2>&1 &

   For an image sample whose tasks use /data/local-files/?d=PATH (PATH relative to the sample
   folder), also serve local files from the sample folder (an absolute path), e.g.

       LOCAL_FILES_SERVING_ENABLED=true LOCAL_FILES_DOCUMENT_ROOT=/abs/path/to/samples/digits

   in the same command. LS 1.23.2 serves /data/local-files/ only then, only to a signed-in user
   or an API token (401 otherwise), only under the document root, and only for a folder inside a
   Local Files storage of a project the user can access (404 otherwise); one LS serves the local
   files of one sample folder (pass --local-files-root when the root is not the sample folder).

3. Run

       python tests/manual/ls_e2e.py --sample samples/topics --backend-url http://127.0.0.1:9091 \
           [--ls-log /tmp/ls.log] [--annotate 40] [--tasks 0] [--spec /tmp/ls-topics/spec.json]
           [--basic-auth USER:PASS   # when the backend runs with BASIC_AUTH_USER/BASIC_AUTH_PASS]
           [--autolabel /tmp/ls-topics/.venv/bin/python:/tmp/ls-topics/data [--threshold 0.95]]
           [--backend-log /tmp/ls-topics/backend.log   # default: backend.log beside --spec]
           [--local-files-root DIR   # LS's LOCAL_FILES_DOCUMENT_ROOT; default: the sample folder]

   e.g. for the image sample, its backend on port 9197 (its spec needs Pillow: its own venv):

       python tests/manual/ls_e2e.py --sample samples/digits --backend-url http://127.0.0.1:9197 \
           --ls-log /tmp/ls.log --spec /tmp/ls-digits/spec.json

What it does: creates a project with the sample's labeling config and imports the sample's tasks
without their annotations, except one task kept back for step 8. It adds the backend (Connected,
automatic webhook), sends a test request, and runs Retrieve Predictions (one prediction per task
with the /setup version, none added on a second run). It then creates annotations through the API
for the first `--annotate` imported tasks that carry annotations in tasks.json (using their result,
an empty one too: no entity), so the automatic webhook delivers them, and starts training. After
training: a new version, new-version predictions for every task with no duplicate (task, version)
pairs, each a valid answer for the target, and the held-out score of those predictions on the tasks
it did not annotate (true answers from heldout_labels.json), which must beat a baseline by
`--margin`:

    single choice    accuracy >= majority-class rate + margin
    multiple choice  mean Jaccard (two empty sets count 1) >= that of the best constant label set
                     (the best of the distinct true sets and the empty set) + margin
    number, rating   MAE <= (1 - margin) * MAE of the median of the annotated answers
    spans (Labels)   entity-level micro F1 (an entity counts when its start, end and label all
                     equal a true one's) >= that of a gazetteer + margin; precision and recall
                     are printed too. The gazetteer is the annotated entities' texts, each with
                     its most frequent annotated label (ties: the config's order), found again
                     in the held-out texts as whole words (not inside a longer word), longest
                     first, skipping a match that overlaps one already taken.

A valid answer is: single choice, a region naming a label; multiple choice, an empty result or
one region whose choices are labels of the config; number, one region with a finite int/float
(values outside the tag's min/max are noted, not failed); rating, one region with an int in
1..maxRating; spans, 0..n `labels` regions of the target (an empty result: no entity), each
with int offsets 0 <= start < end <= len(task text), `text` equal to task_text[start:end]
(offsets are Python str indexes, code points; `\\r\\n` counts as two) and exactly one label of the
config, no two regions overlapping. For spans, step 6 also re-reads from Label Studio's API a
few predicted tasks whose text holds non-ASCII characters or `\\r\\n` before a predicted entity's
end: each stored region's text must be LS's task text at the stored offsets.

Finally another Start Training, the labeling stream, opening an unpredicted task, whether LS
validates predictions (a result with an unknown label, a non-numeric number or rating, or for
spans a region with an unknown label, must get 400, while the same result with a valid value
gets 201; LS 1.23.2 does not check a region's offsets or text, so the script's own spans check
is what guards them), and (with --ls-log) LS's log; then (with --backend-log, or a backend.log
beside --spec) the backend's log of this run: no error or traceback.

Images (the target labels an <Image value="$field"> whose tasks hold `/data/local-files/?d=PATH`):
before the import, every PATH must be a file under --local-files-root, and the project gets a Local
Files storage (POST /api/storages/localfiles, `use_blob_urls`, not synced: the tasks come from
tasks.json) for each folder holding them; LS must then serve one image with the legacy token (200,
the file's bytes) and refuse it without credentials (401/403), so a backend has to authenticate.
The backend, with no Label Studio credentials of its own, reads the images with the `hostname` and
`access_token` of LS's /setup: after training, the new version's training metrics must count no
unread image (`images_unread` 0 in /versions) and every task's prediction of it must be non-empty
(a task whose image the backend cannot read gets an empty prediction; for single choice a valid
prediction names a label, so the step-6 checks hold too); the address the backend reads LS at
(/setup's, from /metrics) is printed. With --ls-log, LS must have refused none of the backend's
/data/local-files/ requests (their count and how many distinct images is printed; this script's two
requests are left out, of the error scan too); the backend's log must hold no "no image, left out"
line for the project naming a file that exists under --local-files-root.

With --autolabel (and --spec), it then runs the backend's `autolabel --threshold` command twice
on the project: no duplicate prediction, annotations from the model linked to their predictions,
none twice on a task, and nothing added by the second run.

Each run creates a new project, so the script can be run again against the same instances.
`--spec` (the rendered spec.json) is optional: when given, its labeling config and target must
match the sample's. The target control, object tag and region type come from the sample's
annotations, the kind of target from the control's tag in the labeling config. It prints every
step with PASS or FAIL and exits 1 when any step failed.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import statistics
import subprocess
import sys
import time
import urllib.parse
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

CONNECTED = "CO"


class Check:
    def __init__(self) -> None:
        self.failures: list[str] = []

    def step(self, title: str) -> None:
        print(f"\n== {title}", flush=True)

    def info(self, message: str) -> None:
        print(f"   {message}", flush=True)

    def __call__(self, ok: bool, what: str, detail: Any = "") -> bool:
        print(f"   {'PASS' if ok else 'FAIL'}  {what}" + (f"  [{detail}]" if detail != "" else ""), flush=True)
        if not ok:
            self.failures.append(what)
        return ok


class Client:
    def __init__(self, base: str, token: str | None = None) -> None:
        self.base = base.rstrip("/")
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Token {token}"

    def call(self, method: str, path: str, expect: tuple[int, ...] = (200, 201), **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", 120)
        response = self.session.request(method, self.base + path, **kwargs)
        if response.status_code not in expect:
            raise RuntimeError(f"{method} {path} -> {response.status_code} {response.reason}: {response.text[:800]}")
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return response.text


class Sample:
    """A sample folder: labeling config, tasks (import format) and the true answer of each task."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.config = (folder / "labeling_config.xml").read_text()
        self.tasks: list[dict[str, Any]] = json.loads((folder / "tasks.json").read_text())
        self.labels: list[Any] = json.loads((folder / "heldout_labels.json").read_text())
        if len(self.labels) != len(self.tasks):
            raise SystemExit(f"{folder}: {len(self.tasks)} tasks but {len(self.labels)} held-out labels")
        regions = [r for t in self.tasks for a in t.get("annotations") or [] for r in a.get("result") or []]
        if not regions:
            raise SystemExit(f"{folder}/tasks.json: no task carries an annotation with a result")
        first = regions[0]
        self.target: str = first["from_name"]
        self.to_name: str = first["to_name"]
        self.type: str = first["type"]
        self.control = read_control(self.config, self.target, self.to_name, self.type)

    def annotation_result(self, index: int) -> list[dict[str, Any]] | None:
        annotations = self.tasks[index].get("annotations") or []
        return annotations[0].get("result") if annotations else None

    @staticmethod
    def bare(task: dict[str, Any]) -> dict[str, Any]:
        """The task as imported: without its annotations (or predictions)."""
        return {k: v for k, v in task.items() if k not in ("annotations", "predictions")}


def label_key(value: Any) -> tuple[str, ...] | None:
    """A comparable form of a label: "A" and ["A"] are the same; None is no label."""
    if value is None:
        return None
    if isinstance(value, list):
        return tuple(sorted(str(v) for v in value))
    return (str(value),)


def show(label: tuple[str, ...] | None) -> str:
    return "|".join(label) if label else "(none)"


def predicted_label(result: Any, target: str, rtype: str) -> tuple[str, ...] | None:
    for region in result or []:
        if isinstance(region, dict) and region.get("from_name") == target:
            return label_key((region.get("value") or {}).get(rtype))
    return None


# ---- the target's kind: how its answers are read, validated, summarised and scored -------------


@dataclass(frozen=True)
class Control:
    """The target control, as the labeling config declares it."""

    kind: str  # "single", "multiple", "number", "rating" or "spans"
    name: str
    to_name: str
    rtype: str  # the region type: the tag, lower-cased
    labels: tuple[str, ...] = ()  # <Choice> or <Label> values (their alias when set)
    field: str = ""  # the task data key the object tag shows (<Text value="$field">, <Image ...>)
    shows: str = ""  # the tag of that object: "Text", "Image", ... ("" when the config has none)
    low: float | None = None  # <Number min>
    high: float | None = None  # <Number max>
    max_rating: int = 5  # <Rating maxRating>, Label Studio's default 5


def optional_float(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def read_control(config: str, name: str, to_name: str, rtype: str) -> Control:
    """The control tag `name` of the labeling config, and which kind of target it is."""
    root = ET.fromstring(config)
    tag = next((el for el in root.iter() if el.get("name") == name and el.get("toName") is not None), None)
    if tag is None:
        raise SystemExit(f"labeling config: no control tag named {name!r} (the annotations' from_name)")
    shown = next((el for el in root.iter() if el.get("name") == to_name and el.get("toName") is None), None)
    value = shown.get("value", "") if shown is not None else ""
    field = value[1:] if value.startswith("$") else ""
    if tag.tag == "Choices":
        kind = "multiple" if tag.get("choice") == "multiple" else "single"
    elif tag.tag in ("Number", "Rating"):
        kind = tag.tag.lower()
    elif tag.tag == "Labels":
        kind = "spans"
        if shown is None or shown.tag != "Text" or not field:
            raise SystemExit(f"labeling config: <Labels name={name!r}> must label a <Text value=\"$field\"> "
                             f"named {to_name!r}")
    else:
        raise SystemExit(f"labeling config: target <{tag.tag} name={name!r}> is not Choices, Number, "
                         "Rating or Labels")
    if rtype != tag.tag.lower():
        raise SystemExit(f"annotations' region type {rtype!r} does not match the target's tag <{tag.tag}>")
    options = tag.iter("Label" if kind == "spans" else "Choice")
    return Control(kind=kind, name=name, to_name=to_name, rtype=rtype,
                   labels=tuple(c.get("alias") or c.get("value") or "" for c in options),
                   low=optional_float(tag.get("min")), high=optional_float(tag.get("max")),
                   max_rating=int(tag.get("maxRating") or 5), field=field,
                   shows=shown.tag if shown is not None else "")


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def is_rating(value: Any, control: Control) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= control.max_rating


def target_value(result: Any, control: Control) -> Any:
    """The value the first region of the target holds under the region type, or None."""
    for region in result or []:
        if isinstance(region, dict) and region.get("from_name") == control.name:
            return (region.get("value") or {}).get(control.rtype)
    return None


def label_set(value: Any) -> frozenset[str]:
    """A comparable form of a set of labels; no labels is the empty set."""
    if value is None:
        return frozenset()
    return frozenset(str(v) for v in (value if isinstance(value, list) else [value]))


Entity = tuple  # (start, end, label, text) of a span; scored on (start, end, label)


def entities(result: Any, control: Control) -> frozenset[Entity]:
    """The entities of a result's regions for the target: (start, end, first label, text), any
    of them None when the region does not hold one that could be valid."""
    found = set()
    for region in result if isinstance(result, list) else []:
        if not isinstance(region, dict) or region.get("from_name") != control.name:
            continue
        value = region.get("value") if isinstance(region.get("value"), dict) else {}
        start, end, labels, text = (value.get(key) for key in ("start", "end", "labels", "text"))
        label = labels[0] if isinstance(labels, list) and labels and isinstance(labels[0], str) else None
        found.add((start if is_offset(start) else None, end if is_offset(end) else None, label,
                   text if isinstance(text, str) else None))
    return frozenset(found)


def is_offset(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def task_text(data: dict[str, Any], control: Control) -> str:
    """The text a spans target labels: the task data's <Text> field."""
    text = data.get(control.field)
    return text if isinstance(text, str) else ""


def answer(result: Any, control: Control) -> Any:
    """A result's answer in comparable form: label_key (single choice), a frozenset of labels
    (multiple choice; an empty result is the empty set), the number (None when it is not one a
    prediction may hold), or a frozenset of entities (spans; an empty result is the empty set)."""
    value = target_value(result, control)
    if control.kind == "spans":
        return entities(result, control)
    if control.kind == "single":
        return predicted_label(result, control.name, control.rtype)
    if control.kind == "multiple":
        return label_set(value)
    if control.kind == "rating":
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    return value if is_number(value) else None


def true_answer(label: Any, control: Control) -> Any:
    """A heldout_labels.json entry in the form answer() gives."""
    if control.kind == "single":
        return label_key(label)
    if control.kind == "multiple":
        return label_set(label)
    if control.kind == "spans":
        return frozenset((start, end, name, text) for start, end, name, text in label)
    return label


def only_region(result: Any, control: Control) -> tuple[dict[str, Any], str | None]:
    """The value of the result's one region for the target, or why the result is not that."""
    if not isinstance(result, list) or len(result) != 1:
        return {}, f"{len(result) if isinstance(result, list) else type(result).__name__} regions, not 1"
    region = result[0] if isinstance(result[0], dict) else {}
    names = (region.get("from_name"), region.get("to_name"), region.get("type"))
    if names != (control.name, control.to_name, control.rtype):
        return {}, f"the region is not the target's: {result[0]}"
    value = region.get("value")
    return (value, None) if isinstance(value, dict) else ({}, f"value {value!r} is not an object")


def span_problem(result: Any, control: Control, text: str) -> str | None:
    """Why a result is not a valid set of spans on `text` (None: it is): each region the target's,
    with int offsets 0 <= start < end <= len(text), `text` = text[start:end] (code points), one
    label of the config; no two regions overlapping. An empty result is valid (no entity)."""
    if not isinstance(result, list):
        return f"result {type(result).__name__} is not a list"
    spans = []
    for i, region in enumerate(result):
        region = region if isinstance(region, dict) else {}
        names = (region.get("from_name"), region.get("to_name"), region.get("type"))
        if names != (control.name, control.to_name, control.rtype):
            return f"region {i} is not the target's: {result[i]}"
        value = region.get("value")
        if not isinstance(value, dict):
            return f"region {i}: value {value!r} is not an object"
        start, end, labels = value.get("start"), value.get("end"), value.get("labels")
        if not (is_offset(start) and is_offset(end) and 0 <= start < end <= len(text)):
            return f"region {i}: start={start!r} end={end!r}, not 0 <= start < end <= {len(text)}"
        if value.get("text") != text[start:end]:
            return (f"region {i}: text {value.get('text')!r} is not the task's {text[start:end]!r} "
                    f"at {start}:{end}")
        if not (isinstance(labels, list) and len(labels) == 1 and labels[0] in control.labels):
            return f"region {i}: labels {labels!r} is not one label of the config"
        spans.append((start, end))
    spans.sort()
    overlap = next(((a, b) for a, b in zip(spans, spans[1:]) if b[0] < a[1]), None)
    return f"regions overlap: {overlap[0]} and {overlap[1]}" if overlap else None


def problem(result: Any, control: Control, data: dict[str, Any]) -> str | None:
    """Why a prediction's result for a task (its `data`) is not a valid answer for the target
    (None: it is)."""
    if control.kind == "spans":
        return span_problem(result, control, task_text(data, control))
    if control.kind == "single":
        return None if predicted_label(result, control.name, control.rtype) else "names no label"
    if control.kind == "multiple" and result == []:
        return None  # no choice above the threshold
    value, why = only_region(result, control)
    if why:
        return why
    x = value.get(control.rtype)
    if control.kind == "multiple":
        if not isinstance(x, list) or not all(isinstance(c, str) for c in x):
            return f"choices {x!r} is not a list of labels"
        unknown = sorted(set(x) - set(control.labels))
        return f"labels not in the config: {unknown}" if unknown else None
    if control.kind == "number":
        return None if is_number(x) else f"number {x!r} is not a finite int/float"
    return None if is_rating(x, control) else f"rating {x!r} is not an int in 1..{control.max_rating}"


VALID_WHAT = {
    "single": "names a label",
    "multiple": "is empty or one region of the config's labels",
    "number": "is one region with a finite number",
    "rating": "is one region with an int rating in 1..maxRating",
    "spans": "is 0..n non-overlapping regions, each one label with offsets selecting its text",
}


def probe_value(control: Control, data: dict[str, Any], valid: bool) -> dict[str, Any]:
    """A region value for the target on a task (its `data`): one Label Studio accepts (valid) or
    one it rejects with 400 when it validates predictions (an unknown label, a number or rating
    that is not one)."""
    label = control.labels[0] if valid and control.labels else "NoSuchLabel"
    if control.kind == "spans":
        text = task_text(data, control)
        end = text.find(" ") if text.find(" ") > 0 else len(text)
        return {"start": 0, "end": end, "text": text[:end], "labels": [label]}
    if control.kind == "number":
        number = min(max(0.0, control.low if control.low is not None else 0.0),
                     control.high if control.high is not None else math.inf)
        return {"number": number if valid else "not a number"}
    if control.kind == "rating":
        return {"rating": 1 if valid else "not a rating"}
    return {control.rtype: [label]}


def show_set(labels: frozenset[str]) -> str:
    return "|".join(sorted(labels)) or "(none)"


def label_counts(sets: list[frozenset[str]], control: Control) -> dict[str, int]:
    """How many sets hold each label (the config's first, then any other), and how many are empty."""
    counts = Counter(label for labels in sets for label in labels)
    order = list(control.labels) + sorted(set(counts) - set(control.labels))
    return {label: counts[label] for label in order} | {"(none)": sum(1 for s in sets if not s)}


def stats(values: list[Any]) -> str:
    numbers = [v for v in values if is_number(v)]
    if not numbers:
        return f"no numbers (of {len(values)})"
    missing = f", {len(values) - len(numbers)} missing" if len(numbers) < len(values) else ""
    return f"mean {statistics.fmean(numbers):.4g} min {min(numbers):.4g} max {max(numbers):.4g}{missing}"


def entity_counts(values: list[frozenset[Entity]], control: Control) -> dict[str, int]:
    """How many entities have each label (the config's first, then any other), and how many
    answers have none."""
    counts = Counter(str(entity[2]) for found in values for entity in found)
    order = list(control.labels) + sorted(set(counts) - set(control.labels))
    none = sum(1 for found in values if not found)
    return {label: counts[label] for label in order} | {"(no entity)": none}


def summary(values: list[Any], control: Control) -> str:
    """A short description of a list of answers: counts of labels, or mean/min/max."""
    if control.kind == "spans":
        return str(entity_counts(values, control))
    if control.kind == "single":
        return str(dict(Counter(show(v) for v in values)))
    if control.kind == "multiple":
        return str(label_counts(values, control))
    if control.kind == "rating":
        return f"{stats(values)} {dict(sorted(Counter(values).items(), key=str))}"
    return stats(values)


def out_of_range(values: list[Any], control: Control) -> list[Any]:
    """The numbers outside the <Number> tag's min/max."""
    return [v for v in values if is_number(v) and ((control.low is not None and v < control.low)
                                                   or (control.high is not None and v > control.high))]


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def mean_jaccard(predicted: list[frozenset[str]], truth: list[frozenset[str]]) -> float:
    return sum(jaccard(p, t) for p, t in zip(predicted, truth)) / len(truth) if truth else 0.0


def best_constant_set(truth: list[frozenset[str]]) -> tuple[frozenset[str], float]:
    """The label set that, predicted for every task, has the highest mean Jaccard: the best of
    the distinct true sets and the empty set (ties: the smaller, then alphabetically first)."""
    candidates = sorted(set(truth) | {frozenset()}, key=lambda s: (len(s), sorted(s)))
    scored = [(s, mean_jaccard([s] * len(truth), truth)) for s in candidates]
    return max(scored, key=lambda sj: sj[1])


def mae(predicted: list[float], truth: list[float]) -> float:
    return sum(abs(p - t) for p, t in zip(predicted, truth)) / len(truth) if truth else math.nan


def r_squared(predicted: list[float], truth: list[float]) -> float:
    """1 - SS_res / SS_tot (nan when the truths do not vary)."""
    mean = statistics.fmean(truth) if truth else math.nan
    ss_tot = sum((t - mean) ** 2 for t in truth)
    ss_res = sum((t - p) ** 2 for p, t in zip(predicted, truth))
    return 1 - ss_res / ss_tot if ss_tot else math.nan


def entity_scores(predicted: list[frozenset[Entity]], truth: list[frozenset[Entity]],
                  label: str | None = None) -> tuple[float, float, float]:
    """Entity-level micro (precision, recall, F1) over all texts: a predicted entity is a hit when
    its start, end and label equal a true one's (only the entities with `label`, when given)."""
    def keys(found: frozenset[Entity]) -> set[tuple[Any, Any, Any]]:
        return {entity[:3] for entity in found if label is None or entity[2] == label}

    hits = sum(len(keys(p) & keys(t)) for p, t in zip(predicted, truth))
    guessed, true = sum(len(keys(p)) for p in predicted), sum(len(keys(t)) for t in truth)
    precision, recall = hits / guessed if guessed else 0.0, hits / true if true else 0.0
    return precision, recall, 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def gazetteer(annotated: list[frozenset[Entity]], control: Control) -> dict[str, str]:
    """Each annotated entity's text -> the label it has most often (ties: the config's order)."""
    seen: dict[str, Counter[str]] = {}
    for found in annotated:
        for _, _, label, text in found:
            if text and label:
                seen.setdefault(text, Counter())[label] += 1
    rank = {label: i for i, label in enumerate(control.labels)}
    return {text: min(counts, key=lambda x: (-counts[x], rank.get(x, len(rank)), x))
            for text, counts in seen.items()}


def gazetteer_entities(text: str, names: dict[str, str]) -> frozenset[Entity]:
    """The gazetteer's names found in `text` as whole words (no letter or digit just before or
    after), longest name first, skipping a match that overlaps one already taken."""
    taken: list[Entity] = []
    for name in sorted(names, key=lambda x: (-len(x), x)):
        at = text.find(name)
        while at != -1:
            end = at + len(name)
            whole = (at == 0 or not text[at - 1].isalnum()) and (end == len(text) or not text[end].isalnum())
            if whole and all(end <= start or at >= stop for start, stop, *_ in taken):
                taken.append((at, end, names[name], name))
            at = text.find(name, at + 1)
    return frozenset(taken)


# Held-out scoring, one function per kind: (check, predicted, truth, annotated answers, control,
# margin, the held-out tasks' data), the lists in answer()'s form; each prints its numbers and
# makes one pass/fail check.


def evaluate_single(check: Check, predicted: list[Any], truth: list[Any], annotated: list[Any],
                    control: Control, margin: float, data: list[dict[str, Any]]) -> None:
    right = sum(1 for p, t in zip(predicted, truth) if p == t)
    accuracy = right / len(truth) if truth else 0.0
    counts = Counter(truth)
    majority_label, majority_count = counts.most_common(1)[0] if counts else (None, 0)
    majority = majority_count / len(truth) if truth else 0.0
    check.info(f"predicted labels on held-out tasks: {summary(predicted, control)}; "
               f"true: {summary(truth, control)}")
    check(accuracy >= majority + margin,
          f"held-out accuracy {accuracy:.3f} ({right}/{len(truth)}) beats the majority-class rate "
          f"{majority:.3f} ({show(majority_label)}) by >= {margin}")


def evaluate_multiple(check: Check, predicted: list[frozenset[str]], truth: list[frozenset[str]],
                      annotated: list[Any], control: Control, margin: float,
                      data: list[dict[str, Any]]) -> None:
    score = mean_jaccard(predicted, truth)
    baseline_set, baseline = best_constant_set(truth)
    exact = sum(1 for p, t in zip(predicted, truth) if p == t)
    predicted_counts, true_counts = label_counts(predicted, control), label_counts(truth, control)
    per_label = ", ".join(f"{label} {predicted_counts.get(label, 0)}/{true_counts.get(label, 0)}"
                          for label in predicted_counts | true_counts)
    check.info(f"held-out tasks per label, predicted/true: {per_label}")
    check.info(f"exact-set accuracy {exact / len(truth) if truth else 0.0:.3f} ({exact}/{len(truth)})")
    check(bool(truth) and score >= baseline + margin,
          f"held-out mean Jaccard {score:.3f} ({len(truth)} tasks) beats the best constant set "
          f"{show_set(baseline_set)} ({baseline:.3f}) by >= {margin}")


def evaluate_number(check: Check, predicted: list[Any], truth: list[Any], annotated: list[Any],
                    control: Control, margin: float, data: list[dict[str, Any]]) -> None:
    """MAE against predicting the median of the annotated answers (number and rating)."""
    pairs = [(p, t) for p, t in zip(predicted, truth) if is_number(p)]
    scored, true_scored = [p for p, _ in pairs], [t for _, t in pairs]
    known = [a for a in annotated if is_number(a)]
    median = statistics.median(known) if known else math.nan
    score, baseline = mae(scored, true_scored), mae([median] * len(truth), truth)
    fit = r_squared(scored, true_scored) if scored else math.nan
    check.info(f"predicted on held-out tasks: {summary(predicted, control)}; true: {summary(truth, control)}")
    check.info(f"R^2 {fit:.3f} (for information); {len(truth) - len(pairs)} held-out predictions without a "
               f"{control.rtype}")
    check(bool(truth) and len(pairs) == len(truth) and score <= (1 - margin) * baseline,
          f"held-out MAE {score:.4g} ({len(pairs)}/{len(truth)} tasks) is at most (1 - {margin}) x the MAE "
          f"{baseline:.4g} of the annotated answers' median {median:.4g}")


def evaluate_spans(check: Check, predicted: list[frozenset[Entity]], truth: list[frozenset[Entity]],
                   annotated: list[frozenset[Entity]], control: Control, margin: float,
                   data: list[dict[str, Any]]) -> None:
    """Entity-level micro F1 against a gazetteer of the annotated entities' texts."""
    names = gazetteer(annotated, control)
    found = [gazetteer_entities(task_text(d, control), names) for d in data]
    precision, recall, f1 = entity_scores(predicted, truth)
    base_precision, base_recall, baseline = entity_scores(found, truth)
    predicted_counts, true_counts = entity_counts(predicted, control), entity_counts(truth, control)
    check.info("held-out entities per label, predicted/true: " + ", ".join(
        f"{label} {predicted_counts.get(label, 0)}/{true_counts.get(label, 0)}"
        for label in predicted_counts | true_counts))
    check.info("held-out F1 per label: " + ", ".join(
        f"{label} {entity_scores(predicted, truth, label)[2]:.3f}" for label in control.labels))
    check.info(f"model: precision {precision:.3f} recall {recall:.3f} F1 {f1:.3f}; gazetteer of {len(names)} "
               f"annotated names: precision {base_precision:.3f} recall {base_recall:.3f} F1 {baseline:.3f}")
    check(bool(truth) and f1 >= baseline + margin,
          f"held-out entity micro F1 {f1:.3f} ({len(truth)} tasks, {sum(map(len, truth))} entities) beats "
          f"the gazetteer's {baseline:.3f} by >= {margin}")


EVALUATE: dict[str, Callable[..., None]] = {
    "single": evaluate_single,
    "multiple": evaluate_multiple,
    "number": evaluate_number,
    "rating": evaluate_number,  # the same metric and baseline; valid ratings are checked in step 6
    "spans": evaluate_spans,
}


# ---- images: Label Studio's local files, and what the backend's log says about reading them ----

LOCAL_FILES = "/data/local-files/"
NO_IMAGE = re.compile(r"project (\S+): (.+?): no image, left out: (.*)")  # backend/images.py's line
LS_FILE_REQUEST = re.compile(r'"GET (/data/local-files/?\?d=\S+) HTTP/[\d.]+" (\d{3})')  # runserver's


def local_file(url: Any) -> str | None:
    """The path a Label Studio local-files URL (`/data/local-files/?d=PATH`) names, relative to
    its LOCAL_FILES_DOCUMENT_ROOT; None for any other URL."""
    if not isinstance(url, str) or not url.startswith(LOCAL_FILES):
        return None
    found = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query).get("d")
    return found[0] if found else None


def local_file_of(data: dict[str, Any], control: Control) -> str | None:
    """The local file of a task (its `data`) whose target labels an <Image>, or None."""
    return local_file(data.get(control.field)) if control.shows == "Image" else None


def add_local_storages(check: Check, ls: Client, pid: int, files: list[str], root: Path, title: str) -> None:
    """Give the project a Local Files import storage (use_blob_urls: one file is one task) for each
    folder holding the tasks' local files, root/<folder of ?d=PATH>, without syncing it: the tasks
    come from tasks.json. Label Studio 1.23.2 serves /data/local-files/?d=PATH only under its
    LOCAL_FILES_DOCUMENT_ROOT, which `root` must be, and only when PATH's folder is inside the
    storage of a project the user can access (io_storages/localfiles/views.py); a storage's path
    must be a folder strictly inside that root (models.py validate_connection)."""
    missing = [f for f in files if not (root / f).is_file()]
    check(not missing, f"the tasks' {len(files)} local files are under {root}",
          f"{len(missing)} missing, e.g. {missing[:3]}" if missing else "")
    for folder in sorted({str((root / f).parent) for f in files}):
        made = ls.session.post(ls.base + "/api/storages/localfiles", timeout=30, json={
            "project": pid, "path": folder, "use_blob_urls": True, "title": title})
        body = made.json() if made.headers.get("Content-Type", "").startswith("application/json") else {}
        ok = made.status_code == 201 and body.get("path") == folder
        check(ok, f"Local Files storage for {folder} (not synced)",
              f"id {body.get('id')}, last_sync {body.get('last_sync')}" if ok
              else f"{made.status_code}: {made.text[:400]}")


def image_served(check: Check, ls: Client, url: str, file: Path, ls_log: str | None) -> tuple[int, int]:
    """Label Studio serves a task's local file to the API token (200, the file's bytes) and refuses
    it without credentials (401/403): a backend has to authenticate to read the images. Returns
    where these two requests' lines start and end in LS's log (the refusal logs an error with a
    traceback), waiting a little for the last one, so that step 9 leaves them out."""
    start = log_size(ls_log)
    shown = ls.session.get(ls.base + url, timeout=30)
    check(shown.status_code == 200 and shown.content == file.read_bytes(),
          f"LS serves {url} with the legacy token: 200, the file's bytes",
          f"{shown.status_code} {shown.headers.get('Content-Type')} {len(shown.content)} bytes")
    bare = requests.get(ls.base + url, timeout=30)
    check(bare.status_code in (401, 403), "and refuses it without credentials (401/403)",
          f"{bare.status_code} {bare.reason}")
    if ls_log:  # runserver writes a request's line once the answer is sent
        def logged() -> bool:
            with open(ls_log, "rb") as fh:
                fh.seek(start)
                return f'HTTP/1.1" {bare.status_code} '.encode() in fh.read()

        wait_for(logged, 3, 0.1)
    return start, log_size(ls_log)


def log_size(path: str | Path | None) -> int:
    return Path(path).stat().st_size if path else 0


def images_read(check: Check, backend: Client, version: str, new: list[dict[str, Any]],
                link: dict[str, Any]) -> None:
    """Image samples: the trained `version` read every annotated task's image (its training
    metrics count those it could not: images_unread) and every task's prediction of it (`new`)
    is non-empty (an image the backend cannot read leaves its task an empty prediction)."""
    details = {v["version"]: v for v in backend.call("GET", "/versions").get("details", [])}
    unread = ((details.get(version) or {}).get("metrics") or {}).get("images_unread")
    check(unread == 0, f"{version} trained on every annotated task's image (metrics.images_unread)", unread)
    empty = [p["task"] for p in new if not p.get("result")]
    check(not empty, f"every prediction of {version} is non-empty: the backend read every task's image",
          f"{len(empty)} empty, e.g. tasks {empty[:5]}" if empty else f"{len(new)} predictions")
    check.info(f"the backend reads Label Studio at {link.get('url')!r} (from /setup unless LABEL_STUDIO_URL "
               f"is set); importing the project's annotations with that address and token: "
               f"{link.get('status')}")


def backend_log_step(check: Check, text: str, pid: int, root: Path | None) -> None:
    """The backend's log of this run (`text`): no error or traceback; for an image sample with
    local files under `root`, no "no image" line of the project for a file that exists there (a
    missing file may be logged)."""
    def exists(reason: str) -> bool:
        paths = re.findall(r"\?d=([^\s:;]+)", reason)
        return root is not None and any((root / urllib.parse.unquote(d)).is_file() for d in paths)

    if root is not None:
        mine = [m for m in map(NO_IMAGE.search, text.splitlines()) if m and m.group(1) == str(pid)]
        existing = [m.group(0) for m in mine if exists(m.group(3))]
        check.info(f"{len(mine)} 'no image' lines for project {pid}, {len(existing)} of them for a file "
                   "that exists")
        check(not existing, "the backend read every existing image (no 'no image' line for one)",
              "\n      ".join([""] + existing[:10]) if existing else "")
    bad = [line for line in text.splitlines() if " ERROR " in line or "Traceback" in line]
    check(not bad, "no errors or tracebacks in the backend's log",
          "\n      ".join([""] + bad[:10]) if bad else "")


def ls_file_requests(text: str) -> list[tuple[str, str]]:
    """The /data/local-files/ requests Label Studio's log shows: (URL, status code) each. Lines
    equal to the millisecond count once: LS 1.23.2 started as in step 2 logs each request through
    two handlers, and concurrent requests interleave the copies."""
    lines = [line for line in text.splitlines() if LS_FILE_REQUEST.search(line)]
    return [(m.group(1), m.group(2)) for m in map(LS_FILE_REQUEST.search, dict.fromkeys(lines)) if m]


def wait_for(predicate: Any, timeout: float, interval: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def project_predictions(ls: Client, project_id: int, task_ids: list[int]) -> list[dict[str, Any]]:
    wanted = set(task_ids)
    rows = ls.call("GET", f"/api/predictions?project={project_id}")
    rows = rows.get("results", rows) if isinstance(rows, dict) else rows
    return [p for p in rows if p["task"] in wanted]


def retrieve_predictions(ls: Client, project_id: int) -> Any:
    return ls.call(
        "POST",
        f"/api/dm/actions?id=retrieve_tasks_predictions&project={project_id}",
        json={"selectedItems": {"all": True, "excluded": []}},
    )


def spans_offsets_in_ls(check: Check, ls: Client, control: Control, new: list[dict[str, Any]],
                        data_of: dict[int, dict[str, Any]], few: int = 4) -> None:
    """Spans: for a few tasks whose newest prediction (`new`) has an entity ending after a `\\r\\n`
    or a non-ASCII character of the text, read the task and its predictions back from Label
    Studio's API; every stored region of that version must select its own text from LS's task
    text (the task's `predictions` and GET /api/predictions?task=ID both)."""
    def after(p: dict[str, Any], test: Callable[[str], bool]) -> bool:
        text = task_text(data_of[p["task"]], control)
        return any(is_offset(end) and test(text[:end]) for _, end, _, _ in entities(p["result"], control))

    crlf = [p for p in new if after(p, lambda before: "\r\n" in before)][:few]
    accented = [p for p in new if p not in crlf and after(p, lambda before: not before.isascii())][:few]
    check.info(f"re-reading from LS {len(crlf)} predicted tasks with an entity after a \\r\\n and "
               f"{len(accented)} after a non-ASCII character")
    wrong, regions = [], 0
    for p in crlf + accented:
        task = ls.call("GET", f"/api/tasks/{p['task']}")
        text = task_text(task.get("data") or {}, control)
        stored = [q for q in task.get("predictions") or [] if q.get("model_version") == p["model_version"]]
        stored += [q for q in ls.call("GET", f"/api/predictions?task={p['task']}")
                   if q.get("model_version") == p["model_version"]]
        if len(stored) != 2:
            wrong.append((p["task"], f"{len(stored)} predictions of {p['model_version']} in the two answers"))
        for q in stored:
            for start, end, label, said in entities(q.get("result"), control):
                regions += 1
                if not (is_offset(start) and is_offset(end) and said == text[start:end]):
                    wrong.append((p["task"], start, end, label, said, text[start or 0:end or 0]))
    check(bool(crlf or accented) and not wrong,
          "each region's text is LS's task text at its offsets (tasks with \\r\\n or non-ASCII)",
          f"{regions} regions checked; wrong: {wrong[:5]}" if wrong else f"{regions} regions checked")


def autolabel_step(check: Any, ls: Client, args: argparse.Namespace, pid: int, task_ids: list[int]) -> None:
    """Run the rendered backend's autolabel command (its project folder is the --spec's) twice
    against this project: the second run must add nothing; no (task, version) prediction twice,
    no task with two annotations from the model, each linked to a prediction."""
    python, model_dir = args.autolabel.split(":", 1)
    env = {"PATH": "/usr/bin:/bin", "MODEL_DIR": model_dir, "LABEL_STUDIO_URL": args.ls_url,
           "LABEL_STUDIO_API_KEY": args.token}
    outcomes = []
    for _ in range(2):
        done = subprocess.run([python, "-m", "backend", "autolabel", str(pid), "--threshold", str(args.threshold)],
                              cwd=Path(args.spec).parent, env=env, capture_output=True, text=True, timeout=600)
        check(done.returncode == 0, "autolabel exits 0", done.stderr[-300:])
        outcomes.append(json.loads(done.stdout) if done.returncode == 0 else {})
        check.info(f"autolabel: {outcomes[-1]}; progress: {done.stderr.strip().splitlines()[-1][-120:] if done.stderr else ''}")
    predictions = project_predictions(ls, pid, task_ids)
    per = Counter((p["task"], p["model_version"]) for p in predictions)
    check(all(c == 1 for c in per.values()), "no duplicate (task, version) prediction after autolabel",
          {k: c for k, c in per.items() if c > 1})
    tasks = ls.call("GET", "/api/tasks/", params={"project": pid, "page_size": len(task_ids) + 10, "fields": "all"})
    tasks = tasks.get("tasks", []) if isinstance(tasks, dict) else tasks
    made = [a for t in tasks for a in t.get("annotations") or [] if a.get("parent_prediction")]
    ids = {p["id"] for t in tasks for p in t.get("predictions") or []}  # step 8's task included
    check(bool(made) and all(a["parent_prediction"] in ids for a in made),
          f"annotations from the model (score >= {args.threshold}), each linked to its prediction", len(made))
    check(max(Counter(a["task"] for a in made).values(), default=0) <= 1, "no task annotated twice by the model")
    if outcomes[0].get("model_version") == outcomes[1].get("model_version"):
        check(outcomes[1].get("annotations") == 0 and outcomes[1].get("predictions") == 0,
              "a second run with the same served version adds nothing", outcomes[1])
    else:  # the first run's annotations reached /webhook and trained a newer version: it labels on,
        # uploading that version's predictions itself or finding the ones the worker uploaded
        # (one upload to a project at a time: the duplicate check above is what matters)
        check.info(f"the first run's annotations trained {outcomes[1].get('model_version')}, which the "
                   f"second run used: {outcomes[1]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sample", required=True, type=Path,
                        help="sample folder with labeling_config.xml, tasks.json and heldout_labels.json")
    parser.add_argument("--ls-url", default="http://127.0.0.1:8080")
    parser.add_argument("--token", default="abcdef0123456789", help="legacy API token (Authorization: Token …)")
    parser.add_argument("--backend-url", default="http://127.0.0.1:9090")
    parser.add_argument("--spec", help="the backend's spec.json (optional): checked against the sample")
    parser.add_argument("--autolabel", metavar="PYTHON:MODEL_DIR",
                        help="also run the backend's autolabel command (with this Python, in the --spec's folder, "
                             "on this state directory) twice with --threshold")
    parser.add_argument("--threshold", type=float, default=0.95, help="autolabel's score threshold")
    parser.add_argument("--tasks", type=int, default=0, help="use the sample's first N tasks (0: all)")
    parser.add_argument("--annotate", type=int, default=40,
                        help="tasks to annotate, from those that carry annotations in tasks.json")
    parser.add_argument("--margin", type=float, default=0.10,
                        help="held-out accuracy (single choice), mean Jaccard (multiple choice) or entity "
                             "micro F1 (spans) must beat the baseline by this much; for number and rating, "
                             "the MAE must be at most (1 - margin) x the baseline's")
    parser.add_argument("--train-timeout", type=float, default=60.0)
    parser.add_argument("--basic-auth", metavar="USER:PASS",
                        help="the backend's BASIC_AUTH_USER:BASIC_AUTH_PASS; given to LS with the backend")
    parser.add_argument("--ls-log", help="Label Studio's log file, scanned for errors of this run")
    parser.add_argument("--local-files-root", type=Path,
                        help="Label Studio's LOCAL_FILES_DOCUMENT_ROOT, which the tasks' "
                             "/data/local-files/?d= paths are relative to (default: the sample folder)")
    parser.add_argument("--backend-log", type=Path,
                        help="the backend's log file (backend.log of the render folder), scanned for this "
                             "run's 'no image' lines and errors (default: backend.log beside --spec, if any)")
    args = parser.parse_args()

    began = time.monotonic()
    check = Check()
    sample = Sample(args.sample)
    ls = Client(args.ls_url, args.token)
    backend = Client(args.backend_url)
    ml_auth: dict[str, Any] = {}
    if args.basic_auth:
        user, _, password = args.basic_auth.partition(":")
        backend.session.auth = (user, password)
        ml_auth = {"auth_method": "BASIC_AUTH", "basic_auth_user": user, "basic_auth_pass": password}
    config, target, to_name, rtype = sample.config, sample.target, sample.to_name, sample.type
    control = sample.control
    log_start = Path(args.ls_log).stat().st_size if args.ls_log else 0
    backend_log = args.backend_log or (Path(args.spec).parent / "backend.log" if args.spec else None)
    backend_log = backend_log if backend_log is not None and backend_log.is_file() else None
    backend_log_start = backend_log.stat().st_size if backend_log else 0
    root = (args.local_files_root or sample.folder).resolve()
    files = [f for t in sample.tasks if (f := local_file_of(t.get("data") or {}, control))]
    log_probe = None  # where the deliberate bad-prediction probe starts in the log
    versions_seen: list[str] = []
    pid = 0  # the project, once created
    own_requests = (0, 0)  # where image_served's requests are in LS's log

    def setup_version(pid: int) -> str:
        version = backend.call("POST", "/setup", json={"project": f"{pid}.0", "schema": config})["model_version"]
        if version not in versions_seen:
            versions_seen.append(version)
        return version

    def followed(row: dict[str, Any], version: str) -> bool:
        """Whether the backend is done pointing Label Studio's prediction source at `version`
        (true at once for a backend that cannot reach Label Studio's API)."""
        link = row.get("label_studio") or {}
        if link.get("status") != "imported":
            return True
        source = link.get("prediction_source") or {}
        return source.get("version") == version or "error" in source

    def backend_row(pid: int) -> dict[str, Any]:
        rows = [p for p in backend.call("GET", "/metrics")["projects"] if str(p["project"]) == str(pid)]
        return rows[0] if rows else {}

    # Which sample tasks take part: the first --tasks; the last one without annotations is kept
    # back and imported in step 8 (a task without predictions).
    total = len(sample.tasks) if args.tasks <= 0 else min(args.tasks, len(sample.tasks))
    plain = [i for i in range(total) if sample.annotation_result(i) is None]
    fresh_index = plain[-1] if plain else total - 1
    indexes = [i for i in range(total) if i != fresh_index]
    n = len(indexes)
    to_annotate = [i for i in indexes if sample.annotation_result(i) is not None][: args.annotate]

    check.step(f"sample {sample.folder.name}: {len(sample.tasks)} tasks, target {target!r} -> {to_name!r} "
               f"({rtype}, {control.kind}); importing {n}, annotating {len(to_annotate)}, "
               f"keeping task #{fresh_index} for step 8")
    if args.spec:
        spec = json.loads(Path(args.spec).read_text())
        check(spec.get("labeling_config", "").strip() == config.strip(), "spec's labeling_config is the sample's")
        check(spec.get("target") == target, "spec's target is the annotations' from_name", spec.get("target"))

    try:
        check.step("0. services answer")
        check(bool(ls.call("GET", "/health")), "Label Studio /health")
        me = ls.call("GET", "/api/current-user/whoami")
        check(bool(me.get("id")), "legacy token accepted", me.get("email"))
        check(backend.call("GET", "/health").get("status") == "UP", "backend /health")
        if args.basic_auth:
            bare = requests.get(args.backend_url.rstrip("/") + "/health", timeout=5)
            check(bare.status_code == 401, "backend /health without credentials is refused", bare.status_code)

        check.step("1. project, tasks (imported without their annotations)")
        project = ls.call("POST", "/api/projects", json={
            "title": f"mlgen e2e {sample.folder.name} {time.strftime('%H:%M:%S')}", "label_config": config})
        pid = project["id"]
        check.info(f"project {pid}: show_collab_predictions={project.get('show_collab_predictions')} "
                   f"evaluate_predictions_automatically={project.get('evaluate_predictions_automatically')} "
                   f"model_version={project.get('model_version')!r}")
        if files:  # before the import: Label Studio serves the images only from a project's storage
            add_local_storages(check, ls, pid, files, root, f"mlgen e2e {sample.folder.name} images")
            first = next(t["data"][control.field] for t in sample.tasks if local_file_of(t["data"], control))
            own_requests = image_served(check, ls, first, root / files[0], args.ls_log)
        payload = [Sample.bare(sample.tasks[i]) for i in indexes]
        imported = ls.call("POST", f"/api/projects/{pid}/import?return_task_ids=true", json=payload)
        check(imported.get("task_count") == n, f"imported {n} tasks", imported.get("task_count"))
        check(not imported.get("annotation_count"), "no annotations imported", imported.get("annotation_count"))
        tasks = ls.call("GET", f"/api/tasks?project={pid}&page_size={n + 10}")
        tasks = tasks["tasks"] if isinstance(tasks, dict) else tasks
        data_of = {t["id"]: t["data"] for t in tasks}
        task_ids = list(imported.get("task_ids") or sorted(data_of))
        check(len(task_ids) == n and set(task_ids) == set(data_of), "tasks listed", len(data_of))
        index_of = dict(zip(task_ids, indexes))  # LS task id -> sample index
        mismatched = [t for t in task_ids if data_of.get(t) != sample.tasks[index_of[t]]["data"]]
        check(not mismatched, "LS stores each task's data as imported, in order",
              f"{len(mismatched)} differ, e.g. {data_of.get(mismatched[0]) if mismatched else ''}")
        annotate_ids = [t for t in task_ids if index_of[t] in to_annotate]
        unannotated = [t for t in task_ids if t not in annotate_ids]

        check.step("2. add the ML backend")
        ml = ls.call("POST", "/api/ml", json={"url": args.backend_url, "project": pid, "title": "mlgen", **ml_auth})
        ml_id = ml["id"]
        ml = ls.call("GET", f"/api/ml/{ml_id}")
        check(ml["state"] == CONNECTED, "state Connected", f"state={ml['state']} error={ml.get('error_message')!r}")
        v0 = setup_version(pid)
        check(isinstance(v0, str) and bool(v0), "backend /setup returns a model_version", v0)
        check(ml.get("model_version") == v0, "LS shows the /setup version", ml.get("model_version"))
        hooks = ls.call("GET", f"/api/webhooks?project={pid}")
        urls = [h.get("url") for h in hooks]
        check(args.backend_url.rstrip("/") + "/webhook" in urls, "automatic project webhook created", urls)
        project = ls.call("GET", f"/api/projects/{pid}")
        check.info(f"after adding: project.model_version={project.get('model_version')!r}")

        check.step("3. Send Test Request")
        test = ls.call("POST", f"/api/ml/{ml_id}/predict/test?random=true")
        resp = (test or {}).get("response")
        ok = isinstance(resp, list) and len(resp) == 1 and isinstance(resp[0], dict)
        check(ok and isinstance(resp[0].get("result"), list), "test request returns one prediction",
              json.dumps(resp)[:300])
        if ok:
            check(resp[0].get("model_version") == v0, "test prediction carries the /setup version",
                  resp[0].get("model_version"))
            if resp[0]["result"]:
                region = resp[0]["result"][0]
                check(region.get("from_name") == target and region.get("to_name") == to_name
                      and region.get("type") == rtype, "region names the target control", region)
            else:
                check.info("the untrained model answers an empty result (nothing to pre-label yet)")

        check.step("4. Retrieve Predictions (all tasks)")
        started = time.monotonic()
        retrieved = retrieve_predictions(ls, pid)
        check.info(f"action answered {retrieved} in {time.monotonic() - started:.1f} s")
        preds = project_predictions(ls, pid, task_ids)
        by_task = Counter(p["task"] for p in preds)
        check(len(preds) == n and set(by_task) == set(task_ids), f"{n} predictions stored, one per task", len(preds))
        check(all(p["model_version"] == v0 for p in preds), "all carry the /setup version",
              Counter(p["model_version"] for p in preds))
        check(all(isinstance(p.get("score"), (int, float)) and 0 <= p["score"] <= 1 for p in preds),
              "scores in [0, 1]")
        retrieve_predictions(ls, pid)
        again = project_predictions(ls, pid, task_ids)
        check(len(again) == len(preds), "retrieving again adds nothing (same version)", len(again))

        check.step("5. annotate (webhooks) and train")
        for task_id in annotate_ids:
            result = sample.annotation_result(index_of[task_id])
            ls.call("POST", f"/api/tasks/{task_id}/annotations?project={pid}", json={"result": result, "lead_time": 1.0})
        annotated = len(annotate_ids)
        given = [answer(sample.annotation_result(index_of[t]), control) for t in annotate_ids]
        check.info(f"created {annotated} annotations {summary(given, control)}")

        got = wait_for(lambda: backend_row(pid).get("annotations", 0) >= annotated, 15)
        check(bool(got), "backend stored every annotation from the webhook", backend_row(pid).get("annotations"))
        check.info(f"backend before Start Training: {json.dumps(backend_row(pid))}")
        train = ls.call("POST", f"/api/ml/{ml_id}/train", json={})
        check.info(f"/api/ml/{ml_id}/train answered {train}")
        ml = ls.call("GET", f"/api/ml/{ml_id}")
        check.info(f"right after train: state={ml['state']} error={ml.get('error_message')!r}")

        def trained() -> str | None:
            row = backend_row(pid)
            idle = row and not row["training_queued"] and not row["training_running"]
            version = setup_version(pid)
            return version if version != v0 and idle and followed(row, version) else None

        v1 = wait_for(trained, args.train_timeout)
        check(bool(v1), "backend /setup reports a new model version", v1)
        check.info(f"backend after: {json.dumps(backend_row(pid))}")
        ml = ls.call("GET", f"/api/ml/{ml_id}")
        check(ml["state"] == CONNECTED and ml.get("model_version") == v1, "LS shows the new version, Connected",
              f"state={ml['state']} version={ml.get('model_version')!r}")

        check.step("6. predictions after training")
        before = project_predictions(ls, pid, task_ids)
        uploaded = [p for p in before if p["model_version"] == v1]
        link = backend_row(pid).get("label_studio") or {}
        if link.get("status") == "imported":  # the backend reaches Label Studio's API with /setup's token
            project = ls.call("GET", f"/api/projects/{pid}")
            check(project["model_version"] == v1, "the backend made its new version the prediction source",
                  f"project.model_version={project['model_version']!r}")
            check(len(uploaded) > 0, "the backend uploaded the new version's predictions itself", len(uploaded))
            ordered = ls.call("GET", "/api/tasks/", params={
                "project": pid, "page_size": n, "fields": "all",
                "query": json.dumps({"ordering": ["tasks:predictions_score"]})})
            ordered = ordered.get("tasks", []) if isinstance(ordered, dict) else ordered
            scores = [t.get("predictions_score") for t in ordered if t.get("predictions_score") is not None]
            check(len(scores) >= len(uploaded) and scores == sorted(scores),
                  "Data Manager ordering by prediction score ascending: least certain first",
                  f"{len(scores)} scored tasks, first {[round(x, 3) for x in scores[:5]]}")
        started = time.monotonic()
        retrieve_predictions(ls, pid)
        check.info(f"Retrieve Predictions took {time.monotonic() - started:.1f} s")
        after = project_predictions(ls, pid, task_ids)
        new = [p for p in after if p["model_version"] == v1]
        per = Counter((p["task"], p["model_version"]) for p in after)
        check(len(new) == n and {p["task"] for p in new} == set(task_ids), f"{n} new predictions with {v1}", len(new))
        check(all(c == 1 for c in per.values()), "no duplicate (task, version) pairs",
              {k: c for k, c in per.items() if c > 1})
        check(len(after) == len(before) + n - len(uploaded), "old predictions kept, new ones added",
              f"{len(before)} -> {len(after)} ({len(uploaded)} uploaded by the backend)")
        check(all(isinstance(p.get("score"), (int, float)) and 0 <= p["score"] <= 1 for p in new),
              "new scores in [0, 1]", Counter(type(p.get("score")).__name__ for p in new))
        invalid = {p["task"]: why for p in new if (why := problem(p["result"], control, data_of[p["task"]]))}
        example = next(iter(invalid.items()), None)
        check(not invalid, f"every new prediction {VALID_WHAT[control.kind]}",
              f"{len(invalid)}, e.g. task {example[0]}: {example[1]}" if example else 0)
        if control.shows == "Image":
            images_read(check, backend, v1, new, link)
        if control.kind == "spans":
            spans_offsets_in_ls(check, ls, control, new, data_of)
        if control.kind == "number":
            outside = out_of_range([answer(p["result"], control) for p in new], control)
            check.info(f"{len(outside)} new predictions outside the tag's min/max "
                       f"[{control.low}, {control.high}] (noted, not failed){': ' if outside else ''}"
                       f"{outside[:10] if outside else ''}")
        shown = ls.call("GET", f"/api/tasks/{unannotated[0]}")
        check.info(f"GET /api/tasks/{unannotated[0]} shows predictions "
                   f"{[(p.get('model_version'), p.get('result')) for p in shown.get('predictions', [])]}")
        check(any(p.get("model_version") == v1 for p in shown.get("predictions", [])),
              "the task API shows the new prediction")

        # Held-out score on the tasks that were not annotated, against the kind's baseline.
        newest = {p["task"]: p for p in new}
        EVALUATE[control.kind](check, [answer(newest[t]["result"], control) for t in unannotated],
                               [true_answer(sample.labels[index_of[t]], control) for t in unannotated],
                               given, control, args.margin, [data_of[t] for t in unannotated])
        retrieve_predictions(ls, pid)
        check(len(project_predictions(ls, pid, task_ids)) == len(after), "retrieving again adds nothing")

        check.step("7. Start Training with nothing new, then the labeling stream")
        ls.call("POST", f"/api/ml/{ml_id}/train", json={})
        def retrained() -> str | None:
            version = setup_version(pid)
            return version if version not in (v0, v1) and followed(backend_row(pid), version) else None

        v2 = wait_for(retrained, args.train_timeout)
        check(bool(v2), "Start Training alone (START_TRAINING) publishes another version", v2)
        project = ls.call("GET", f"/api/projects/{pid}")
        check.info(f"project.model_version={project.get('model_version')!r} (the stream re-predicts only "
                   f"when it equals the backend title)")
        if v2:
            seen: list[int] = []
            for _ in range(2):
                nxt = ls.call("GET", f"/api/projects/{pid}/next")
                seen.append(nxt["id"])
                shown_versions = [p.get("model_version") for p in nxt.get("predictions", [])]
                check.info(f"/next gave task {nxt['id']} showing predictions {shown_versions}")
            stream_task = seen[0]
            mine = ls.call("GET", f"/api/predictions?task={stream_task}")
            per = Counter(p["model_version"] for p in mine)
            check(per.get(v2) == 1, "the stream stored exactly one prediction with the newest version",
                  dict(per))
            check(all(c == 1 for c in per.values()), "no duplicate versions on the streamed task", dict(per))
            other = next(t for t in unannotated if t not in seen)
            ls.call("GET", f"/api/tasks/{other}")
            versions = [p["model_version"] for p in ls.call("GET", f"/api/predictions?task={other}")]
            check.info(f"GET /api/tasks/{other} (already predicted) leaves predictions {versions} "
                       f"(LS re-predicts on open only tasks without any prediction)")

        check.step("8. opening a task without predictions")
        # GET /api/tasks/{id} predicts only for a task without any prediction (LS 1.23.2 tasks/api.py).
        fresh = ls.call("POST", f"/api/projects/{pid}/import?return_task_ids=true",
                        json=[Sample.bare(sample.tasks[fresh_index])])
        fresh_id = max(fresh.get("task_ids") or [0]) or max(
            t["id"] for t in ls.call("GET", f"/api/tasks?project={pid}&page_size={n + 10}")["tasks"])
        project = ls.call("GET", f"/api/projects/{pid}")
        check.info(f"show_collab_predictions={project.get('show_collab_predictions')} "
                   f"evaluate_predictions_automatically={project.get('evaluate_predictions_automatically')}")
        ls.call("GET", f"/api/tasks/{fresh_id}")
        opened = ls.call("GET", f"/api/predictions?task={fresh_id}")
        if project.get("show_collab_predictions") or project.get("evaluate_predictions_automatically"):
            check(len(opened) == 1 and opened[0]["model_version"] == (v2 or v1),
                  "opening an unpredicted task stores one prediction with the new version",
                  [(p["model_version"], p["result"]) for p in opened])
            ls.call("GET", f"/api/tasks/{fresh_id}")
            check(len(ls.call("GET", f"/api/predictions?task={fresh_id}")) == 1, "opening it again adds nothing")
        else:
            check.info(f"task open does not predict with these project settings ({len(opened)} predictions)")
        # Is LS validating predictions (fflag_feat_utc_210_prediction_validation_15082025)? The same
        # region with a valid value, then with an invalid one (an unknown label, not a number).
        log_probe = Path(args.ls_log).stat().st_size if args.ls_log else 0
        answers = {}
        for valid in (True, False):
            value = probe_value(control, data_of[task_ids[0]], valid)
            probe = ls.session.post(ls.base + "/api/predictions", timeout=30, json={
                "task": task_ids[0], "model_version": "probe", "score": 0.5,
                "result": [{"from_name": target, "to_name": to_name, "type": rtype, "value": value}]})
            if probe.status_code < 300:
                ls.call("DELETE", f"/api/predictions/{probe.json()['id']}", expect=(200, 204))
            answers[valid] = f"{value} gets {probe.status_code}: {probe.text[:160]}"
            check(probe.status_code == (201 if valid else 400),
                  f"LS validates predictions: a {'valid' if valid else 'bad'} {rtype} region gets "
                  f"{201 if valid else 400}", answers[valid])
        ml = ls.call("GET", f"/api/ml/{ml_id}")
        check(ml["state"] == CONNECTED, "backend still Connected at the end", f"state={ml['state']} error={ml.get('error_message')!r}")
        listed = backend.call("GET", "/versions")
        check.info(f"backend /versions: {listed}")
        if args.autolabel:
            check.step("8b. auto-labeling: python -m backend autolabel --threshold, run twice")
            autolabel_step(check, ls, args, pid, task_ids)
    except (requests.RequestException, RuntimeError, KeyError, TypeError, ValueError, StopIteration, OSError,
            subprocess.SubprocessError) as exc:
        check(False, "unexpected error", f"{type(exc).__name__}: {exc}")

    if args.ls_log:
        check.step("9. Label Studio log")
        with open(args.ls_log, "rb") as fh:
            fh.seek(log_start)
            raw = fh.read()
        # this script's own requests for an image (one refused with an error and a traceback) left out
        mine = slice(max(own_requests[0] - log_start, 0), max(own_requests[1] - log_start, 0))
        others = raw[: mine.start] + raw[mine.stop:]
        until_probe = others if log_probe is None else others[: log_probe - log_start - len(raw[mine])]
        text = until_probe.decode("utf-8", "replace")
        if files:
            served = ls_file_requests(others.decode("utf-8", "replace"))
            codes = Counter(code for _, code in served)
            fine = {url for url, code in served if code in ("200", "304")}
            check.info(f"LS answered the backend's /data/local-files/ requests: {dict(codes)}, {len(fine)} "
                       f"distinct images served (none when the backend had them all in its image cache)")
            refused = {code: count for code, count in codes.items() if code not in ("200", "304")}
            check(not refused, "LS refused none of the backend's /data/local-files/ requests", refused)
        bad = [line for line in text.splitlines()
               if any(k in line for k in ("[ERROR]", "Traceback", "Error validating prediction", "ValidationError"))
               or ("[WARNING]" in line and ("ml" in line.lower() or "predict" in line.lower()))]
        check(not bad, "no errors or ML warnings in LS's log", "\n      ".join([""] + bad[:20]) if bad else "")

    if backend_log is not None:
        check.step(f"10. the backend's log ({backend_log})")
        with open(backend_log, "rb") as fh:
            fh.seek(backend_log_start)
            backend_log_step(check, fh.read().decode("utf-8", "replace"), pid, root if files else None)

    print(f"\nmodel versions seen (from /setup): {versions_seen}")
    print(f"run took {time.monotonic() - began:.1f} s")
    print(f"\n{'FAIL' if check.failures else 'PASS'}: {len(check.failures)} failed check(s)"
          + (": " + "; ".join(check.failures) if check.failures else ""))
    return 1 if check.failures else 0


if __name__ == "__main__":
    sys.exit(main())
