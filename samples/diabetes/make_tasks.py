"""Generate tasks.json and heldout_labels.json for the `diabetes` sample.

The rows are the 442 patients of the diabetes dataset that scikit-learn ships (BSD-3-Clause),
read from the installed package with `sklearn.datasets.load_diabetes(scaled=False)`, so no
network is needed. Run from anywhere:

    python -m venv /tmp/diabetes-venv
    /tmp/diabetes-venv/bin/pip install scikit-learn==1.9.1
    /tmp/diabetes-venv/bin/python samples/diabetes/make_tasks.py          # rewrite the files
    /tmp/diabetes-venv/bin/python samples/diabetes/make_tasks.py --check  # exit 1 if they are stale

The output is deterministic: same package version, same seed, same files.

What it does:
1. Loads the ten baseline variables unscaled (the values as recorded) and the target, a measure
   of disease progression one year after baseline (a whole number, 25 to 346).
2. Puts each patient's variables under one object, `patient`, which Label Studio's
   <Table value="$patient"/> shows as key/value rows. The six blood serum measurements s1..s6 get
   the names the dataset documents (tc, ldl, hdl, tch, ltg, glu). Values are as recorded;
   whole numbers are written as integers (age 59, bp 101, tch 4), the others as decimals.
3. Splits the patients into STRATA quantile bins of the target and annotates N_ANNOTATED of them,
   allocated to the bins in proportion to their sizes and ordered so that every prefix of the
   annotated tasks is itself stratified (the first 10 already cover every bin twice): the
   annotations cover the whole range of the target from the start. The annotated tasks are
   spread over random positions of the task list.
4. Writes tasks.json (Label Studio import format; annotated tasks carry one `number` result)
   and heldout_labels.json (the true progression of every task, in the same order).
"""

from __future__ import annotations

import functools
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from layout import layout, main  # noqa: E402  (samples/layout.py, shared by the samples)
from sklearn.datasets import load_diabetes

# Dataset column -> key in the task's `patient` object (the names DESCR documents for s1..s6).
FIELDS = {"age": "age", "sex": "sex", "bmi": "bmi", "bp": "bp", "s1": "tc", "s2": "ldl",
          "s3": "hdl", "s4": "tch", "s5": "ltg", "s6": "glu"}
STRATA = 5  # quantile bins of the target that the annotated tasks are stratified over
N_ANNOTATED = 100
SEED = 20250601
FROM_NAME, TO_NAME, OBJECT_FIELD = "progression", "measurements", "patient"  # as in labeling_config.xml
HERE = Path(__file__).resolve().parent


def json_number(value: float) -> int | float:
    """A value as plain JSON: an int where it is whole, else the float."""
    return int(value) if float(value).is_integer() else float(value)


@functools.cache
def load_rows() -> tuple[tuple[dict, int], ...]:
    """(patient object, progression) for every patient, in dataset order."""
    bunch = load_diabetes(scaled=False)
    if list(bunch.feature_names) != list(FIELDS):
        raise SystemExit(f"unexpected columns {bunch.feature_names}; is scikit-learn 1.9.1 installed?")
    rows = []
    for values, target in zip(bunch.data.tolist(), bunch.target.tolist()):
        patient = {FIELDS[column]: json_number(value) for column, value in zip(FIELDS, values)}
        if not float(target).is_integer():
            raise ValueError(f"progression = {target} is not a whole number")
        rows.append((patient, int(target)))
    return tuple(rows)


@functools.cache
def edges() -> tuple[int, ...]:
    """The STRATA - 1 cut points of the target: bin i holds the values in [edges[i-1], edges[i])."""
    targets = sorted(target for _, target in load_rows())
    return tuple(targets[len(targets) * i // STRATA] for i in range(1, STRATA))


def stratum(target: int) -> str:
    """The quantile bin of a target, named so that the names sort in order: 'q1 25-84'."""
    cuts = edges()
    i = sum(target >= cut for cut in cuts)
    targets = [t for _, t in load_rows() if sum(t >= cut for cut in cuts) == i]
    return f"q{i + 1} {min(targets)}-{max(targets)}"


def build() -> tuple[list[dict], list[int]]:
    rng = random.Random(SEED)
    strata: dict[str, list[tuple[dict, int]]] = {}
    for patient, target in load_rows():
        strata.setdefault(stratum(target), []).append((patient, target))
    tasks, labels = [], []
    for (patient, target), _, annotated in layout(strata, N_ANNOTATED, rng):
        task: dict = {"data": {OBJECT_FIELD: patient}}
        if annotated:
            task["annotations"] = [{"result": [{
                "from_name": FROM_NAME, "to_name": TO_NAME, "type": "number",
                "value": {"number": target},
            }]}]
        tasks.append(task)
        labels.append(target)
    return tasks, labels


if __name__ == "__main__":
    sys.exit(main(build, HERE, group=lambda target: [stratum(target)]))
