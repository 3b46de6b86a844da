"""Generate tasks.json and heldout_labels.json for the `penguins` sample.

The rows are the 344 Palmer penguins of the palmerpenguins package (package MIT, data CC0),
read from the installed package, so no network is needed. Run from anywhere:

    python -m venv /tmp/penguins-venv
    /tmp/penguins-venv/bin/pip install palmerpenguins==0.1.6 pandas
    /tmp/penguins-venv/bin/python samples/penguins/make_tasks.py          # rewrite the files
    /tmp/penguins-venv/bin/python samples/penguins/make_tasks.py --check  # exit 1 if they are stale

The output is deterministic: same package version, same seed, same files.

What it does:
1. Loads every row with `palmerpenguins.load_penguins()` (missing values kept).
2. Puts each penguin's island, sex and four measurements under one object, `penguin`, which
   Label Studio's <Table value="$penguin"/> shows as key/value rows. Missing values are written
   as null; the two measurements recorded as whole numbers (flipper length, body mass) are
   written as integers. `year` is left out: it is not a property of the penguin.
3. Annotates N_ANNOTATED tasks, allocated to species in proportion to their counts and ordered so
   that every prefix of the annotated tasks is itself roughly stratified (the first 10 already
   cover every species). The annotated tasks are spread over random positions of the task list.
4. Writes tasks.json (Label Studio import format; annotated tasks carry one `choices` result)
   and heldout_labels.json (the true species of every task, in the same order).
"""

from __future__ import annotations

import math
import random
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from layout import layout, main  # noqa: E402  (samples/layout.py, shared by the samples)
from palmerpenguins import load_penguins

FIELDS = ["island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex"]
INTEGER_FIELDS = {"flipper_length_mm", "body_mass_g"}  # whole numbers in the source data
N_ANNOTATED = 100
SEED = 20250601
FROM_NAME, TO_NAME, OBJECT_FIELD = "species", "measurements", "penguin"  # as in labeling_config.xml
HERE = Path(__file__).resolve().parent


def json_value(name: str, value: object) -> object:
    """A cell as plain JSON: None for missing, int for whole-number fields."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str):
        return value
    number = float(value)  # numpy scalars -> float
    if name in INTEGER_FIELDS:
        if not number.is_integer():
            raise ValueError(f"{name} = {number} is not a whole number")
        return int(number)
    return number


def load_rows() -> dict[str, list[dict]]:
    """Every penguin's `penguin` object, grouped by species, in dataset order."""
    frame = load_penguins()
    by_species: dict[str, list[dict]] = defaultdict(list)
    for record in frame.to_dict(orient="records"):
        penguin = {name: json_value(name, record[name]) for name in FIELDS}
        by_species[record["species"]].append(penguin)
    return dict(sorted(by_species.items()))


def build() -> tuple[list[dict], list[str]]:
    rng = random.Random(SEED)
    tasks, labels = [], []
    for penguin, species, annotated in layout(load_rows(), N_ANNOTATED, rng):
        task: dict = {"data": {OBJECT_FIELD: penguin}}
        if annotated:
            task["annotations"] = [{"result": [{
                "from_name": FROM_NAME, "to_name": TO_NAME, "type": "choices",
                "value": {"choices": [species]},
            }]}]
        tasks.append(task)
        labels.append(species)
    return tasks, labels


if __name__ == "__main__":
    sys.exit(main(build, HERE))
